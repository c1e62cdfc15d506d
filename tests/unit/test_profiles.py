"""Client profiles applied to one walk: each kind of client's first server, try order, load
split and problems, on zones built to make them diverge (tests/zones/diverge.test.zone)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate import Resolver
from siplocate.profiles.catalogue import BY_KEY, PROFILES, Ordering, Profile, affected
from siplocate.profiles.compare import Plan, Seen, compare, look, plan
from siplocate.profiles.libre import lookup3, sort_index
from siplocate.resolver.rfc2782 import first_choice_shares
from siplocate.trace import Query
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES

DIVERGE = str(TEST_ZONES / "diverge.test.zone")
AIRTIES = str(EXAMPLE_ZONES / "airties.test.zone")
REQUIRED = {
    "rfc3263",
    "grandstream-a",
    "grandstream-srv",
    "grandstream-naptr",
    "yealink-dns-srv",
    "baresip",
    "pjsua",
    "kamailio",
    "kamailio-dns-srv-lb",
    "freeswitch",
    "sipsimple",
    "asterisk",
    "opensips",
    "linphone",
    "polycom",
    "snom",
    "cisco-cucm",
    "cisco-telepresence",
    "teams-direct-routing",
    "3cx",
    "freepbx",
    "avaya-aura",
    "sipgo",
}


async def seen(domain: str, zone: str = DIVERGE) -> Seen:
    return await look(Resolver(zones=[zone]), domain)


async def plans(domain: str, zone: str = DIVERGE) -> dict[str, Plan]:
    return {p.profile.key: p for p in compare(await seen(domain, zone))}


def first(p: Plan) -> tuple[str, str, int] | None:
    t = p.first
    return None if t is None else (t.transport.value, t.address, t.port)


def order(p: Plan) -> list[tuple[str, str]]:
    return [(t.transport.value, t.address) for t in p.targets]


def test_the_catalogue_has_every_client_kind_and_each_says_where_it_comes_from() -> None:
    assert set(BY_KEY) >= REQUIRED
    assert len(BY_KEY) == len(PROFILES)
    for p in PROFILES:
        assert p.sources and all(s.strip() for s in p.sources), p.key
        assert p.transports and set(p.srv_order) <= set(p.transports), p.key
        assert p.as_dict()["key"] == p.key


async def test_tls_first_naptr_splits_the_clients_that_read_naptr_from_those_that_do_not() -> None:
    got = await plans("tls-first.diverge.test")
    for key in ("rfc3263", "yealink-dns-srv", "baresip", "sipsimple"):
        assert first(got[key]) == ("tls", "192.0.2.61", 5061), key
    # sofia-sip stays on its first local transport, UDP, unless another transport's NAPTR
    # has a lower preference (measured with sip-options): equal preferences here.
    for key in ("grandstream-srv", "grandstream-naptr", "pjsua", "kamailio", "freeswitch"):
        assert first(got[key]) == ("udp", "192.0.2.11", 5060), key
    assert first(got["grandstream-a"]) == ("udp", "192.0.2.100", 5060)
    # RFC 3263 goes on to UDP when TLS fails; baresip never does, sofia-sip never tries TLS.
    assert order(got["rfc3263"]) == [("tls", "192.0.2.61"), ("udp", "192.0.2.11")]
    assert order(got["baresip"]) == [("tls", "192.0.2.61")]
    assert order(got["freeswitch"]) == [("udp", "192.0.2.11")]
    assert any("uses only one NAPTR transport (SIP+D2U)" in p for p in got["freeswitch"].problems)
    assert "ignores your TLS-first NAPTR: reaches UDP" in got["pjsua"].problems
    assert "ignores your TLS-first NAPTR: reaches UDP" in got["kamailio"].problems
    assert any("only the first NAPTR (SIPS+D2T)" in p for p in got["baresip"].problems)
    assert any("none of your SIP servers" in p for p in got["grandstream-a"].problems)
    assert got["rfc3263"].problems == ()


async def test_first_naptr_without_srv_baresip_goes_to_the_domains_address() -> None:
    got = await plans("no-tls-srv.diverge.test")
    assert first(got["rfc3263"]) == ("udp", "192.0.2.11", 5060)
    assert first(got["baresip"]) == ("tls", "192.0.2.100", 5061)  # libre's srv_handler
    assert first(got["freeswitch"]) == ("udp", "192.0.2.11", 5060)  # UDP: its own first


async def test_first_naptr_whose_server_has_no_address_leaves_baresip_nowhere() -> None:
    got = await plans("no-tls-addr.diverge.test")
    assert first(got["rfc3263"]) == ("udp", "192.0.2.11", 5060)
    assert got["baresip"].targets == ()  # SRV found, no address: no A fallback either
    assert any("lead to no server" in p for p in got["baresip"].problems)


async def test_naptr_that_puts_udp_last() -> None:
    got = await plans("udp-last.diverge.test")
    assert first(got["rfc3263"]) == ("tcp", "192.0.2.20", 5060)
    assert first(got["baresip"]) == ("tcp", "192.0.2.20", 5060)
    assert first(got["yealink-dns-srv"]) == ("tcp", "192.0.2.20", 5060)
    assert first(got["grandstream-naptr"]) == ("udp", "192.0.2.11", 5060)  # UDP NAPTRs only
    assert first(got["kamailio"]) == ("udp", "192.0.2.11", 5060)  # no NAPTR, UDP first
    # sofia-sip: TCP's NAPTR has the lower order but not the lower preference (measured)
    assert first(got["freeswitch"]) == ("udp", "192.0.2.11", 5060)
    assert got["grandstream-a"].targets == ()
    assert (
        "no A record at the domain: A-Record-mode phones cannot register"
        in got["grandstream-a"].problems
    )


async def test_weights_1_to_3_exact_shares_and_deterministic_ones() -> None:
    got = await plans("weights.diverge.test")
    rfc = {s.host: s.share for s in got["rfc3263"].split}
    expected = first_choice_shares([1, 3])
    assert rfc == {
        "sip1.weights.diverge.test": expected[0],
        "sip2.weights.diverge.test": expected[1],
    }
    assert rfc["sip2.weights.diverge.test"] == pytest.approx(0.75)
    kam = {s.host: s.share for s in got["kamailio"].split}
    assert kam == {"sip2.weights.diverge.test": 1.0, "sip1.weights.diverge.test": 0.0}
    assert any(
        p.startswith("weights ignored: 100% on sip2.weights.diverge.test")
        for p in got["kamailio"].problems
    )
    bare = {s.host: s.share for s in got["baresip"].split}
    assert bare == {"sip1.weights.diverge.test": 0.5, "sip2.weights.diverge.test": 0.5}
    assert got["baresip"].split_rule.startswith("fixed hash of each account")
    assert not any("weights ignored" in p for p in got["pjsua"].problems)  # a weighted draw
    # pjsip: r = rand % (S+1), the first record whose running sum >= r, over the answer's
    # order (which the server rotates): (w + 1/n) / (S + 1); one server kept per priority.
    pj = {s.host: s.share for s in got["pjsua"].split}
    assert pj["sip2.weights.diverge.test"] == pytest.approx(3.5 / 5)
    assert pj["sip1.weights.diverge.test"] == pytest.approx(1.5 / 5)
    assert len(got["pjsua"].targets) == 1
    assert (
        "keeps one server per priority, drawn by weight: the other server of the first "
        "priority is never tried" in got["pjsua"].problems
    )
    assert sum(s.share for s in got["freeswitch"].split) == pytest.approx(1.0)


async def test_dead_first_tier_clients_without_failover_stay_on_it() -> None:
    got = await plans("tier.diverge.test")
    dead, live = ("udp", "192.0.2.13"), ("udp", "192.0.2.14")
    assert order(got["rfc3263"]) == [dead, live]
    assert order(got["baresip"]) == [dead, live]
    for key in ("kamailio", "pjsua"):
        assert order(got[key]) == [dead], key
        assert any(p.startswith("no DNS failover") for p in got[key].problems), key


async def test_a_record_mode_on_a_domain_without_an_address() -> None:
    got = await plans("airties.test", AIRTIES)
    assert first(got["rfc3263"]) == ("tcp", "203.0.113.27", 5060)
    assert got["grandstream-a"].targets == ()
    assert (
        "no A record at the domain: A-Record-mode phones cannot register"
        in got["grandstream-a"].problems
    )


async def test_one_walk_serves_every_profile() -> None:
    s = await seen("tls-first.diverge.test")
    asked = [(e.name, e.rdtype) for e in s.trace if isinstance(e, Query) and e.source == "zone"]
    assert len(asked) == len(set(asked))  # no question asked twice
    before = len(s.trace)
    compare(s)
    compare(s)
    assert len(s.trace) == before  # applying profiles asks nothing


async def test_static_profile_needs_no_dns_and_reports_nothing() -> None:
    got = await plans("weights.diverge.test")
    static = got["grandstream-static"]
    assert static.targets == () and static.problems == ()


async def test_a_profile_of_ones_own_is_applied_the_same_way() -> None:
    s = await seen("weights.diverge.test")
    mine = Profile(**{**_fields(BY_KEY["kamailio"]), "key": "mine", "ordering": Ordering.RFC2782})
    got = plan(mine, s)
    assert {x.host: x.share for x in got.split}["sip2.weights.diverge.test"] == pytest.approx(0.75)


def _fields(p: Profile) -> dict[str, object]:
    return {name: getattr(p, name) for name in p.__dataclass_fields__}


def test_client_kind_lint_rules_name_the_profiles_they_hit() -> None:
    from siplocate.zone import lint_zone_files

    findings, _ = lint_zone_files([EXAMPLE_ZONES / "broken" / "grandstream-no-a-record.zone"])
    no_a = next(f for f in findings if f.code == "domain-no-address")
    assert no_a.profiles == ("grandstream-a", "teams-direct-routing")  # read only the A
    assert no_a.as_dict()["profiles"] == ["grandstream-a", "teams-direct-routing"]
    assert "baresip" in affected("naptr-replacement-no-srv")
    assert "pjsua" not in affected("naptr-replacement-no-srv")  # never asks NAPTR
    assert "kamailio" in affected("srv-all-weights-zero")
    assert "rfc3263" not in affected("srv-all-weights-zero")  # draws by weight
    # A Record and static modes read no SRV: an SRV finding is nothing to them.
    for key in ("grandstream-a", "grandstream-static", "teams-direct-routing"):
        assert key not in affected("srv-all-weights-zero"), key
    assert "grandstream-srv" in affected("srv-all-weights-zero")  # answer order
    assert "cisco-telepresence" not in affected("naptr-flag-extra")  # reads "se"
    assert "asterisk" in affected("naptr-flag-extra")  # flag exactly "s"
    assert affected("zone-syntax") == ()  # the same for every client: not listed


def test_lookup3_matches_its_published_values() -> None:
    # The values lookup3.c's own driver prints (Bob Jenkins, 2006).
    assert lookup3(b"", 0) == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago", 0) == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161


async def test_baresip_order_is_fixed_per_account() -> None:
    s = await seen("weights.diverge.test")
    firsts = set()
    for user in range(16):
        aor = f"sip:user{user}@weights.diverge.test"
        one = plan(BY_KEY["baresip"], s, aor=aor)
        again = plan(BY_KEY["baresip"], s, aor=aor)
        assert one.targets == again.targets  # the same account: the same server, always
        assert [x.share for x in one.split] == [1.0, 0.0]
        assert one.split_rule == f"fixed hash of {aor}"
        first = one.first
        assert first is not None
        hosts = ["sip1.weights.diverge.test", "sip2.weights.diverge.test"]
        scores = {h: sort_index(h, 1 if h.startswith("sip1") else 3, aor) for h in hosts}
        assert first.host == max(hosts, key=lambda h: scores[h])
        firsts.add(first.host)
    assert len(firsts) == 2  # over accounts, both servers get first attempts


@given(st.lists(st.integers(0, 65535), min_size=1, max_size=8))
def test_every_ordering_gives_first_attempt_shares_that_add_up_to_one(weights: list[int]) -> None:
    from siplocate.profiles.compare import _shares
    from siplocate.resolution import Host

    group = [Host(f"h{i}.test", 5060, 0, w, ("192.0.2.1",), ()) for i, w in enumerate(weights)]
    for ordering in Ordering:
        mine = Profile(**{**_fields(BY_KEY["rfc3263"]), "ordering": ordering})
        shares = _shares(mine, group, None)
        assert len(shares) == len(group)
        assert all(0 <= x <= 1 for x in shares), ordering
        assert sum(shares) == pytest.approx(1.0), ordering


def test_every_profile_says_why_it_drops_ipv6_and_how_it_is_found() -> None:
    from siplocate.profiles.catalogue import ALIASES, Aaaa, find

    for p in PROFILES:
        if p.aaaa in (Aaaa.NO, Aaaa.FALLBACK):
            assert p.no_ipv6.strip(), p.key
        assert find(p.key) is p
    assert find("sofia-sip") is BY_KEY["freeswitch"]  # the old key still works
    assert set(ALIASES.values()) <= set(BY_KEY)


async def test_se_flag_divides_strict_clients_from_cisco_telepresence() -> None:
    got = await plans("se-flag.diverge.test")
    # Flag "se" is not "s": RFC 3263, Asterisk (exactly "s") and OpenSIPS skip that record.
    for key in ("rfc3263", "asterisk", "opensips"):
        assert first(got[key]) == ("udp", "192.0.2.41", 5060), key
    # Cisco EX60/EX90 read "se" (SIP external) and take its lower preference: TCP first.
    assert order(got["cisco-telepresence"]) == [("tcp", "192.0.2.40"), ("udp", "192.0.2.41")]
    assert [r.naptr.flags for r in (await seen("se-flag.diverge.test")).naptrs] == ["se", "s"]
    # Measured: sofia-sip reads flags by their first letter and takes TCP's lower
    # preference; libre (baresip) never looks at the flags.
    for key in ("freeswitch", "baresip"):
        assert first(got[key]) == ("tcp", "192.0.2.40", 5060), key


async def test_a_dropped_ipv6_address_says_why() -> None:
    got = await plans("v6.diverge.test")
    assert order(got["rfc3263"]) == [("udp", "2001:db8::30"), ("udp", "192.0.2.30")]
    assert order(got["asterisk"]) == [("udp", "2001:db8::30"), ("udp", "192.0.2.30")]
    assert any(
        p.startswith("never tries 1 IPv6 address (2001:db8::30): pjsua's default transport")
        for p in got["pjsua"].problems
    )
    assert not any("IPv6" in p for p in got["rfc3263"].problems)


async def test_clients_without_dns_failover_say_so() -> None:
    got = await plans("tls-first.diverge.test")
    assert (
        "no DNS failover: A Record mode uses one address (192.0.2.100) and no other"
        in got["grandstream-a"].problems
    )
    assert "no DNS failover: if 192.0.2.11 is down, nothing else is tried" in got["pjsua"].problems
    assert not any("failover" in p for p in got["rfc3263"].problems)


async def test_asterisk_stops_at_the_order_of_a_sips_naptr() -> None:
    got = await plans("tls-first.diverge.test")
    assert order(got["asterisk"]) == [("tls", "192.0.2.61")]
    assert (
        "a SIPS+D2T NAPTR ends its NAPTR search at order 10: never tries UDP if TLS fails"
        in got["asterisk"].problems
    )
    assert first((await plans("udp-last.diverge.test"))["asterisk"]) == ("tcp", "192.0.2.20", 5060)


async def test_sipgo_takes_the_domains_address_first_and_sipsak_ignores_priority() -> None:
    got = await plans("tls-first.diverge.test")
    assert order(got["sipgo"]) == [("udp", "192.0.2.100")]  # A first: SRV never asked
    tier = await plans("tier.diverge.test")
    assert order(tier["sipgo"]) == [("udp", "192.0.2.13")]  # no A: the first SRV record
    # sipsak takes the answer's first record whatever its priority: both tiers, even split.
    assert {s.host: s.share for s in tier["sipsak"].split} == {
        "dead.tier.diverge.test": 0.5,
        "live.tier.diverge.test": 0.5,
    }


async def test_a_behaviour_no_source_gives_is_said_to_be_unknown() -> None:
    got = await plans("tls-first.diverge.test")
    cucm = got["cisco-cucm"]
    assert "A fallback" in cucm.profile.unknown
    assert cucm.problems == (
        "no SRV records at _sip._tcp: finds no server, unless it falls back to the domain's "
        "A record (no source says)",
    )
    assert got["kamailio"].profile.unknown == ()  # read in its source: nothing unknown
    assert (
        "no DNS failover documented: if 192.0.2.100 is down, whether it tries another "
        "address is unknown" in got["teams-direct-routing"].problems
    )

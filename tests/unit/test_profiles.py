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
    "sofia-sip",
    "sipsimple",
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
    for key in ("rfc3263", "yealink-dns-srv", "baresip", "sofia-sip", "sipsimple"):
        assert first(got[key]) == ("tls", "192.0.2.61", 5061), key
    for key in ("grandstream-srv", "grandstream-naptr", "pjsua", "kamailio"):
        assert first(got[key]) == ("udp", "192.0.2.11", 5060), key
    assert first(got["grandstream-a"]) == ("udp", "192.0.2.100", 5060)
    # RFC 3263 goes on to UDP when TLS fails; baresip and sofia-sip never do.
    assert order(got["rfc3263"]) == [("tls", "192.0.2.61"), ("udp", "192.0.2.11")]
    assert order(got["baresip"]) == [("tls", "192.0.2.61")]
    assert order(got["sofia-sip"]) == [("tls", "192.0.2.61")]
    assert "ignores your TLS-first NAPTR: reaches UDP" in got["pjsua"].problems
    assert "ignores your TLS-first NAPTR: reaches UDP" in got["kamailio"].problems
    assert any("only the first NAPTR (SIPS+D2T)" in p for p in got["baresip"].problems)
    assert any("none of your SIP servers" in p for p in got["grandstream-a"].problems)
    assert got["rfc3263"].problems == ()


async def test_first_naptr_without_srv_baresip_goes_to_the_domains_address() -> None:
    got = await plans("no-tls-srv.diverge.test")
    assert first(got["rfc3263"]) == ("udp", "192.0.2.11", 5060)
    assert first(got["baresip"]) == ("tls", "192.0.2.100", 5061)  # libre's srv_handler
    assert got["sofia-sip"].targets == ()  # one transport: TLS, which leads nowhere
    assert any("lead to no server" in p for p in got["sofia-sip"].problems)


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
    assert any(p.startswith("one server per priority") for p in got["pjsua"].problems)
    assert sum(s.share for s in got["sofia-sip"].split) == pytest.approx(1.0)


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
    assert no_a.profiles == ("grandstream-a",)
    assert no_a.as_dict()["profiles"] == ["grandstream-a"]
    assert "baresip" in affected("naptr-replacement-no-srv")
    assert "pjsua" not in affected("naptr-replacement-no-srv")  # never asks NAPTR
    assert "kamailio" in affected("srv-all-weights-zero")
    assert "rfc3263" not in affected("srv-all-weights-zero")  # draws by weight
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

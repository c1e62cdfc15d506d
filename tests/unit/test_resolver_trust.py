"""Resolver v2: what the cache believes, and every bound hostile DNS data can hit.

Replies are built in memory and read by ``answer_from``, the code that reads live replies;
time comes from an injected clock. Each bound in ``Limits`` has a test here (or, for the
ones that need a real server, in tests/integration/test_live_dns.py).
"""

from __future__ import annotations

import asyncio

import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from siplocate import Resolver
from siplocate.clock import ManualClock
from siplocate.errors import DnsError, NotFound
from siplocate.limits import Limits
from siplocate.trace import Note, Query
from tests.unit.fakes import FakeClock, ReplySource, zone_handler

AIRTIES = """
$TTL 300
airties.test. IN SOA ns.airties.test. hm.airties.test. 1 2 3 4 60
airties.test. IN NAPTR 2 0 "s" "SIP+D2U" "" _sip._udp.airties.test.
_sip._udp.airties.test. IN SRV 1 0 5060 uc2.airties.test.
_sip._udp.airties.test. IN SRV 2 0 5060 uc1.airties.test.
uc1.airties.test. IN A 192.0.2.26
uc2.airties.test. IN A 192.0.2.27
uc2.airties.test. IN AAAA 2001:db8::27
"""


def notes(res: object) -> str:
    return " | ".join(e.message for e in res.trace if isinstance(e, Note))  # type: ignore[attr-defined]


def resolver(handler: object, **limits: object) -> tuple[Resolver, ReplySource]:
    source = ReplySource(handler)  # type: ignore[arg-type]
    return Resolver(source=source, limits=Limits(**limits), clock=FakeClock()), source  # type: ignore[arg-type]


async def test_additional_data_for_another_domain_never_answers_its_questions() -> None:
    """The issue's poisoning: evil.test's NAPTR reply carries victim.test records; a later
    locate of victim.test must ask victim.test's own server (which says NXDOMAIN)."""

    def handle(query: dns.message.QueryMessage, reply: dns.message.Message) -> None:
        q = query.question[0]
        if q.name == dns.name.from_text("evil.test.") and q.rdtype == dns.rdatatype.NAPTR:
            reply.answer.append(
                dns.rrset.from_text(
                    "evil.test.", 300, "IN", "NAPTR", '1 0 "s" "SIP+D2U" "" _sip._udp.evil.test.'
                )
            )
            for text in (
                'victim.test. 86400 IN NAPTR 1 0 "s" "SIP+D2U" "" _sip._udp.victim.test.',
                "_sip._udp.victim.test. 86400 IN SRV 0 0 5060 attacker.evil.test.",
                "attacker.evil.test. 86400 IN A 127.0.0.99",
            ):
                name, ttl, cls, kind, *rdata = text.split(" ", 4)
                reply.additional.append(
                    dns.rrset.from_text(name, int(ttl), cls, kind, " ".join(rdata))
                )
        elif q.name.is_subdomain(dns.name.from_text("victim.test.")):
            reply.set_rcode(dns.rcode.NXDOMAIN)

    r, source = resolver(handle)
    with pytest.raises(NotFound):  # evil.test itself resolves to nothing usable
        await r.locate("sip:x@evil.test")
    with pytest.raises(NotFound, match="NXDOMAIN"):
        await r.locate("sip:x@victim.test")
    assert ("victim.test.", "NAPTR") in source.calls  # asked its own server


async def test_additional_data_serves_the_walk_that_asked_for_names_it_points_at() -> None:
    r, source = resolver(zone_handler(AIRTIES))
    res = await r.locate("sip:airties.test")
    assert [t.address for t in res.targets] == ["2001:db8::27", "192.0.2.27", "192.0.2.26"]
    # one round: the NAPTR and the fallback SRV names asked together, nothing after it
    later = [c for c in source.calls if c[1] not in ("NAPTR", "SRV")]
    assert later == [("uc1.airties.test.", "AAAA")]  # in the background, not waited for
    kinds = ("A", "AAAA")
    addresses = {q.source for q in res.trace if isinstance(q, Query) and q.rdtype in kinds}
    assert addresses == {"additional"}


async def test_ipv4_only_target_returns_at_once_and_the_other_family_is_folded_in() -> None:
    """RFC 2782 lets a client use the additional section's addresses: uc1 has only an A
    there; its AAAA is asked in the background and folded into the chain when it comes."""
    zone = AIRTIES + "uc1.airties.test. IN AAAA 2001:db8::26\n"
    handler = zone_handler(zone)

    def without_uc1_aaaa(query: dns.message.QueryMessage, reply: dns.message.Message) -> None:
        handler(query, reply)
        if reply.additional:  # as if it did not fit
            reply.additional = [
                r
                for r in reply.additional
                if not (r.rdtype == dns.rdatatype.AAAA and r.name.labels[0] == b"uc1")
            ]

    r, source = resolver(without_uc1_aaaa)
    first = await r.locate("sip:airties.test")
    assert "2001:db8::26" not in [t.address for t in first.targets]
    assert "AAAA for uc1.airties.test not known yet: asked in the background" in notes(first)
    await r.settle()  # the background question has finished
    second = await r.locate("sip:airties.test")
    assert "2001:db8::26" in [t.address for t in second.targets]
    assert "AAAA for uc1.airties.test came" in notes(second)
    assert source.calls.count(("uc1.airties.test.", "AAAA")) == 1
    third = await r.locate("sip:airties.test")
    assert third.targets == second.targets or set(third.targets) == set(second.targets)
    assert source.calls.count(("uc1.airties.test.", "AAAA")) == 1


async def test_naptr_fan_out_is_bounded() -> None:
    """N empty-flag NAPTRs pointing back at their own owner: linear work, and a note."""
    n = 100
    zone = "$TTL 300\nloop.test. IN SOA ns hm 1 2 3 4 60\n" + "".join(
        f'loop.test. IN NAPTR 1 {i} "" "SIP+D2U" "" loop.test.\n' for i in range(n)
    )
    r, source = resolver(zone_handler(zone))
    with pytest.raises(NotFound) as info:
        await r.locate("sip:loop.test")
    assert len(source.calls) < 10
    text = notes(info.value.resolution)
    assert "reached again: loop ignored" in text
    assert "not used: at most 32 per RRset" in text


async def test_naptr_records_per_locate_and_depth_are_bounded() -> None:
    """A tree of empty-flag NAPTRs, 20 wide at every level: the walk stops at the records
    budget and at the depth limit, whichever comes first, and says so."""
    lines = ["$TTL 300"]
    owners = ["d0.test."]
    for level in range(1, 5):
        children = [f"x{i}.l{level}.test." for i in range(20)]
        for owner in owners:
            lines += [f'{owner} IN NAPTR 1 {i} "" "SIP+D2U" "" {c}' for i, c in enumerate(children)]
        owners = children
    r, source = resolver(zone_handler("\n".join(lines)), naptr_records=30)
    with pytest.raises(NotFound) as info:
        await r.locate("sip:d0.test")
    assert len([c for c in source.calls if c[1] == "NAPTR"]) <= 1 + 30
    assert "30 per locate" in notes(info.value.resolution)
    deep, source = resolver(zone_handler("\n".join(lines)), naptr_depth=2)
    with pytest.raises(NotFound) as info:
        await deep.locate("sip:d0.test")
    assert "deeper than 2" in notes(info.value.resolution)
    assert not any(name.endswith("l2.test.") for name, _ in source.calls)


async def test_records_of_another_class_are_skipped_and_the_rest_resolves() -> None:
    handler = zone_handler(AIRTIES)

    def with_chaos(query: dns.message.QueryMessage, reply: dns.message.Message) -> None:
        handler(query, reply)
        if query.question[0].rdtype == dns.rdatatype.SRV:
            reply.answer.insert(
                0,
                dns.rrset.from_text(query.question[0].name, 300, "CH", "TXT", '"junk"'),
            )

    r, _ = resolver(with_chaos)
    res = await r.locate("sip:airties.test;transport=udp")
    assert len(res.targets) == 3
    assert "not class IN" in notes(res)


async def test_undecodable_naptr_text_skips_that_record_only() -> None:
    zone = AIRTIES + 'airties.test. IN NAPTR 1 0 "s" "SIP+D2\\255" "" _sip._udp.airties.test.\n'
    r, _ = resolver(zone_handler(zone))
    res = await r.locate("sip:airties.test")
    assert len(res.targets) == 3
    assert "malformed NAPTR" in notes(res)


async def test_overlong_derived_srv_names_are_skipped_with_a_note() -> None:
    labels = ".".join(["a" * 60] * 4)  # 244 characters: valid, but not with _sips._tcp.
    domain = f"{labels}.test"
    zone = f"$TTL 300\n{domain}. IN SOA ns hm 1 2 3 4 60\n{domain}. IN A 192.0.2.5\n"
    r, _ = resolver(zone_handler(zone))
    res = await r.locate(f"sip:{domain}")
    assert [t.address for t in res.targets] == ["192.0.2.5"]
    assert "would be too long: skipped" in notes(res)


async def test_a_huge_srv_rrset_costs_bounded_questions_and_targets() -> None:
    """2,000 SRV targets: only the most preferred ``rrset_records`` are used."""
    lines = ["$TTL 300", "big.test. IN SOA ns hm 1 2 3 4 60"]
    lines += [f"_sip._udp.big.test. IN SRV {i % 7} 1 5060 h{i}.big.test." for i in range(2000)]
    lines += [f"h{i}.big.test. IN A 192.0.2.{i % 250 + 1}" for i in range(2000)]

    def handle(query: dns.message.QueryMessage, reply: dns.message.Message) -> None:
        inner(query, reply)
        reply.additional = []  # force address questions, the expensive case

    inner = zone_handler("\n".join(lines))
    r, source = resolver(handle, rrset_records=16, targets=10)
    res = await r.locate("sip:big.test;transport=udp")
    assert len(source.calls) <= 1 + 2 * 16
    assert len(res.targets) == 10
    assert all(t.priority == 0 for t in res.targets)  # the most preferred kept


async def test_addresses_per_target_are_bounded() -> None:
    zone = AIRTIES + "".join(f"uc1.airties.test. IN A 192.0.2.{i}\n" for i in range(100, 140))
    r, _ = resolver(zone_handler(zone), addresses_per_target=4)
    res = await r.locate("sip:airties.test")
    assert len([t for t in res.targets if t.host == "uc1.airties.test"]) == 4
    assert "the first 4 used" in notes(res)


async def test_cname_chain_limit_is_the_same_offline_and_live(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A 9-hop chain is refused by both sources at the default limit of 8."""
    hops = "".join(f"c{i}.chain.test. IN CNAME c{i + 1}.chain.test.\n" for i in range(9))
    zone = (
        "$ORIGIN chain.test.\n$TTL 300\n@ IN SOA ns hm 1 2 3 4 60\n"
        + hops
        + "c9.chain.test. IN A 192.0.2.9\n"
    )
    path = tmp_path / "chain.test.zone"
    path.write_text(zone)
    offline = Resolver(zones=[path])
    live, _ = resolver(zone_handler(zone))
    for r in (offline, live):
        with pytest.raises(NotFound) as info:
            await r.locate("sip:c0.chain.test:5060")
        assert "longer than 8" in notes(info.value.resolution)
    short = Resolver(zones=[path])
    ok = await short.locate("sip:c1.chain.test:5060")  # 8 hops: within the limit
    assert [t.address for t in ok.targets] == ["192.0.2.9"]


async def test_ttl_is_clamped_the_same_way_offline_and_live(tmp_path) -> None:  # type: ignore[no-untyped-def]
    zone = AIRTIES.replace("$TTL 300", "$TTL 2147483647").replace(" 60\n", " 2147483647\n")
    path = tmp_path / "airties.test.zone"
    path.write_text("$ORIGIN airties.test.\n" + zone)
    live, _ = resolver(zone_handler(zone))
    for r in (Resolver(zones=[path]), live):
        res = await r.locate("sip:airties.test")
        assert res.expires is not None
        import time

        assert res.expires - time.time() <= Limits().ttl_max + 1


async def test_ttl_zero_is_used_now_and_never_kept() -> None:
    r, source = resolver(zone_handler(AIRTIES.replace("$TTL 300", "$TTL 0")))
    await r.locate("sip:airties.test")
    await r.locate("sip:airties.test")
    assert source.calls.count(("airties.test.", "NAPTR")) == 2


async def test_the_per_locate_deadline_ends_a_walk_that_would_hang() -> None:
    class Silent:
        async def answer(
            self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, defer: object = None
        ) -> object:
            await asyncio.sleep(3600)
            raise AssertionError("unreachable")

    r = Resolver(source=Silent(), limits=Limits(deadline=0.05))  # type: ignore[arg-type]
    with pytest.raises(DnsError, match=r"took longer than 0\.05 s"):
        await r.locate("sip:airties.test")


async def test_concurrent_locates_of_one_uri_share_one_walk() -> None:
    r, source = resolver(zone_handler(AIRTIES))
    source.delay = 0.01
    results = await asyncio.gather(*(r.locate("sip:airties.test", seed=1) for _ in range(50)))
    assert len({tuple(res.targets) for res in results}) == 1
    assert source.calls.count(("airties.test.", "NAPTR")) == 1


async def test_the_client_response_timer_runs_once_per_locate_not_per_question() -> None:
    """RFC 8767's client response timer is the client's: NAPTR -> SRV -> A against a
    silent server must not wait for it once per level (3.6 s by default), only once.
    On a ManualClock: the timer is proven to the hundredth of a second without waiting."""
    clock = ManualClock()
    source = ReplySource(zone_handler(AIRTIES))
    timer = 0.2
    r = Resolver(source=source, clock=clock, limits=Limits(stale_answer_after=timer))
    await r.locate("sip:airties.test", seed=1)
    await clock.advance(400)  # everything expired
    source.gate = asyncio.Event()  # silent: no reply until the gate opens
    pending = asyncio.ensure_future(r.locate("sip:airties.test", seed=1))
    await clock.advance(timer - 0.01)
    assert not pending.done()  # the timer has not run out yet
    await clock.advance(0.01)
    assert pending.done()  # once: not once for NAPTR, again for SRV, again for A/AAAA
    stale = pending.result()
    assert {q.source for q in stale.trace if isinstance(q, Query)} == {"stale"}
    assert stale.targets
    source.gate.set()
    await r.settle()


async def test_stale_answers_after_the_client_response_timer_then_fresh_at_once() -> None:
    """RFC 8767: a silent server costs at most the client response timer, and once it
    answers again the next locate is fresh."""
    clock = ManualClock()
    source = ReplySource(zone_handler(AIRTIES))
    r = Resolver(source=source, clock=clock, limits=Limits(stale_answer_after=0.05))
    await r.locate("sip:airties.test", seed=1)
    await clock.advance(400)  # everything expired
    source.gate = asyncio.Event()  # silent
    pending = asyncio.ensure_future(r.locate("sip:airties.test", seed=1))
    await clock.advance(0.05)  # the client response timer, not the server's timeout
    assert pending.done()
    stale = pending.result()
    assert {q.source for q in stale.trace if isinstance(q, Query)} == {"stale"}
    assert "stale answers used" in notes(stale)
    source.gate.set()  # back
    await r.settle()  # the tries made while it was silent have ended
    fresh = await r.locate("sip:airties.test", seed=1)
    assert "stale" not in {q.source for q in fresh.trace if isinstance(q, Query)}

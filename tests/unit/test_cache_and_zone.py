"""The TTL cache and the zone-file source: pure in-process logic."""

from __future__ import annotations

import asyncio
import time

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

import siplocate
from siplocate import Resolver
from siplocate.clock import ManualClock, as_clock
from siplocate.dns import CachingSource, Origin, ZoneSource
from siplocate.dns.source import Answer
from siplocate.errors import BadInput, DnsError
from siplocate.limits import Limits
from siplocate.trace import Query
from tests.conftest import EXAMPLE_ZONES, zone_files
from tests.unit.fakes import FakeClock, ReplySource

N = dns.name.from_text


class CountingSource:
    """Answers from a table, counting questions; a stand-in for a server in pure cache tests."""

    def __init__(self, ttl: int = 60, delay: float = 0.0) -> None:
        self.calls: list[tuple[str, str]] = []
        self.ttl = ttl
        self.delay = delay
        self.address = "192.0.2.1"

    async def answer(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, defer: object = None
    ) -> Answer:
        self.calls.append((str(name), dns.rdatatype.to_text(rdtype)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if str(name).startswith("missing"):
            return Answer(name, rdtype, dns.rcode.NXDOMAIN, None, 30, Origin.NETWORK)
        if rdtype == dns.rdatatype.AAAA:
            rrset = dns.rrset.from_text(name, self.ttl, "IN", "AAAA", "2001:db8::7")
        else:
            rrset = dns.rrset.from_text(name, self.ttl, "IN", "A", self.address)
        extra = tuple(
            dns.rrset.from_text(owner, self.ttl, "IN", "AAAA", "2001:db8::1")
            for owner in ("extra.test.", "sip.a.test.")
        )
        return Answer(
            name, rdtype, dns.rcode.NOERROR, rrset, self.ttl, Origin.NETWORK, additional=extra
        )


async def test_cache_answers_repeats_and_negative_answers_from_memory() -> None:
    inner = CountingSource()
    cache = CachingSource(inner)
    first = await cache.answer(N("a.test."), dns.rdatatype.A)
    second = await cache.answer(N("a.test."), dns.rdatatype.A)
    assert first.source is Origin.NETWORK and second.source is Origin.CACHE
    await cache.answer(N("missing.test."), dns.rdatatype.A)
    neg = await cache.answer(N("missing.test."), dns.rdatatype.A)
    assert neg.nxdomain and neg.source is Origin.CACHE
    assert len(inner.calls) == 2


async def test_cache_files_additional_data_only_within_the_questions_bailiwick() -> None:
    """RFC 2181 §5.4.1: a reply for a.test may fill the cache for names under a.test, but
    never for extra.test (that would let any server plant records for any domain)."""
    inner = CountingSource()
    cache = CachingSource(inner)
    await cache.answer(N("a.test."), dns.rdatatype.A)
    assert cache.peek(N("sip.a.test."), dns.rdatatype.AAAA) is not None
    assert cache.peek(N("extra.test."), dns.rdatatype.AAAA) is None
    inside = await cache.answer(N("sip.a.test."), dns.rdatatype.AAAA)
    assert inside.source is Origin.ADDITIONAL
    assert [r.to_text() for r in inside.records] == ["2001:db8::1"]
    outside = await cache.answer(N("extra.test."), dns.rdatatype.AAAA)
    assert outside.source is Origin.NETWORK
    assert len(inner.calls) == 2


async def test_additional_data_never_replaces_answer_data() -> None:
    inner = CountingSource()
    cache = CachingSource(inner)
    inner.address = "192.0.2.7"
    await cache.answer(N("sip.a.test."), dns.rdatatype.AAAA)  # answer data for sip.a.test
    inner.address = "192.0.2.1"
    await cache.answer(N("a.test."), dns.rdatatype.A)  # carries sip.a.test AAAA as additional
    kept = cache.peek(N("sip.a.test."), dns.rdatatype.AAAA)
    assert kept is not None and kept.source is Origin.CACHE


async def test_cache_expires_with_ttl_and_zero_ttl_is_not_kept() -> None:
    clock = FakeClock()
    inner = CountingSource(ttl=0)
    cache = CachingSource(inner, clock=clock)
    await cache.answer(N("a.test."), dns.rdatatype.A)
    await cache.answer(N("a.test."), dns.rdatatype.A)
    assert len(inner.calls) == 2  # TTL 0: used, never kept
    inner.ttl = 10
    await cache.answer(N("b.test."), dns.rdatatype.A)
    clock.advance(9.9)
    await cache.answer(N("b.test."), dns.rdatatype.A)
    assert inner.calls.count(("b.test.", "A")) == 1
    clock.advance(0.2)  # the TTL has run out
    await cache.answer(N("b.test."), dns.rdatatype.A)
    assert inner.calls.count(("b.test.", "A")) == 2


async def test_cache_ttl_is_clamped_by_the_limits() -> None:
    inner = CountingSource(ttl=2**31 - 1)
    cache = CachingSource(inner, Limits(ttl_max=300, ttl_min=5))
    answer = await cache.answer(N("a.test."), dns.rdatatype.A)
    assert answer.ttl == 300
    inner.ttl = 1
    assert (await cache.answer(N("b.test."), dns.rdatatype.A)).ttl == 5


async def test_cache_is_bounded_in_entries_and_bytes_and_shares_inflight_questions() -> None:
    inner = CountingSource(delay=0.01)
    cache = CachingSource(inner, Limits(cache_entries=5))
    answers = await asyncio.gather(
        *(cache.answer(N("same.test."), dns.rdatatype.A) for _ in range(10))
    )
    assert inner.calls.count(("same.test.", "A")) == 1
    assert all(a.records for a in answers)
    for i in range(20):
        await cache.answer(N(f"n{i}.test."), dns.rdatatype.A)
    assert len(cache) <= 5
    small = CachingSource(CountingSource(), Limits(cache_bytes=2000))
    for i in range(50):
        await small.answer(N(f"n{i}.test."), dns.rdatatype.A)
    assert 0 < small.size <= 2000 and 0 < len(small) < 50


async def test_clear_forgets_answers_still_in_flight() -> None:
    """Resolver.forget() empties the cache, but an answer asked before it (a background
    AAAA) landed afterwards, so the next 'cold' locate was served from the cache."""
    inner = CountingSource(delay=0.01)
    cache = CachingSource(inner)
    asked = asyncio.ensure_future(cache.answer(N("a.test."), dns.rdatatype.A))
    await asyncio.sleep(0)  # the question is out
    cache.clear()
    again = await cache.answer(N("a.test."), dns.rdatatype.A)  # asks anew, not the old one
    await asked
    assert again.source is Origin.NETWORK and inner.calls.count(("a.test.", "A")) == 2
    cache.clear()
    late = asyncio.ensure_future(cache.answer(N("b.test."), dns.rdatatype.A))
    await asyncio.sleep(0)
    cache.clear()
    assert (await late).records  # its asker still gets the answer ...
    assert len(cache) == 0 and cache.size == 0  # ... but the cleared cache does not keep it


async def test_settle_waits_for_questions_in_flight_and_their_answers_are_kept() -> None:
    """A question asked in the background (nobody awaiting it) is cached once settle()
    returns; a failing one does not make settle() fail."""
    inner = CountingSource(delay=0.01)
    cache = CachingSource(inner)
    background = asyncio.ensure_future(cache.answer(N("a.test."), dns.rdatatype.A))
    await asyncio.sleep(0)  # the question is out
    assert cache.peek(N("a.test."), dns.rdatatype.A) is None
    await cache.settle()
    assert background.done()
    assert cache.peek(N("a.test."), dns.rdatatype.A) is not None
    failing = CachingSource(ReplySource(lambda q, r: None, delay=0.01))
    failing.inner.down = True  # type: ignore[attr-defined]
    doomed = asyncio.ensure_future(failing.answer(N("b.test."), dns.rdatatype.A))
    await asyncio.sleep(0)
    await failing.settle()  # no error here: it belongs to the question's asker
    with pytest.raises(DnsError):
        await doomed


def test_zone_source_wildcards_nodata_nxdomain_and_outside() -> None:
    z = ZoneSource([EXAMPLE_ZONES / "sipdomain.test.zone"])
    wild = z.lookup(N("_sip._tcp.sipdomain.test."), dns.rdatatype.SRV)
    assert [r.to_text() for r in wild.records] == ["0 0 0 ."]
    explicit = z.lookup(N("_sip._udp.sipdomain.test."), dns.rdatatype.SRV)
    assert len(explicit.records) == 6  # the wildcard does not override an existing name
    assert z.lookup(N("_udp.sipdomain.test."), dns.rdatatype.A).rcode == dns.rcode.NOERROR
    assert z.lookup(N("nothing.sipdomain.test."), dns.rdatatype.A).nxdomain
    with pytest.raises(DnsError, match="outside the loaded zones"):
        z.lookup(N("example.org."), dns.rdatatype.A)


def test_zone_file_errors_are_bad_input(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.test.zone"
    bad.write_text("$ORIGIN bad.test.\n@ IN SOA ns hm 1 2 3 4 5\n_sip._udp IN SRV 0 5060 host.\n")
    with pytest.raises(BadInput, match=r"bad\.test\.zone"):
        ZoneSource([bad])
    with pytest.raises(BadInput, match="cannot read"):
        ZoneSource([tmp_path / "absent.zone"])


async def test_resolver_reuses_the_chain_until_it_expires() -> None:
    clock = FakeClock()
    resolver = Resolver(zones=zone_files(), clock=clock)
    first = await resolver.locate("sip:6903@airties.test")
    again = await resolver.locate("sip:someone-else@airties.test")
    assert first.targets == again.targets
    sources = {e.source for e in again.trace if isinstance(e, Query)}
    assert sources == {"cache"}
    assert first.expires is not None and first.expires > time.time()
    asked = resolver.cache.misses
    await resolver.locate("sip:6903@airties.test")
    assert resolver.cache.misses == asked  # the chain is reused: no question at all
    clock.advance(first.expires - time.time() + 1)  # the shortest TTL has run out
    await resolver.locate("sip:6903@airties.test")
    assert resolver.cache.misses > asked  # walked again: what expired is asked again


async def test_resolver_as_an_async_context_manager_closes_its_sockets() -> None:
    closed: list[bool] = []
    async with Resolver(zones=zone_files()) as r:
        r.cache.inner.close = lambda: closed.append(True)  # type: ignore[attr-defined]
        res = await r.locate("sip:sipdomain.test", seed=1)
        assert res.targets
        assert not closed
    assert closed == [True]


async def test_locate_sync_inside_a_running_loop_says_to_await_locate() -> None:
    with pytest.raises(BadInput, match=r"await Resolver\.locate\(\)"):
        siplocate.locate_sync("sip:sipdomain.test", zones=zone_files())


def test_locate_sync_outside_a_loop_locates() -> None:
    assert siplocate.locate_sync("sip:sipdomain.test", zones=zone_files(), seed=1).targets


def test_the_system_clock_and_a_bare_callable_are_both_clocks() -> None:
    fake = FakeClock(5.0)
    clock = as_clock(fake)
    assert clock.monotonic() == 5.0
    fake.advance(1)
    assert clock.monotonic() == 6.0
    assert abs(clock.wall() - time.time()) < 60
    assert as_clock(None).monotonic() <= as_clock(None).monotonic()
    manual = ManualClock(start=100.0)
    assert as_clock(manual) is manual and manual.monotonic() == 0.0 and manual.wall() == 100.0


async def test_an_asker_joining_a_question_its_last_asker_just_dropped_gets_an_answer() -> None:
    """Asker A gives up (cancelled: e.g. a speculative SRV question a NAPTR made moot) and,
    as its last asker, cancels the question; asker B joins it in the same loop turn, before
    the cancellation has landed. B must get an answer, not A's CancelledError (seen as a
    CancelledError crash of `resolve -f` over 100,000 lines against BIND)."""
    inner = CountingSource()
    gate = asyncio.Event()  # never set: the first question hangs until it is cancelled
    first = True

    async def answer(
        name: dns.name.Name, rdtype: dns.rdatatype.RdataType, defer: object = None
    ) -> Answer:
        nonlocal first
        if first:
            first = False
            await gate.wait()
        return await CountingSource.answer(inner, name, rdtype)

    inner.answer = answer  # type: ignore[method-assign]
    cache = CachingSource(inner)
    a = asyncio.ensure_future(cache.answer(N("a.test."), dns.rdatatype.A))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # A waits on the question
    a.cancel()
    b = asyncio.ensure_future(cache.answer(N("a.test."), dns.rdatatype.A))
    got = await asyncio.wait_for(b, 5)  # bounded: a bug must fail, not hang
    assert [r.to_text() for r in got.records] == ["192.0.2.1"]
    assert a.cancelled()

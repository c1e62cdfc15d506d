"""The live DNS path against a real BIND9: EDNS and the additional section, minimal
responses, nameserver failover, and what the trace says about each question."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from siplocate import Resolver
from siplocate.dns import LiveSource
from siplocate.errors import BadInput, DnsError
from siplocate.limits import Limits
from siplocate.trace import Note, Query
from tests.conftest import EXAMPLE_ZONES, start_bind
from tests.fixtures.bind import BindServer
from tests.fixtures.servers import free_port
from tests.unit.fakes import FakeClock


def queries(res) -> list[Query]:  # type: ignore[no-untyped-def]
    return [e for e in res.trace if isinstance(e, Query)]


async def test_one_naptr_reply_resolves_the_domain(bind: BindServer) -> None:
    """BIND puts SRV and A/AAAA in a NAPTR reply's additional section (EDNS 1232)."""
    res = await Resolver([bind.nameserver]).locate("sip:freeswitch.test", seed=1)
    assert len(res.targets) == 12
    qs = queries(res)
    addr = [q for q in qs if q.rdtype in ("A", "AAAA")]
    assert addr and all(q.source == "additional" for q in addr), addr
    # The fallback SRV names were asked in parallel with the NAPTR (for a domain without
    # NAPTR); the NAPTR reply's additional section already carries the SRV it points at.
    assert len([q for q in qs if q.rdtype == "NAPTR"]) == 1
    assert {q.source for q in qs if q.rdtype in ("A", "AAAA")} == {"additional"}
    assert all(q.rdtype in ("NAPTR", "SRV") for q in qs if q.source == "network")


async def test_edns_buffer_is_what_fills_the_additional_section(bind: BindServer) -> None:
    """Control: without EDNS, BIND keeps only what fits in 512 bytes (and sets no TC)."""
    name = dns.name.from_text("freeswitch.test.")
    with_edns = await LiveSource([bind.nameserver]).answer(name, dns.rdatatype.NAPTR)
    without = await LiveSource([bind.nameserver], edns=False).answer(name, dns.rdatatype.NAPTR)
    kinds = {(r.name.to_text(), dns.rdatatype.to_text(r.rdtype)) for r in with_edns.additional}
    assert ("_sip._udp.freeswitch.test.", "SRV") in kinds
    assert ("sip1.freeswitch.test.", "AAAA") in kinds
    assert sum(len(r) for r in without.additional) < sum(len(r) for r in with_edns.additional)


@pytest.fixture(scope="module")
def minimal_bind() -> Iterator[BindServer]:
    server = start_bind([EXAMPLE_ZONES / "freeswitch.test.zone"], minimal_responses=True)
    yield server
    server.stop()


async def test_minimal_responses_still_resolve_by_asking(minimal_bind: BindServer) -> None:
    res = await Resolver([minimal_bind.nameserver]).locate("sip:freeswitch.test", seed=1)
    assert len(res.targets) == 12
    assert not any(q.source == "additional" for q in queries(res))


async def test_dead_nameserver_first_then_the_live_one(bind: BindServer) -> None:
    dead = f"127.0.0.1:{free_port()}"  # nothing listens: ICMP refused at once
    resolver = Resolver([dead, bind.nameserver], timeout=0.5)
    res = await resolver.locate("sip:6903@airties.test")
    assert res.targets[0].address == "203.0.113.27"


async def test_no_nameserver_answers_is_a_dns_error() -> None:
    dead = f"127.0.0.1:{free_port()}"
    with pytest.raises(DnsError, match="no answer") as info:
        await Resolver([dead], timeout=5).locate("sip:airties.test")
    # a connected UDP socket hears the ICMP port unreachable: refused, not a 5 s timeout
    assert "refused" in str(info.value).lower()


async def test_repeated_locate_asks_dns_once(bind: BindServer) -> None:
    resolver = Resolver([bind.nameserver])
    await resolver.locate("sip:airties.test")
    misses = resolver.cache.misses
    for _ in range(50):
        res = await resolver.locate("sip:airties.test")
    assert resolver.cache.misses == misses
    assert {q.source for q in queries(res)} == {"cache"}


def test_bad_nameserver_text() -> None:
    for text, fragment in [
        ("bad..name:53", "not an address or host name"),
        ("127.0.0.1:x", "not a number"),
        ("[::1", "unterminated"),
        ("127.0.0.1:70000", "out of range"),
    ]:
        with pytest.raises(BadInput, match=fragment):
            LiveSource([text])


async def test_truncated_udp_reply_is_retried_over_tcp(bind: BindServer) -> None:
    res = await Resolver([bind.nameserver]).locate("sip:big.cases.test;transport=udp")
    srv = next(q for q in queries(res) if q.rdtype == "SRV")
    assert srv.server is not None and srv.server.endswith("/tcp")
    assert len(srv.records) == 60
    # Limits.rrset_records: only the 32 most preferred SRV records are used, and it says so
    assert len(res.targets) == Limits().rrset_records == 32
    assert any("32 most preferred used" in e.message for e in res.trace if isinstance(e, Note))
    asked = [q.name for q in queries(res) if q.rdtype in ("A", "AAAA")]
    assert len(set(asked)) == 32


async def test_dns_outage_serves_stale_answers_and_recovery_replaces_them_at_once() -> None:
    """RFC 8767: with the nameserver gone, expired answers keep the SIP servers reachable;
    once it answers again, the next locate has fresh answers (not 30 s later)."""
    clock = FakeClock()
    server = start_bind([EXAMPLE_ZONES / "airties.test.zone"])
    resolver = Resolver([server.nameserver], timeout=0.3, clock=clock)
    try:
        before = await resolver.locate("sip:airties.test", seed=1)
        await resolver.settle()  # the AAAA questions asked in the background are answered
    finally:
        server.stop()  # the DNS server is gone
    clock.advance(3700)  # every TTL of the zone (at most 3600 s) has run out
    after = await resolver.locate("sip:airties.test", seed=1)
    await resolver.settle()  # the refreshes it started have failed before the server returns
    assert after.targets == before.targets
    assert {q.source for q in queries(after)} == {"stale"}
    assert after.expires is not None  # retried soon: stale answers carry a 30 s TTL
    assert after.expires - time.time() <= 31
    again = start_bind([EXAMPLE_ZONES / "airties.test.zone"], port=server.port)
    try:
        fresh = await resolver.locate("sip:airties.test", seed=1)
    finally:
        again.stop()
    assert "network" in {q.source for q in queries(fresh)}
    assert "stale" not in {q.source for q in queries(fresh)}


async def test_no_stale_answer_past_the_window() -> None:
    clock = FakeClock()
    server = start_bind([EXAMPLE_ZONES / "airties.test.zone"])
    try:
        resolver = Resolver([server.nameserver], timeout=0.3, clock=clock)
        await resolver.locate("sip:airties.test")
    finally:
        server.stop()
    clock.advance(resolver.limits.stale_for + 3700)
    with pytest.raises(DnsError):
        await resolver.locate("sip:airties.test")


class _Sink(asyncio.DatagramProtocol):
    """A loopback UDP server that counts questions; ``reply`` decides what goes back."""

    def __init__(self, reply: object = None) -> None:
        self.seen: list[bytes] = []
        self.reply = reply
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.seen.append(data)
        if callable(self.reply):
            for out in self.reply(data):
                assert self.transport is not None
                self.transport.sendto(out, addr)


async def _sink(reply: object = None) -> tuple[_Sink, str]:
    port = free_port()
    loop = asyncio.get_running_loop()
    _, sink = await loop.create_datagram_endpoint(
        lambda: _Sink(reply), local_addr=("127.0.0.1", port)
    )
    return sink, f"127.0.0.1:{port}"


async def test_inflight_questions_are_bounded() -> None:
    """Limits.inflight: 40 questions to a silent server, at most 5 on the wire at once."""
    sink, ns = await _sink()
    source = LiveSource([ns], limits=Limits(inflight=5), attempts=1, initial_timeout=0.3)
    try:
        names = [dns.name.from_text(f"q{i}.test.") for i in range(40)]
        tasks = [asyncio.ensure_future(source.answer(n, dns.rdatatype.A)) for n in names]
        await asyncio.sleep(0.15)  # well inside the first round of timeouts
        assert len(sink.seen) == 5
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert all(isinstance(r, DnsError) for r in results)
        assert len(sink.seen) == 40  # every question had its turn, none was lost
    finally:
        source.close()
        assert sink.transport is not None
        sink.transport.close()


async def test_a_reply_that_does_not_match_is_dropped_and_the_real_one_taken() -> None:
    """A datagram with the right ID but another question (as a spoofer would send) does not
    end the question: the real reply, sent after it, is the answer."""

    def reply(data: bytes) -> list[bytes]:
        query = dns.message.from_wire(data)
        forged = dns.message.make_query("victim.test.", dns.rdatatype.A)
        forged.id = query.id
        forged.flags |= dns.flags.QR
        forged.answer.append(dns.rrset.from_text("victim.test.", 60, "IN", "A", "127.0.0.99"))
        real = dns.message.make_response(query)
        real.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "A", "192.0.2.1"))
        return [forged.to_wire(), real.to_wire()]

    sink, ns = await _sink(reply)
    source = LiveSource([ns])
    try:
        answer = await source.answer(dns.name.from_text("real.test."), dns.rdatatype.A)
        assert [r.to_text() for r in answer.records] == ["192.0.2.1"]
    finally:
        source.close()
        assert sink.transport is not None
        sink.transport.close()


async def test_an_rrset_too_big_even_for_tcp_is_an_error_not_nodata(tmp_path: Path) -> None:
    """BIND sets TC over TCP when an RRset passes 64 KB: that must not read as 'no SRV
    records' (which would silently fall back to A/AAAA on port 5060)."""
    zone = tmp_path / "huge.test.zone"
    long = "x" * 60
    lines = [
        "$ORIGIN huge.test.",
        "$TTL 300",
        "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.53",
        "@ IN A 192.0.2.80",
    ]
    lines += [
        f"_sip._udp IN SRV 0 1 5060 h{i}.{long}.{long}.{long}.o{i}.other.test." for i in range(305)
    ]  # 305 records of ~210 octets: BIND stores it (under 64 KB), no reply can carry it
    zone.write_text("\n".join(lines) + "\n")
    server = start_bind([zone], max_records_per_type=0)
    try:
        with pytest.raises(DnsError, match="truncated even over TCP"):
            await Resolver([server.nameserver]).locate("sip:huge.test;transport=udp")
    finally:
        server.stop()

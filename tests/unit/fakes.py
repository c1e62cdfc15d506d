"""Test doubles for pure-logic tests: an injectable clock, and DNS replies built in memory
that go through the very code that reads live replies (``answer_from``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import dns.zone

from siplocate.dns.live import answer_from
from siplocate.dns.source import Answer
from siplocate.errors import DnsError


class FakeClock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


Handler = Callable[[dns.message.QueryMessage, dns.message.Message], None]


class ReplySource:
    """A DnsSource whose replies a test writes: ``handler(query, reply)`` fills in a fresh
    reply message, which is then read by ``answer_from`` exactly as a live reply would be.

    ``down`` makes every question fail as if no server answered; ``delay`` holds replies;
    ``gate``, while not set, holds them with no time passing (a silent server, for tests on
    a ManualClock).
    """

    def __init__(self, handler: Handler, delay: float = 0.0) -> None:
        self.handler = handler
        self.delay = delay
        self.down = False
        self.gate: asyncio.Event | None = None
        self.calls: list[tuple[str, str]] = []

    async def answer(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, defer: object = None
    ) -> Answer:
        self.calls.append((name.to_text(), dns.rdatatype.to_text(rdtype)))
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.gate is not None:
            await self.gate.wait()
        if self.down:
            raise DnsError(f"no answer for {name}: fake server down")
        query = dns.message.make_query(name, rdtype)
        reply = dns.message.make_response(query)
        self.handler(query, reply)
        return answer_from(name, rdtype, reply, "fake", 0.0)


NEGATIVE = dns.rrset.from_text("test.", 60, "IN", "SOA", "ns.test. hm.test. 1 2 3 4 60")


def zone_handler(text: str, origin: str = ".") -> Handler:
    """A handler answering from zone-file text, additional section included the way BIND
    fills it (SRV targets' addresses; NAPTR replacements' SRV and their addresses)."""

    # Names are absolute; SOA records are left out (replies here carry no negative TTL).
    text = "\n".join(line for line in text.splitlines() if " SOA " not in line)
    zone = dns.zone.from_text(text, origin=origin, relativize=False, check_origin=False)

    def rrset(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        rds = zone.get_rdataset(name, rdtype)
        return None if rds is None else dns.rrset.from_rdata_list(name, rds.ttl, list(rds))

    def handle(query: dns.message.QueryMessage, reply: dns.message.Message) -> None:
        q = query.question[0]
        name = q.name
        found = rrset(name, q.rdtype)
        for _ in range(16):  # like BIND: the CNAME chain in the answer section, bounded
            cname = rrset(name, dns.rdatatype.CNAME) if found is None else None
            if cname is None:
                break
            reply.answer.append(cname)
            name = cname[0].target
            found = rrset(name, q.rdtype)
        if found is None:
            if zone.get_node(name) is None:
                reply.set_rcode(dns.rcode.NXDOMAIN)
            reply.authority.append(NEGATIVE)  # RFC 2308: negative answers last 60 s
            return
        reply.answer.append(found)
        extra: list[dns.rrset.RRset] = []
        for rd in found:
            if q.rdtype == dns.rdatatype.NAPTR:
                srv = rrset(rd.replacement, dns.rdatatype.SRV)
                if srv is not None:
                    extra.append(srv)
                    extra += _addresses(rrset, [r.target for r in srv])
            elif q.rdtype == dns.rdatatype.SRV:
                extra += _addresses(rrset, [rd.target])
        reply.additional.extend(extra)

    return handle


def _addresses(
    rrset: Callable[[dns.name.Name, dns.rdatatype.RdataType], object], names: list[dns.name.Name]
) -> list[dns.rrset.RRset]:
    out = []
    for name in names:
        for t in (dns.rdatatype.A, dns.rdatatype.AAAA):
            found = rrset(name, t)
            if found is not None:
                out.append(found)
    return out  # type: ignore[return-value]

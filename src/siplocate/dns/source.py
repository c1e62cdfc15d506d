"""The DnsSource protocol: one question in, one ``Answer`` out, whatever the source.

Live servers, zone files and the cache all answer through this, so the RFC 3263 logic in
``resolver/`` never knows (or cares) where an answer came from; the ``Answer`` says it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

MAX_CNAME_CHAIN = 8


class Origin(StrEnum):
    """Where an answer came from, as shown in the trace."""

    NETWORK = "network"
    CACHE = "cache"
    ADDITIONAL = "additional"  # taken from an earlier reply's additional section
    ZONE = "zone"
    STALE = "stale"  # expired cache entry served because no server answered (RFC 8767)


@dataclass(frozen=True, slots=True)
class Answer:
    """The answer to one question (name, rdtype).

    ``rrset`` is the RRset of the asked type at the end of any CNAME chain, or None for
    NXDOMAIN / NODATA. ``cnames`` lists the (alias, canonical) steps followed; when the chain
    leaves the reply unfinished, ``rrset`` is None and ``canonical`` is where to ask next.
    ``ttl`` is the RRset TTL, or the RFC 2308 negative TTL for an empty answer.
    """

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    rcode: dns.rcode.Rcode
    rrset: dns.rrset.RRset | None
    ttl: int
    source: Origin
    latency: float = 0.0
    server: str | None = None
    cnames: tuple[tuple[dns.name.Name, dns.name.Name], ...] = ()
    additional: tuple[dns.rrset.RRset, ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()  # what was skipped in the reply and why (e.g. wrong class)

    @property
    def records(self) -> list[dns.rdata.Rdata]:
        return list(self.rrset) if self.rrset is not None else []

    @property
    def nxdomain(self) -> bool:
        return self.rcode == dns.rcode.NXDOMAIN

    @property
    def canonical(self) -> dns.name.Name:
        """The name the answer is really for (end of the CNAME chain)."""
        return self.cnames[-1][1] if self.cnames else self.name

    @property
    def chain_unfinished(self) -> bool:
        """A CNAME chain whose end the reply did not include: ask ``canonical`` again."""
        return self.rrset is None and bool(self.cnames) and self.rcode == dns.rcode.NOERROR

    def with_source(self, source: Origin, latency: float = 0.0) -> Answer:
        return Answer(
            self.name,
            self.rdtype,
            self.rcode,
            self.rrset,
            self.ttl,
            source,
            latency,
            self.server,
            self.cnames,
            (),
            self.notes,
        )

    def describe(self) -> str:
        """Short human text: the records, or NXDOMAIN / NODATA."""
        if self.rrset is not None:
            return "; ".join(r.to_text() for r in self.rrset)
        if self.nxdomain:
            return "NXDOMAIN"
        if self.cnames:
            return f"CNAME -> {self.canonical} (unfinished)"
        return "NODATA"


class DnsSource(Protocol):
    """Anything that can answer a DNS question (live servers, zone files, a cache)."""

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        """Answer one question; raise ``DnsError`` when no usable answer can be had.

        ``defer``: the question is speculative; a source may hold its reply unread until
        the event is set (the asker may drop it before, and then the reply costs nothing).
        """
        ...


NameKey = tuple[bytes, ...]


def name_key(name: dns.name.Name) -> NameKey:
    """A cheap case-insensitive dict key for a name.

    ``dns.name.Name`` hashes by walking every character in Python; lower-cased labels hash
    in C, which matters on the resolver's hot paths.
    """
    return tuple([label.lower() for label in name.labels])


def negative_ttl(authority: list[dns.rrset.RRset], default: int = 0) -> int:
    """RFC 2308 §5: a negative answer lives min(SOA TTL, SOA MINIMUM) seconds."""
    for rrset in authority:
        if rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            soa = rrset[0]
            return int(min(rrset.ttl, soa.minimum))
    return default


def pick_answer(
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    rrsets: list[dns.rrset.RRset],
    max_cnames: int = MAX_CNAME_CHAIN,
) -> tuple[dns.rrset.RRset | None, tuple[tuple[dns.name.Name, dns.name.Name], ...]]:
    """Follow CNAMEs from ``qname`` through ``rrsets`` (at most ``max_cnames`` hops); return
    (RRset, chain). Only class IN counts: RRsets of other classes are never an answer."""
    by_key = {(r.name, r.rdtype): r for r in rrsets if r.rdclass == dns.rdataclass.IN}
    chain: list[tuple[dns.name.Name, dns.name.Name]] = []
    name = qname
    while True:
        found = by_key.get((name, rdtype))
        if found is not None:
            return found, tuple(chain)
        cname = by_key.get((name, dns.rdatatype.CNAME))
        if cname is None or rdtype == dns.rdatatype.CNAME or len(chain) >= max_cnames:
            return None, tuple(chain)
        target = cname[0].target
        chain.append((name, target))
        name = target

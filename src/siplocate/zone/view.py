"""What an RFC 3263 client looks at for one domain, as items the lint rules judge.

``client_view`` follows the snapshot the way the resolver does -- the domain's NAPTR
records and the empty-flag (non-terminal) ones they lead to, the SRV set of each NAPTR
replacement and of every transport, the targets' addresses -- and lists what it read:
each NAPTR record, each SRV RRset and record, each RRset (for TTLs), and the domain. The
rules (``zone.rules``) are small functions over one item each.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdatatype
import dns.rrset

from ..limits import DEFAULT_LIMITS
from ..target import SERVICE_TRANSPORT, SRV_PREFIX_TRANSPORT, TRANSPORTS, Transport, TransportInfo
from .snapshot import Snapshot

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA

# --------------------------------------------------------------------------- NAPTR/SRV rules
# The RFC 3263 facts lint shares with the resolver, in this one place, so pointing them at
# the resolver's public rules (usable service, SRV name <-> transport) is one edit here.


def naptr_transport(service: str) -> Transport | None:
    """The transport of a SIP NAPTR service field (``SIP+D2U``); None if it is none."""
    return SERVICE_TRANSPORT.get(service.upper())


def srv_transport(name: dns.name.Name) -> Transport | None:
    """The transport an SRV owner name is for (``_sip._udp.…``), from its first two labels."""
    if len(name.labels) < 2:
        return None
    prefix = b".".join(name.labels[:2]).decode(errors="replace").lower()
    return SRV_PREFIX_TRANSPORT.get(prefix)


def srv_name(info: TransportInfo, domain: dns.name.Name) -> dns.name.Name | None:
    """The SRV name of a transport for ``domain``; None when too long for DNS."""
    try:
        return dns.name.from_text(info.srv_prefix, domain)
    except dns.exception.DNSException:  # too long with the prefix: no client can ask it
        return None


def is_enum_service(service: str) -> bool:
    s = service.upper()
    return s.startswith("E2U") or s.endswith("+E2U")


def looks_sip(service: str) -> bool:
    s = service.upper()
    return s.startswith(("SIP", "SIPS")) or "D2" in s


# --------------------------------------------------------------------------- items


def rr(rrset: dns.rrset.RRset, *rds: dns.rdata.Rdata) -> tuple[str, ...]:
    """Records as zone-file lines: ``rds`` of ``rrset``, or all of it."""
    kind = dns.rdatatype.to_text(rrset.rdtype)
    # Sorted: live servers rotate RRset order, findings must not.
    return tuple(sorted(f"{rrset.name} {rrset.ttl} IN {kind} {r.to_text()}" for r in rds or rrset))


@dataclass(frozen=True)
class RRsetSeen:
    """An RRset a client reads; ``ranked``: how many of its records the walk ranks and cuts
    at the bound on records per RRset (NAPTRs, SRVs with a real target; 0 for addresses)."""

    rrset: dns.rrset.RRset
    ranked: int = 0


@dataclass(frozen=True)
class NaptrSeen:
    """One NAPTR record of the domain's chain, with what the walk makes of it."""

    domain: str
    rd: Any
    record: tuple[str, ...]
    snap: Snapshot
    follows: bool = False  # empty flags, and the walk follows it to the next NAPTR here

    @property
    def service(self) -> str:
        return str(self.rd.service.decode(errors="replace"))

    @property
    def flags(self) -> str:
        return str(self.rd.flags.decode(errors="replace").lower())

    @property
    def transport(self) -> Transport | None:
        return naptr_transport(self.service)

    @property
    def replacement(self) -> dns.name.Name:
        return self.rd.replacement  # type: ignore[no-any-return]

    @property
    def terminal(self) -> bool:
        """Not an empty-flag record leading to another NAPTR (RFC 3404 §4.1)."""
        return not (self.flags == "" and self.snap.get(self.replacement, NAPTR) is not None)

    @property
    def names_srv(self) -> bool:
        """A usable, terminal record pointing somewhere: it offers its transport."""
        return self.transport is not None and self.terminal and self.replacement != dns.name.root

    @property
    def leads_to_srv(self) -> bool:
        """Clients look up SRV at the replacement next (flag "a" goes to A/AAAA instead)."""
        return self.names_srv and not ("a" in self.flags and "s" not in self.flags)


@dataclass(frozen=True)
class SrvSeen:
    """One SRV RRset a client asks: a NAPTR replacement or a transport's standard name."""

    domain: dns.name.Name
    name: dns.name.Name
    rrset: dns.rrset.RRset
    transport: Transport | None
    standard: bool  # the standard SRV name of a transport of the domain
    naptr_transports: frozenset[Transport] | None  # None: the domain has no NAPTR RRset
    snap: Snapshot

    @property
    def real(self) -> list[Any]:
        """The records with a real target (not ".")."""
        return [r for r in self.rrset if r.target != dns.name.root]

    def checked(self) -> list[Any]:
        """The real records whose target the walk looked up (past the bound: not)."""
        return [r for r in self.real if self.snap.was_asked(r.target, A, AAAA)]

    def reachable(self) -> dict[dns.name.Name, list[str]]:
        """Target -> addresses, for the looked-up targets that have any."""
        out: dict[dns.name.Name, list[str]] = {}
        for rd in self.checked():
            if rd.target not in self.snap.unknown and (addresses := self.snap.addresses(rd.target)):
                out[rd.target] = addresses
        return out


@dataclass(frozen=True)
class SrvRecordSeen:
    """One SRV record with a real target, in its RRset."""

    srv: SrvSeen
    rd: Any

    @property
    def record(self) -> tuple[str, ...]:
        return rr(self.srv.rrset, self.rd)

    @property
    def target(self) -> dns.name.Name:
        return self.rd.target  # type: ignore[no-any-return]

    @property
    def looked_up(self) -> bool:
        """Asked and answered (a target past the bound was never asked: not judged)."""
        snap = self.srv.snap
        return snap.was_asked(self.target, A, AAAA) and self.target not in snap.unknown


@dataclass(frozen=True)
class DomainSeen:
    """The domain itself: what it has for SIP at all."""

    domain: dns.name.Name
    has_naptr: bool
    any_srv: bool  # an SRV RRset with a real target at any name a client asks
    unread: bool  # the domain or a standard SRV name could not be looked up
    snap: Snapshot


@dataclass
class ClientView:
    """Everything a client reads for one domain, as items for the rules."""

    domain: DomainSeen
    naptrs: list[NaptrSeen] = field(default_factory=list)
    srvs: list[SrvSeen] = field(default_factory=list)
    srv_records: list[SrvRecordSeen] = field(default_factory=list)
    rrsets: list[RRsetSeen] = field(default_factory=list)


# --------------------------------------------------------------------------- the walk


def client_view(snap: Snapshot, domain: dns.name.Name) -> ClientView:
    """Follow ``domain`` through the snapshot as the resolver does and list what it read."""
    naptrs = list(_naptr_chain(snap, domain))
    has_naptr = snap.get(domain, NAPTR) is not None
    offered = frozenset(n.transport for n in naptrs if n.names_srv and n.transport is not None)
    standard = {
        name: t for t, info in TRANSPORTS.items() if (name := srv_name(info, domain)) is not None
    }
    srv_names: dict[dns.name.Name, Transport | None] = {
        n.replacement: n.transport for n in naptrs if n.leads_to_srv
    }
    for std_name, std_transport in standard.items():
        srv_names.setdefault(std_name, std_transport)
    srvs: list[SrvSeen] = []
    for name, transport in srv_names.items():
        rrset = snap.get(name, SRV)
        if rrset is not None:
            srvs.append(SrvSeen(
                domain, name, rrset, srv_transport(name) or transport, name in standard,
                offered if has_naptr else None, snap,
            ))  # fmt: skip
    unread = domain in snap.unknown or any(n in snap.unknown for n in standard)
    any_srv = any(s.real for s in srvs)
    view = ClientView(DomainSeen(domain, has_naptr, any_srv, unread, snap), naptrs, srvs)
    view.rrsets += _naptr_rrsets(snap, naptrs, domain)
    for srv in (s for s in srvs if s.real):
        view.rrsets.append(RRsetSeen(srv.rrset, len(srv.real)))
        view.srv_records += [SrvRecordSeen(srv, rd) for rd in srv.real]
        view.rrsets += _address_rrsets(srv)
    return view


def _naptr_chain(snap: Snapshot, domain: dns.name.Name) -> Iterator[NaptrSeen]:
    """The domain's NAPTR records, then those its empty-flag records lead to, as the
    resolver follows them (RFC 3404 §4.1; bounded by the resolver's NAPTR depth)."""
    first = snap.get(domain, NAPTR)
    pending = [first] if first is not None else []
    followed = {domain}
    d = str(domain)
    while pending:
        rrset = pending.pop(0)
        for rd in rrset:
            seen = NaptrSeen(d, rd, rr(rrset, rd), snap)
            nested = snap.get(rd.replacement, NAPTR)
            if (
                seen.transport is not None
                and not seen.terminal
                and nested is not None
                and rd.replacement not in followed
                and len(followed) < DEFAULT_LIMITS.naptr_depth
            ):
                followed.add(rd.replacement)
                pending.append(nested)
                seen = NaptrSeen(d, rd, seen.record, snap, follows=True)
            yield seen


def _naptr_rrsets(
    snap: Snapshot, naptrs: list[NaptrSeen], domain: dns.name.Name
) -> list[RRsetSeen]:
    """The NAPTR RRsets the chain read: the domain's and each one followed."""
    names = [domain] + [n.replacement for n in naptrs if n.follows]
    return [RRsetSeen(rrset, len(rrset)) for name in names if (rrset := snap.get(name, NAPTR))]


def _address_rrsets(srv: SrvSeen) -> list[RRsetSeen]:
    """The A/AAAA RRsets of the SRV set's targets that were looked up and have addresses."""
    out = []
    for rd in srv.checked():
        if rd.target in srv.snap.unknown or not srv.snap.addresses(rd.target):
            continue
        out += [RRsetSeen(rrset) for t in (A, AAAA) if (rrset := srv.snap.get(rd.target, t))]
    return out


__all__ = [
    "ClientView",
    "DomainSeen",
    "NaptrSeen",
    "RRsetSeen",
    "SrvRecordSeen",
    "SrvSeen",
    "client_view",
    "is_enum_service",
    "looks_sip",
    "naptr_transport",
    "rr",
    "srv_name",
    "srv_transport",
]

"""Answers straight from zone files, in-process: offline checks, demos and tests.

Behaves like an authoritative server for the loaded zones: CNAMEs, RFC 4592 wildcards,
NXDOMAIN vs NODATA (empty non-terminals exist), RFC 2308 negative TTLs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path

import dns.exception
import dns.name
import dns.node
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

from ..errors import BadInput, DnsError
from .source import MAX_CNAME_CHAIN, Answer, Origin


def load_zone(path: Path | str, origin: str | None = None) -> dns.zone.Zone:
    """Parse one zone file; its origin comes from ``origin``, its $ORIGIN, or its file name.

    Raises BadInput with the file name and line on a syntax error.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BadInput(f"cannot read zone file {path}: {exc.strerror or exc}") from None
    if origin is None and not any(
        line.strip().upper().startswith("$ORIGIN") for line in text.splitlines()
    ):
        origin = path.name.removesuffix(".zone").removesuffix(".db") + "."
    try:
        return dns.zone.from_text(
            text, origin=origin, relativize=False, filename=str(path), check_origin=False
        )
    except dns.exception.DNSException as exc:
        raise BadInput(f"zone file {path}: {exc}") from None


class ZoneSource:
    """A DnsSource over zone files, answering as their authoritative server would."""

    def __init__(self, zones: Iterable[dns.zone.Zone | Path | str]) -> None:
        self.zones: list[dns.zone.Zone] = [
            z if isinstance(z, dns.zone.Zone) else load_zone(z) for z in zones
        ]
        # Longest origin first, so the most specific zone answers.
        self.zones.sort(key=lambda z: len(z.origin), reverse=True)  # type: ignore[arg-type]

    def zone_for(self, name: dns.name.Name) -> dns.zone.Zone | None:
        for zone in self.zones:
            if name.is_subdomain(zone.origin):  # type: ignore[arg-type]
                return zone
        return None

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        return self.lookup(name, rdtype)  # no reply to parse: nothing to defer

    def lookup(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
        """Synchronous answer, following CNAMEs inside the loaded zones."""
        chain: list[tuple[dns.name.Name, dns.name.Name]] = []
        current = name
        for _ in range(MAX_CNAME_CHAIN + 1):
            zone = self.zone_for(current)
            if zone is None:
                if chain:  # alias leads out of the loaded zones: let the caller ask again
                    return Answer(
                        name,
                        rdtype,
                        dns.rcode.NOERROR,
                        None,
                        0,
                        Origin.ZONE,
                        server="zone",
                        cnames=tuple(chain),
                    )
                known = ", ".join(str(z.origin) for z in self.zones) or "none"
                raise DnsError(f"{name} is outside the loaded zones ({known})")
            node, exists = _find_node(zone, current)
            if node is None:
                rcode = dns.rcode.NOERROR if exists else dns.rcode.NXDOMAIN
                return Answer(
                    name,
                    rdtype,
                    rcode,
                    None,
                    _negative_ttl(zone),
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            rds = node.get_rdataset(dns.rdataclass.IN, rdtype)
            if rds is not None:
                rrset = dns.rrset.from_rdata_list(current, rds.ttl, list(rds))
                return Answer(
                    name,
                    rdtype,
                    dns.rcode.NOERROR,
                    rrset,
                    rds.ttl,
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            cname = node.get_rdataset(dns.rdataclass.IN, dns.rdatatype.CNAME)
            if cname is None or rdtype == dns.rdatatype.CNAME:
                return Answer(
                    name,
                    rdtype,
                    dns.rcode.NOERROR,
                    None,
                    _negative_ttl(zone),
                    Origin.ZONE,
                    server="zone",
                    cnames=tuple(chain),
                )
            target = next(iter(cname)).target
            chain.append((current, target))
            current = target
        # Longer than a reply would carry: stop mid-chain, as a live server's reply does, and
        # let the resolver's own CNAME limit decide (the same offline and live).
        return Answer(
            name,
            rdtype,
            dns.rcode.NOERROR,
            None,
            0,
            Origin.ZONE,
            server="zone",
            cnames=tuple(chain),
        )


def _find_node(zone: dns.zone.Zone, name: dns.name.Name) -> tuple[dns.node.Node | None, bool]:
    """The node for ``name`` (or the wildcard that synthesises it) and whether the name exists.

    RFC 4592: a wildcard applies only when the name does not exist, not even as an
    empty non-terminal, and matches below the closest encloser.
    """
    node = zone.get_node(name)
    if node is not None:
        return node, True
    if any(n.is_subdomain(name) for n in zone.nodes):  # empty non-terminal
        return None, True
    # Closest encloser: the longest existing ancestor (explicit or empty non-terminal).
    candidate = name.parent()
    while candidate.is_subdomain(zone.origin):  # type: ignore[arg-type]
        if zone.get_node(candidate) is not None or any(
            n.is_subdomain(candidate) for n in zone.nodes
        ):
            wildcard = zone.get_node(dns.name.Name((b"*", *candidate.labels)))
            return wildcard, wildcard is not None
        if candidate == zone.origin:
            break
        candidate = candidate.parent()
    return None, False


def _negative_ttl(zone: dns.zone.Zone) -> int:
    soa = zone.get_rdataset(zone.origin, dns.rdatatype.SOA)  # type: ignore[arg-type]
    if soa is None:
        return 0
    return int(min(soa.ttl, next(iter(soa)).minimum))

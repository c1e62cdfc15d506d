"""The record model lint judges: the RRsets a SIP client would see for some domains.

``zone.lint.gather`` fills it through any DnsSource (zone files offline, live servers for
``check``) with the resolver's own walk; the rules in ``zone.rules`` only read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rdatatype
import dns.rrset

from ..target import Target

A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA


@dataclass
class Snapshot:
    """The RRsets a SIP client would see for some domains, however they were obtained.

    ``rrsets`` is keyed by the name asked (even when a CNAME led elsewhere, which ``cnames``
    records); ``unknown`` holds names that could not be looked up at all.
    """

    domains: list[dns.name.Name]
    rrsets: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.rrset.RRset] = field(
        default_factory=dict
    )
    cnames: dict[dns.name.Name, dns.name.Name] = field(default_factory=dict)
    unknown: dict[dns.name.Name, str] = field(default_factory=dict)
    targets: dict[dns.name.Name, tuple[Target, ...]] = field(default_factory=dict)
    asked: set[tuple[dns.name.Name, dns.rdatatype.RdataType]] = field(default_factory=set)
    """Every question the walk asked (answered or not): a name never asked, e.g. a target
    past the resolver's bound on records per RRset, was not checked."""

    def get(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        return self.rrsets.get((name, rdtype))

    def was_asked(self, name: dns.name.Name, *rdtypes: dns.rdatatype.RdataType) -> bool:
        return name in self.unknown or any((name, t) in self.asked for t in rdtypes)

    def addresses(self, name: dns.name.Name) -> list[str]:
        out = []
        for rdtype in (A, AAAA):
            rrset = self.get(name, rdtype)
            if rrset is not None:
                out += [r.address for r in rrset]
        return out


__all__ = ["Snapshot"]

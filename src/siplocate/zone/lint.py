"""Lint the DNS records of SIP domains: one table of rules over one record model.

``gather`` walks a domain through any DnsSource (zone files offline, live servers for
``check``) with the resolver's own walk -- NAPTR, SRV, targets' A/AAAA, plus every transport's
SRV name and the domain's own addresses -- into a ``Snapshot``; ``lint_snapshot`` runs every
rule of the registry (``zone.rules.RULES``) over what a client reads there
(``zone.view.client_view``). ``lint_zone_files`` adds what only a zone file can show: lines
that do not parse (e.g. an SRV without its weight field), judged by the same registry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype

from ..dns.source import DnsSource
from ..dns.zonefile import IndexedZone, ZoneSource, load_zone
from ..errors import DnsError, NotFound
from ..resolver import Resolver
from ..target import TRANSPORTS, SipUri, Transport
from .findings import SEVERITY_ORDER, Finding, Severity, has_errors
from .rules import CODES, DRAIN_PRIORITY, RULES, TTL_LONG, TTL_SHORT, ProblemSeen, Scope, run
from .rules import run_view as _run_view
from .snapshot import Snapshot
from .view import client_view, is_enum_service, srv_name, srv_transport

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA


# --------------------------------------------------------------------------- record model


async def gather(source: DnsSource, domains: Iterable[dns.name.Name]) -> Snapshot:
    """What an RFC 3263 client sees for each domain: the resolver's own walk (so lint,
    ``check`` and ``resolve`` follow the same NAPTR/SRV chain, non-terminal NAPTRs and
    cross-zone targets included), plus the names the rules also look at (the domain's
    A/AAAA and the SRV name of every transport)."""
    snap = Snapshot(list(dict.fromkeys(domains)))
    resolver = Resolver(source=source, transports=tuple(Transport))
    for domain in snap.domains:
        also = [(domain, A), (domain, AAAA)] + [
            (name, SRV) for info in TRANSPORTS.values() if (name := srv_name(info, domain))
        ]
        try:
            seen = await resolver.observe(SipUri("sip", _host(domain)), also)
        except (DnsError, NotFound) as exc:
            snap.unknown[domain] = str(exc)
            continue
        asked_as: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], dns.name.Name] = {}
        for answer in seen.answers:  # in the order asked: a chain's next step comes later
            asked = asked_as.pop((answer.name, answer.rdtype), answer.name)
            if answer.cnames and asked not in snap.cnames:
                snap.cnames[asked] = answer.cnames[0][1]
            if answer.chain_unfinished:  # the walk asks the canonical name next
                asked_as[(answer.canonical, answer.rdtype)] = asked
            for name in {asked, answer.name}:
                snap.asked.add((name, answer.rdtype))
                if answer.rrset is not None:
                    snap.rrsets.setdefault((name, answer.rdtype), answer.rrset)
        for name, why in seen.unanswered.items():
            snap.unknown.setdefault(name, why)
        snap.targets[domain] = seen.targets
    return snap


def _host(domain: dns.name.Name) -> str:
    return domain.to_text(omit_final_dot=True).lower()


# --------------------------------------------------------------------------- rules


def lint_snapshot(snap: Snapshot) -> list[Finding]:
    """Every rule over every domain of the snapshot; findings in a stable order."""
    findings: list[Finding] = []
    for domain in snap.domains:
        findings += _run_view(client_view(snap, domain))
    # The same SRV set may be reached from two domains: report it once.
    unique = list(dict.fromkeys(findings))
    return sorted(unique, key=lambda f: (SEVERITY_ORDER[f.severity], f.name, f.code, f.records))


# --------------------------------------------------------------------------- zone files


def _problem_findings(zone: IndexedZone) -> list[Finding]:
    """The reader's problems as findings (the registry's zone-file rules), on BIND's lines."""
    out = []
    for p in zone.problems:
        for f in run(Scope.PROBLEM, [ProblemSeen(str(zone.origin), p)]):
            out.append(replace(f, file=p.file, line=p.line))
    return out


def lint_zone_files(paths: list[Path], origin: str | None = None) -> tuple[list[Finding], Snapshot]:
    """Lint zone files offline (synchronous wrapper of ``lint_zones``, for the CLI)."""
    return asyncio.run(lint_zones(paths, origin))


async def lint_zones(
    paths: list[Path], origin: str | None = None
) -> tuple[list[Finding], Snapshot]:
    """Lint zone files offline: every bad line, then every rule over the records that loaded.

    Each file is read once into an index (``load_zone``); its origin is ``origin`` or its SOA
    owner, never its file name. Findings come in file and line order.
    """
    findings: list[Finding] = []
    zones: list[IndexedZone] = []
    for path in paths:
        zone = load_zone(Path(path), origin)
        findings += _problem_findings(zone)
        if not any(p.kind == "no-soa" for p in zone.problems):
            zones.append(zone)
    snap = Snapshot([])
    if zones:
        domains: list[dns.name.Name] = []
        for zone in zones:
            domains += sip_domains(zone)
        source = ZoneSource(zones)
        snap = await gather(source, domains)
        findings += [_place(source, f) for f in lint_snapshot(snap)]
    files = {str(p): i for i, p in enumerate(paths)}
    findings.sort(
        key=lambda f: (
            files.get(f.file or "", len(files)),
            f.line is None,
            f.line or 0,
            SEVERITY_ORDER[f.severity],
            f.code,
        )
    )
    return findings, snap


def _place(source: ZoneSource, finding: Finding) -> Finding:
    """The finding with the file and line of the first record it names (or of its name)."""
    spots: list[tuple[str, int]] = []
    for record in finding.records:
        owner, _ttl, _cls, kind, data = record.split(None, 4)
        try:
            name = dns.name.from_text(owner)
            rdtype = dns.rdatatype.from_text(kind)
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, rdtype, data, origin=dns.name.root, relativize=False
            )
        except (dns.exception.DNSException, ValueError):
            continue
        spot = source.where(name, rdtype, rdata)
        if spot is not None:
            spots.append(spot)
    if not spots:
        try:
            spot = source.where(dns.name.from_text(finding.name))
        except dns.exception.DNSException:
            spot = None
        if spot is not None:
            spots.append(spot)
    if not spots:
        return finding
    file, line = min(spots, key=lambda s: s[1])
    return replace(finding, file=file, line=line)


def sip_domains(zone: IndexedZone) -> list[dns.name.Name]:
    """Names in a zone that look like SIP domains: NAPTR owners and parents of _sip(s) SRV."""
    out: list[dns.name.Name] = []
    for key, records in zone.nodes.items():
        for record in records:
            rdtype = record[0]
            if rdtype == NAPTR:
                naptr = zone.rdataset(key, NAPTR) or ()
                if any(not is_enum_service(r.service.decode(errors="replace")) for r in naptr):
                    out.append(dns.name.from_text(key))
                break
            if rdtype == SRV and key.startswith("_") and "*" not in key:
                absolute = dns.name.from_text(key)
                if srv_transport(absolute) is not None:
                    out.append(absolute.parent().parent())
                break
    return list(dict.fromkeys(out))


__all__ = [
    "CODES",
    "DRAIN_PRIORITY",
    "RULES",
    "TTL_LONG",
    "TTL_SHORT",
    "Finding",
    "Severity",
    "Snapshot",
    "gather",
    "has_errors",
    "lint_snapshot",
    "lint_zone_files",
    "lint_zones",
    "sip_domains",
]

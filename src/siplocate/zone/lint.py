"""Lint the DNS records of SIP domains: one rule set over one record model.

``gather`` walks a domain through any DnsSource (zone files offline, live servers for
``check``) with the resolver's own walk -- NAPTR, SRV, targets' A/AAAA, plus every transport's
SRV name and the domain's own addresses -- into a ``Snapshot``; ``lint_snapshot`` runs every
rule over it. ``lint_zone_files`` adds what only a zone file can show: lines that do not
parse (e.g. an SRV without its weight field).
"""

from __future__ import annotations

import asyncio
import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from ..dns.source import DnsSource
from ..dns.zonefile import IndexedZone, ZoneProblem, ZoneSource, load_zone
from ..errors import DnsError, NotFound
from ..limits import DEFAULT_LIMITS
from ..resolver import Resolver
from ..resolver.rules import service_transport, srv_name, srv_transport
from ..target import (
    SERVICE_TRANSPORT,
    TRANSPORTS,
    SipUri,
    Target,
    Transport,
)

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA

#: Where `siplocate drain` puts a host (zone/drain.py's DRAIN_PRIORITY; a test keeps them
#: equal). Repeated here so linting does not load the RFC 2136 update machinery.
DRAIN_PRIORITY = 65535
TTL_LONG = 3600  # above this, drain and failover changes reach clients too slowly
TTL_SHORT = 30  # below this, every call setup waits for DNS and the servers carry the load


class Severity(StrEnum):
    """How bad a finding is: errors break clients (exit code 1), warnings risk it."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


#: code -> (severity, what it means). The codes are stable: CI scripts match on them.
CODES: dict[str, tuple[Severity, str]] = {
    "zone-syntax": (Severity.ERROR, "a zone-file line does not parse; the server rejects the zone"),
    "zone-no-soa": (Severity.ERROR, "no SOA record (or nothing at all): no server loads the zone"),
    "zone-out-of-zone": (Severity.WARNING, "a record outside the zone's origin: servers ignore it"),
    "zone-cname-and-other": (Severity.ERROR, "a name with a CNAME and other data: zone refused"),
    "zone-soa-not-at-top": (Severity.ERROR, "an SOA record below the origin: zone refused"),
    "srv-missing-field": (
        Severity.ERROR,
        "an SRV line lacks one of priority, weight, port, target",
    ),
    "naptr-missing-field": (Severity.ERROR, "a NAPTR line lacks one of its six fields"),
    "no-sip-records": (Severity.ERROR, "the domain has neither NAPTR nor SIP SRV records"),
    "naptr-unknown-service": (Severity.ERROR, "NAPTR service is not a SIP service (typo?)"),
    "naptr-flag-not-s": (Severity.ERROR, 'SIP NAPTR flag is neither "s" nor "a"'),
    "naptr-non-terminal": (Severity.INFO, "empty-flag NAPTR leading to another NAPTR"),
    "naptr-flag-a": (Severity.WARNING, 'SIP NAPTR flag "a": SRV priority and weight skipped'),
    "naptr-flag-extra": (Severity.WARNING, 'NAPTR flags like "se" that strict clients discard'),
    "naptr-sips-to-sip": (Severity.ERROR, "a SIPS service points at a _sip. (non-TLS) name"),
    "naptr-transport-mismatch": (Severity.WARNING, "NAPTR service and SRV name disagree"),
    "naptr-replacement-no-srv": (Severity.ERROR, "a NAPTR replacement has no SRV records"),
    "srv-not-in-naptr": (Severity.WARNING, "SRV for a transport the NAPTR records do not list"),
    "srv-target-no-address": (Severity.ERROR, "an SRV target has no A/AAAA record"),
    "srv-target-cname": (Severity.WARNING, "an SRV target is a CNAME (RFC 2782 forbids it)"),
    "srv-target-unchecked": (Severity.INFO, "an SRV target lies outside the zones given"),
    "srv-port-transport": (Severity.WARNING, "SRV port does not fit the transport"),
    "srv-duplicate-target": (Severity.WARNING, "the same target and port listed twice"),
    "srv-all-weights-zero": (Severity.WARNING, "all weights 0 in a priority with several targets"),
    "srv-service-unavailable": (Severity.INFO, 'SRV target ".": service decidedly unavailable'),
    "srv-dot-with-targets": (Severity.ERROR, 'an SRV RRset mixes target "." with real targets'),
    "srv-drained": (Severity.WARNING, "a target drained to priority 65535 (siplocate drain)"),
    "srv-none-in-rotation": (Severity.WARNING, "every target of an SRV RRset is drained"),
    "no-failover": (Severity.WARNING, "one reachable target or one address: no failover"),
    "ttl-long": (Severity.WARNING, f"TTL above {TTL_LONG} s: failover and drains are slow"),
    "ttl-short": (Severity.WARNING, f"TTL below {TTL_SHORT} s: DNS load, slower call setup"),
    "domain-no-address": (Severity.WARNING, 'SRV/NAPTR but no A/AAAA: breaks "A Record" mode'),
}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: a stable code, its severity, the name and records involved, what and fix."""

    code: str
    name: str
    records: tuple[str, ...]
    message: str
    file: str | None = None
    line: int | None = None

    @property
    def severity(self) -> Severity:
        return CODES[self.code][0]

    @property
    def profiles(self) -> tuple[str, ...]:
        """The client profiles this finding matters to, when it depends on the client kind."""
        from ..profiles.catalogue import affected

        return affected(self.code)

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "name": self.name,
            "records": list(self.records),
            "message": self.message,
        }
        if self.profiles:
            data["profiles"] = list(self.profiles)
        if self.file is not None:
            data["file"] = self.file
        if self.line is not None:
            data["line"] = self.line
        return data


# --------------------------------------------------------------------------- record model


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

    def get(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.rrset.RRset | None:
        return self.rrsets.get((name, rdtype))

    def addresses(self, name: dns.name.Name) -> list[str]:
        out = []
        for rdtype in (A, AAAA):
            rrset = self.get(name, rdtype)
            if rrset is not None:
                out += [r.address for r in rrset]
        return out


async def gather(source: DnsSource, domains: Iterable[dns.name.Name]) -> Snapshot:
    """What an RFC 3263 client sees for each domain: the resolver's own walk (so lint,
    ``check`` and ``resolve`` follow the same NAPTR/SRV chain, non-terminal NAPTRs and
    cross-zone targets included), plus the names the rules also look at (the domain's
    A/AAAA and the SRV name of every transport)."""
    snap = Snapshot(list(dict.fromkeys(domains)))
    resolver = Resolver(source=source, transports=tuple(Transport))
    for domain in snap.domains:
        also = [(domain, A), (domain, AAAA)] + [
            (name, SRV)
            for info in TRANSPORTS.values()
            if (name := srv_name(info.transport, domain))
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
                if answer.rrset is not None:
                    snap.rrsets.setdefault((name, answer.rdtype), answer.rrset)
        for name, why in seen.unanswered.items():
            snap.unknown.setdefault(name, why)
        snap.targets[domain] = seen.targets
    return snap


def _host(domain: dns.name.Name) -> str:
    return domain.to_text(omit_final_dot=True).lower()


# --------------------------------------------------------------------------- rules


def _rr(rrset: dns.rrset.RRset, *rds: dns.rdata.Rdata) -> tuple[str, ...]:
    """Records as zone-file lines: ``rds`` of ``rrset``, or all of it."""
    kind = dns.rdatatype.to_text(rrset.rdtype)
    # Sorted: live servers rotate RRset order, findings must not.
    return tuple(sorted(f"{rrset.name} {rrset.ttl} IN {kind} {r.to_text()}" for r in rds or rrset))


def _is_enum_service(service: str) -> bool:
    s = service.upper()
    return s.startswith("E2U") or s.endswith("+E2U")


def _looks_sip(service: str) -> bool:
    s = service.upper()
    return s.startswith(("SIP", "SIPS")) or "D2" in s


def lint_snapshot(snap: Snapshot) -> list[Finding]:
    """Every rule over every domain of the snapshot; findings in a stable order."""
    findings: list[Finding] = []
    for domain in snap.domains:
        findings += _lint_domain(snap, domain)
    # The same SRV set may be reached from two domains: report it once.
    unique = list(dict.fromkeys(findings))
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    return sorted(unique, key=lambda f: (order[f.severity], f.name, f.code, f.records))


def _lint_domain(snap: Snapshot, domain: dns.name.Name) -> list[Finding]:
    out: list[Finding] = []
    d = str(domain)
    naptrs = snap.get(domain, NAPTR)
    naptr_transports: dict[Transport, dns.name.Name] = {}
    srv_names: dict[dns.name.Name, Transport | None] = {}
    # The domain's NAPTR RRset, then those its empty-flag (non-terminal) records lead to,
    # as the resolver follows them (RFC 3404 §4.1; bounded by the resolver's NAPTR depth).
    pending = [naptrs] if naptrs is not None else []
    followed = {domain}
    while pending:
        rrset = pending.pop(0)
        out += _ttl(rrset)
        for rd in rrset:
            service = rd.service.decode(errors="replace")
            rec = _rr(rrset, rd)
            transport = service_transport(service)
            if transport is None:
                if _is_enum_service(service) or not _looks_sip(service):
                    continue
                guess = difflib.get_close_matches(service.upper(), SERVICE_TRANSPORT, 1, 0.6)
                fix = (
                    f'write "{guess[0]}"' if guess else "use one of " + ", ".join(SERVICE_TRANSPORT)
                )
                out.append(
                    Finding(
                        "naptr-unknown-service",
                        d,
                        rec,
                        f'service "{service}" is not a SIP NAPTR service: RFC 3263 clients skip '
                        f"records whose service they do not know, so no phone uses this one"
                        + (
                            f" ({TRANSPORTS[SERVICE_TRANSPORT[guess[0]]].transport} is lost to "
                            "NAPTR-following clients)"
                            if guess
                            else ""
                        )
                        + f". Fix: {fix}.",
                    )
                )
                continue
            flags = rd.flags.decode(errors="replace").lower()
            if flags == "a":
                out.append(
                    Finding(
                        "naptr-flag-a",
                        d,
                        rec,
                        'flag "a" sends clients to A/AAAA with the default port, skipping SRV '
                        'priority and weight; RFC 3263 SIP NAPTRs use "s". Fix: flag "s" and '
                        "point the replacement at the SRV name.",
                    )
                )
            elif "s" in flags and flags != "s":
                out.append(
                    Finding(
                        "naptr-flag-extra",
                        d,
                        rec,
                        f'flags "{flags}": RFC 3404 clients must ignore a record with a flag they '
                        'do not know, so strict clients discard it (Cisco EX terminals read "e" '
                        'as "external"). Fix: use "s" unless every client of this domain wants '
                        "the extra flag.",
                    )
                )
            elif flags == "" and (nested := snap.get(rd.replacement, NAPTR)) is not None:
                if rd.replacement not in followed and len(followed) < DEFAULT_LIMITS.naptr_depth:
                    followed.add(rd.replacement)
                    pending.append(nested)
                    out.append(
                        Finding(
                            "naptr-non-terminal",
                            d,
                            rec,
                            f"empty flags: the next lookup is the NAPTR at {rd.replacement} "
                            "(RFC 3404 non-terminal rule); RFC 3263 clients follow it, but "
                            "baresip, pjsip and Grandstream phones do not. Fix, if those "
                            'phones matter: copy its records here with flags "s".',
                        )
                    )
                continue
            elif flags != "s":
                out.append(
                    Finding(
                        "naptr-flag-not-s",
                        d,
                        rec,
                        f'flags "{flags}" on a SIP service: RFC 3263 expects "s" (next lookup is '
                        "SRV); clients treat anything else as non-terminal or unusable and skip "
                        f'{transport.value}. Fix: flags "s".',
                    )
                )
            if rd.replacement == dns.name.root:
                out.append(
                    Finding(
                        "naptr-replacement-no-srv",
                        d,
                        rec,
                        f'replacement is ".", so clients have nowhere to go for {transport.value}.'
                        " Fix: set the replacement to "
                        f"{TRANSPORTS[transport].srv_prefix}.{d}",
                    )
                )
                continue
            naptr_transports.setdefault(transport, rd.replacement)
            if "a" in flags and "s" not in flags:
                continue
            target_transport = srv_transport(rd.replacement)
            srv_names[rd.replacement] = transport
            if target_transport is not None and target_transport != transport:
                if transport.secure and not target_transport.secure:
                    out.append(
                        Finding(
                            "naptr-sips-to-sip",
                            d,
                            rec,
                            f"{service} (TLS) points at {rd.replacement}, an SRV name for "
                            f"{target_transport.value}: clients that asked for sips: get servers "
                            "reached without TLS, or fail the TLS handshake on a plain port. Fix: "
                            f"replacement {TRANSPORTS[transport].srv_prefix}.{d}",
                        )
                    )
                else:
                    out.append(
                        Finding(
                            "naptr-transport-mismatch",
                            d,
                            rec,
                            f"{service} ({transport.value}) points at {rd.replacement}, an SRV "
                            f"name for {target_transport.value}: clients connect with "
                            f"{transport.value} to ports meant for {target_transport.value}. Fix: "
                            f"replacement {TRANSPORTS[transport].srv_prefix}.{d}",
                        )
                    )
            srv = snap.get(rd.replacement, SRV)
            if rd.replacement in snap.unknown:
                continue
            if srv is None or all(r.target == dns.name.root for r in srv):
                why = "has no SRV records" if srv is None else 'only has the target "."'
                out.append(
                    Finding(
                        "naptr-replacement-no-srv",
                        d,
                        rec,
                        f"{rd.replacement} {why}: clients that follow NAPTR (Yealink, Grandstream "
                        f"in NAPTR/SRV mode, baresip) find no server for {transport.value}; "
                        "baresip never tries the next NAPTR, so it cannot register at all. Fix: "
                        f"add SRV records at {rd.replacement} or remove this NAPTR.",
                    )
                )
    # SRV names: the standard ones for every transport, plus NAPTR replacements.
    standard = {
        name: t
        for t, info in TRANSPORTS.items()
        if (name := srv_name(info.transport, domain)) is not None
    }
    for std_name, std_transport in standard.items():
        srv_names.setdefault(std_name, std_transport)
    any_srv = False
    for name, transport in srv_names.items():
        srv = snap.get(name, SRV)
        if srv is None:
            continue
        t = srv_transport(name) or transport
        real = [r for r in srv if r.target != dns.name.root]
        if not real:
            if t is not None and name in standard:
                out.append(
                    Finding(
                        "srv-service-unavailable",
                        str(name),
                        _rr(srv),
                        f'target "." says {t.value if t else "this service"} is decidedly not '
                        "offered here (RFC 2782); clients skip it.",
                    )
                )
            continue
        any_srv = True
        if (
            naptrs is not None
            and t is not None
            and t not in naptr_transports
            and name == srv_name(t, domain)
        ):
            out.append(
                Finding(
                    "srv-not-in-naptr",
                    str(name),
                    _rr(srv),
                    f"{name} offers {t.value}, but no NAPTR of {d} lists "
                    f"{TRANSPORTS[t].naptr_service}: clients that use NAPTR only try the "
                    "transports it lists, so they never use "
                    f'these servers. Fix: add a NAPTR "s" "{TRANSPORTS[t].naptr_service}" with '
                    f"replacement {name}, or drop these SRV records.",
                )
            )
        out += _lint_srv(snap, srv, real, t)
    unread = domain in snap.unknown or any(n in snap.unknown for n in standard)
    if naptrs is None and not any_srv and not unread:
        out.append(
            Finding(
                "no-sip-records",
                d,
                (),
                f"{d} has no NAPTR and no SRV for any SIP transport: clients fall back to the A "
                "record on port 5060 (UDP/TCP) only, with no failover or TLS. Fix: add SRV (and "
                "NAPTR) records, e.g. with `siplocate zone render`.",
            )
        )
    elif not snap.addresses(domain) and domain not in snap.unknown:
        out.append(
            Finding(
                "domain-no-address",
                d,
                (),
                f'{d} has SIP SRV/NAPTR records but no A/AAAA: phones left in "A Record" DNS mode '
                "(the Grandstream default) and clients without SRV support cannot reach it. Fix: "
                f"add an A record for {d} pointing at the primary server, or set those phones to "
                "NAPTR/SRV mode.",
            )
        )
    return out


def _lint_srv(
    snap: Snapshot, srv: dns.rrset.RRset, real: list[Any], t: Transport | None
) -> list[Finding]:
    out: list[Finding] = []
    name = str(srv.name)
    out += _ttl(srv)
    dots = [r for r in srv if r.target == dns.name.root]
    if dots:
        out.append(
            Finding(
                "srv-dot-with-targets",
                name,
                _rr(srv, *dots),
                f'{name} lists target "." (RFC 2782: service decidedly not available here) '
                'beside real servers: some clients stop at the ".", others try it as a host '
                'and fail, so what a client does depends on its SRV code. Fix: remove "." '
                "from this RRset (it is only meaningful alone).",
            )
        )
    drained = [r for r in real if r.priority == DRAIN_PRIORITY]
    if drained and len(drained) == len(real):
        out.append(
            Finding(
                "srv-none-in-rotation",
                name,
                _rr(srv, *drained),
                f"every target of {name} is at priority {DRAIN_PRIORITY} (drained): no server "
                "is left in rotation, clients only reach these as a last resort. Fix: "
                "`siplocate undrain` one of them, or add a server.",
            )
        )
    elif drained:
        for rd in drained:
            out.append(
                Finding(
                    "srv-drained",
                    name,
                    _rr(srv, rd),
                    f"{rd.target} is drained (priority {DRAIN_PRIORITY}): clients try it only "
                    "when every other server fails. Fix: `siplocate undrain "
                    f"{rd.target} --domain ...` when its maintenance is over.",
                )
            )
    seen: dict[tuple[dns.name.Name, int], int] = {}
    reachable: dict[dns.name.Name, list[str]] = {}
    for rd in real:
        target: dns.name.Name = rd.target
        port: int = rd.port
        rec = _rr(srv, rd)
        seen[(target, port)] = seen.get((target, port), 0) + 1
        if t is not None:
            if port == 5061 and not t.secure:
                out.append(
                    Finding(
                        "srv-port-transport",
                        name,
                        rec,
                        f"port 5061 is the SIP-over-TLS port, but {srv.name} is for {t.value}: "
                        f"clients send plain {t.value} to a TLS listener and get no answer. Fix: "
                        "port 5060, or move the record to _sips._tcp.",
                    )
                )
            elif port == 5060 and t.secure:
                out.append(
                    Finding(
                        "srv-port-transport",
                        name,
                        rec,
                        f"port 5060 is the plain SIP port, but {srv.name} is for {t.value}: "
                        "clients start a TLS handshake on a plain listener and fail. Fix: port "
                        "5061 (or where the TLS listener really is).",
                    )
                )
        if target in snap.unknown:
            out.append(
                Finding(
                    "srv-target-unchecked",
                    name,
                    rec,
                    f"{target} could not be looked up ({snap.unknown[target]}); pass its zone "
                    "file too, or check it live.",
                )
            )
            continue
        if target in snap.cnames:
            out.append(
                Finding(
                    "srv-target-cname",
                    name,
                    rec,
                    f"{target} is a CNAME for {snap.cnames[target]}: RFC 2782 says the target "
                    "must not be an alias; servers do not put its address in the additional "
                    "section and strict clients reject it. Fix: "
                    f"point the SRV at {snap.cnames[target]}.",
                )
            )
        addresses = snap.addresses(target)
        if not addresses:
            out.append(
                Finding(
                    "srv-target-no-address",
                    name,
                    rec,
                    f"{target} has no A or AAAA record: every client that picks it fails to "
                    "connect and must wait for its timeout before the next target. Fix: add an "
                    f"A/AAAA record for {target}.",
                )
            )
            continue
        reachable[target] = addresses
        for rdtype in (A, AAAA):
            rrset = snap.get(target, rdtype)
            if rrset is not None:
                out += _ttl(rrset)
    for (target, port), count in seen.items():
        if count > 1:
            recs = _rr(srv, *(r for r in real if r.target == target))
            out.append(
                Finding(
                    "srv-duplicate-target",
                    name,
                    recs,
                    f"{target} port {port} is listed {count} times (as in the Yealink guide's "
                    "onsip example, which lists server1 twice): the weights add up on one machine "
                    "and the second server never gets traffic. Fix: name each server once.",
                )
            )
    by_priority: dict[int, list[Any]] = {}
    for rd in real:
        by_priority.setdefault(rd.priority, []).append(rd)
    for priority, group in sorted(by_priority.items()):
        if len(group) > 1 and all(r.weight == 0 for r in group):
            out.append(
                Finding(
                    "srv-all-weights-zero",
                    name,
                    _rr(srv, *group),
                    f"priority {priority} has {len(group)} targets, all with weight 0: RFC 2782 "
                    "picks among them at random, clients that ignore weights always take the "
                    "same one, so the load split is unplanned. Fix: equal non-zero weights "
                    "(e.g. 10 and 10), or the ratio you want.",
                )
            )
    all_addresses = {a for addrs in reachable.values() for a in addrs}
    if len(reachable) == 1 or (len(reachable) > 1 and len(all_addresses) == 1):
        what = (
            f"only {next(iter(reachable))} has an address"
            if len(reachable) == 1
            else f"every target resolves to {next(iter(all_addresses))}"
        )
        out.append(
            Finding(
                "no-failover",
                name,
                _rr(srv),
                f"{what}: when that server is down every client fails, however many records "
                "there are. Fix: add a second server (another priority for standby, the same "
                "priority for load sharing).",
            )
        )
    return out


def _ttl(rrset: dns.rrset.RRset) -> list[Finding]:
    kind = dns.rdatatype.to_text(rrset.rdtype)
    if rrset.ttl > TTL_LONG:
        return [
            Finding(
                "ttl-long",
                str(rrset.name),
                _rr(rrset),
                f'{kind} TTL {rrset.ttl} s: resolvers and phones in "saved one until DNS TTL" '
                "mode keep the old answer that long, so a drained or replaced server keeps "
                f"getting traffic for up to {rrset.ttl} s. Fix: {TTL_LONG} s or less (300 s is "
                "common), lowered further a TTL ahead of planned changes.",
            )
        ]
    if rrset.ttl < TTL_SHORT:
        return [
            Finding(
                "ttl-short",
                str(rrset.name),
                _rr(rrset),
                f"{kind} TTL {rrset.ttl} s: almost every REGISTER and INVITE needs a fresh lookup, "
                "adding DNS round trips to call setup and load on the DNS servers; some "
                f"resolvers raise it anyway. Fix: {TTL_SHORT}-300 s.",
            )
        ]
    return []


# --------------------------------------------------------------------------- zone files

#: ZoneProblem.kind -> finding code (missing-field is refined by the record type).
_PROBLEM_CODES = {
    "syntax": "zone-syntax",
    "no-soa": "zone-no-soa",
    "out-of-zone": "zone-out-of-zone",
    "soa-not-at-top": "zone-soa-not-at-top",
    "cname-and-other": "zone-cname-and-other",
}


def _missing_field_message(rdtype: str, have: int) -> str:
    if rdtype == "SRV":
        hint = ""
        if have == 3:
            hint = (
                " With three numbers-or-names this is the DooxSwitch wiki's mistake: the "
                "weight is missing, so the port is read as the weight and the target as "
                "the port."
            )
        return (
            f"SRV needs priority, weight, port and target, this line has {have} value(s); "
            "the zone does not load, so the whole domain stops resolving."
            + hint
            + " Fix: e.g. `_sip._udp SRV 0 0 5060 host.tld.` (weight 0 when there is "
            "nothing to balance)."
        )
    return (
        f"NAPTR needs order, preference, flags, service, regexp and replacement, this line "
        f"has {have} value(s); the zone does not load. Fix: e.g. "
        '`@ NAPTR 100 0 "s" "SIP+D2U" "" _sip._udp`.'
    )


def _problem_finding(zone: IndexedZone, p: ZoneProblem) -> Finding:
    """A reader's problem as a finding, with BIND's line number."""
    if p.kind == "missing-field" and p.rdtype in ("SRV", "NAPTR"):
        code = f"{p.rdtype.lower()}-missing-field"
        message = _missing_field_message(p.rdtype, p.fields or 0)
    else:
        code = _PROBLEM_CODES.get(p.kind, "zone-syntax")
        message = p.message
        if p.kind == "syntax":
            message += "; the server refuses to load the zone"
    records = (p.text,) if p.text else ()
    return Finding(code, str(zone.origin), records, message, p.file, p.line)


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
        findings += [_problem_finding(zone, p) for p in zone.problems]
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
    order = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}
    findings.sort(
        key=lambda f: (
            files.get(f.file or "", len(files)),
            f.line is None,
            f.line or 0,
            order[f.severity],
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
                if any(not _is_enum_service(r.service.decode(errors="replace")) for r in naptr):
                    out.append(dns.name.from_text(key))
                break
            if rdtype == SRV and key.startswith("_") and "*" not in key:
                absolute = dns.name.from_text(key)
                if srv_transport(absolute) is not None:
                    out.append(absolute.parent().parent())
                break
    return list(dict.fromkeys(out))


def has_errors(findings: Iterable[Finding]) -> bool:
    return any(f.severity == Severity.ERROR for f in findings)

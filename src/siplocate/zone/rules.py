"""The lint rules as one table: each code a small function, registered with its severity,
what it means and the kind of item it judges.

``RULES`` (code -> Rule) is the registry ``zone lint``, ``check`` and ``watch`` all run
(``run``); ``CODES`` is its code -> (severity, meaning) view. A rule function takes one
item -- a zone-file problem, the domain, a NAPTR record, an SRV RRset, an SRV record, an
RRset -- and yields ``Hit``s (name, records, message); the registry makes them Findings.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, NamedTuple, TypeVar

import dns.name
import dns.rdatatype
import dns.rrset

from ..dns.zonefile import ZoneProblem
from ..limits import DEFAULT_LIMITS
from ..target import SERVICE_TRANSPORT, TRANSPORTS
from .findings import Finding, Severity
from .view import (
    ClientView,
    DomainSeen,
    NaptrSeen,
    RRsetSeen,
    SrvRecordSeen,
    SrvSeen,
    is_enum_service,
    looks_sip,
    rr,
    srv_name,
    srv_transport,
)

#: Where `siplocate drain` puts a host (zone/drain.py's DRAIN_PRIORITY; a test keeps them
#: equal). Repeated here so linting does not load the RFC 2136 update machinery.
DRAIN_PRIORITY = 65535
TTL_LONG = 3600  # above this, drain and failover changes reach clients too slowly
TTL_SHORT = 30  # below this, every call setup waits for DNS and the servers carry the load

ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


class Hit(NamedTuple):
    """What a rule found: the name and records involved and the message (what, for whom, fix)."""

    name: str
    records: tuple[str, ...]
    message: str


class Scope(StrEnum):
    """The kind of item a rule judges."""

    PROBLEM = "zone-file line"
    DOMAIN = "domain"
    NAPTR = "NAPTR record"
    SRV_SET = "SRV RRset"
    SRV_RECORD = "SRV record"
    RRSET = "RRset"


@dataclass(frozen=True)
class Rule:
    """One lint rule: its stable code (CI scripts match on it), severity, meaning, scope."""

    code: str
    severity: Severity
    meaning: str
    scope: Scope
    check: Callable[[Any], Iterable[Hit]]

    def run(self, item: object) -> Iterator[Finding]:
        for hit in self.check(item):
            yield Finding(self.code, self.severity, hit.name, hit.records, hit.message)


RULES: dict[str, Rule] = {}
F = TypeVar("F", bound=Callable[..., Iterable[Hit]])


def rule(code: str, severity: Severity, scope: Scope, meaning: str) -> Callable[[F], F]:
    """Register the decorated function as the rule ``code`` (one function per code)."""

    def register(check: F) -> F:
        assert code not in RULES, f"lint code {code} registered twice"
        RULES[code] = Rule(code, severity, meaning, scope, check)
        return check

    return register


def run(scope: Scope, items: Iterable[object]) -> list[Finding]:
    """Every rule of ``scope`` over every item, in registry order."""
    scoped = [r for r in RULES.values() if r.scope is scope]
    return [f for item in items for r in scoped for f in r.run(item)]


def run_view(view: ClientView) -> list[Finding]:
    """Every rule over everything a client reads for one domain."""
    return (
        run(Scope.NAPTR, view.naptrs)
        + run(Scope.SRV_SET, view.srvs)
        + run(Scope.SRV_RECORD, view.srv_records)
        + run(Scope.RRSET, view.rrsets)
        + run(Scope.DOMAIN, [view.domain])
    )


# --------------------------------------------------------------------------- zone-file lines


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


class ProblemSeen(NamedTuple):
    """A line (or the whole zone) the zone reader could not take, in the zone ``origin``."""

    origin: str
    problem: ZoneProblem

    def hit(self, message: str) -> Hit:
        return Hit(self.origin, (self.problem.text,) if self.problem.text else (), message)

    def missing(self, rdtype: str) -> bool:
        return self.problem.kind == "missing-field" and self.problem.rdtype == rdtype


_READER_KINDS = ("no-soa", "out-of-zone", "soa-not-at-top", "cname-and-other")


@rule("zone-syntax", ERROR, Scope.PROBLEM,
      "a zone-file line does not parse; the server rejects the zone")  # fmt: skip
def zone_syntax(p: ProblemSeen) -> Iterator[Hit]:
    if p.problem.kind == "syntax":
        yield p.hit(p.problem.message + "; the server refuses to load the zone")
    elif p.problem.kind not in _READER_KINDS and not (p.missing("SRV") or p.missing("NAPTR")):
        yield p.hit(p.problem.message)  # a kind this table does not know: still a bad line


@rule("zone-no-soa", ERROR, Scope.PROBLEM,
      "no SOA record (or nothing at all): no server loads the zone")  # fmt: skip
def zone_no_soa(p: ProblemSeen) -> Iterator[Hit]:
    if p.problem.kind == "no-soa":
        yield p.hit(p.problem.message)


@rule("zone-out-of-zone", WARNING, Scope.PROBLEM,
      "a record outside the zone's origin: servers ignore it")  # fmt: skip
def zone_out_of_zone(p: ProblemSeen) -> Iterator[Hit]:
    if p.problem.kind == "out-of-zone":
        yield p.hit(p.problem.message)


@rule("zone-cname-and-other", ERROR, Scope.PROBLEM,
      "a name with a CNAME and other data: zone refused")  # fmt: skip
def zone_cname_and_other(p: ProblemSeen) -> Iterator[Hit]:
    if p.problem.kind == "cname-and-other":
        yield p.hit(p.problem.message)


@rule("zone-soa-not-at-top", ERROR, Scope.PROBLEM,
      "an SOA record below the origin: zone refused")  # fmt: skip
def zone_soa_not_at_top(p: ProblemSeen) -> Iterator[Hit]:
    if p.problem.kind == "soa-not-at-top":
        yield p.hit(p.problem.message)


@rule("srv-missing-field", ERROR, Scope.PROBLEM,
      "an SRV line lacks one of priority, weight, port, target")  # fmt: skip
def srv_missing_field(p: ProblemSeen) -> Iterator[Hit]:
    if p.missing("SRV"):
        yield p.hit(_missing_field_message("SRV", p.problem.fields or 0))


@rule("naptr-missing-field", ERROR, Scope.PROBLEM, "a NAPTR line lacks one of its six fields")
def naptr_missing_field(p: ProblemSeen) -> Iterator[Hit]:
    if p.missing("NAPTR"):
        yield p.hit(_missing_field_message("NAPTR", p.problem.fields or 0))


# --------------------------------------------------------------------------- the domain


@rule("no-sip-records", ERROR, Scope.DOMAIN, "the domain has neither NAPTR nor SIP SRV records")
def no_sip_records(d: DomainSeen) -> Iterator[Hit]:
    if not d.has_naptr and not d.any_srv and not d.unread:
        name = str(d.domain)
        yield Hit(
            name,
            (),
            f"{name} has no NAPTR and no SRV for any SIP transport: clients fall back to the A "
            "record on port 5060 (UDP/TCP) only, with no failover or TLS. Fix: add SRV (and "
            "NAPTR) records, e.g. with `siplocate zone render`.",
        )


@rule("domain-no-address", WARNING, Scope.DOMAIN,
      'SRV/NAPTR but no A/AAAA: breaks "A Record" mode')  # fmt: skip
def domain_no_address(d: DomainSeen) -> Iterator[Hit]:
    if not d.has_naptr and not d.any_srv and not d.unread:
        return  # no-sip-records says more
    if not d.snap.addresses(d.domain) and d.domain not in d.snap.unknown:
        name = str(d.domain)
        yield Hit(
            name,
            (),
            f'{name} has SIP SRV/NAPTR records but no A/AAAA: phones left in "A Record" DNS '
            "mode (the Grandstream default) and clients without SRV support cannot reach it. "
            f"Fix: add an A record for {name} pointing at the primary server, or set those "
            "phones to NAPTR/SRV mode.",
        )


# --------------------------------------------------------------------------- NAPTR records


@rule("naptr-unknown-service", ERROR, Scope.NAPTR, "NAPTR service is not a SIP service (typo?)")
def naptr_unknown_service(n: NaptrSeen) -> Iterator[Hit]:
    service = n.service
    if n.transport is not None or is_enum_service(service) or not looks_sip(service):
        return
    guess = difflib.get_close_matches(service.upper(), SERVICE_TRANSPORT, 1, 0.6)
    fix = f'write "{guess[0]}"' if guess else "use one of " + ", ".join(SERVICE_TRANSPORT)
    lost = (
        f" ({TRANSPORTS[SERVICE_TRANSPORT[guess[0]]].transport} is lost to NAPTR-following clients)"
        if guess
        else ""
    )
    yield Hit(
        n.domain,
        n.record,
        f'service "{service}" is not a SIP NAPTR service: RFC 3263 clients skip records whose '
        f"service they do not know, so no phone uses this one{lost}. Fix: {fix}.",
    )


@rule("naptr-flag-not-s", ERROR, Scope.NAPTR, 'SIP NAPTR flag is neither "s" nor "a"')
def naptr_flag_not_s(n: NaptrSeen) -> Iterator[Hit]:
    flags = n.flags
    if n.transport is not None and n.terminal and "s" not in flags and flags != "a":
        yield Hit(
            n.domain,
            n.record,
            f'flags "{flags}" on a SIP service: RFC 3263 expects "s" (next lookup is SRV); '
            "clients treat anything else as non-terminal or unusable and skip "
            f'{n.transport.value}. Fix: flags "s".',
        )


@rule("naptr-non-terminal", INFO, Scope.NAPTR, "empty-flag NAPTR leading to another NAPTR")
def naptr_non_terminal(n: NaptrSeen) -> Iterator[Hit]:
    if n.follows:
        yield Hit(
            n.domain,
            n.record,
            f"empty flags: the next lookup is the NAPTR at {n.replacement} (RFC 3404 "
            "non-terminal rule); RFC 3263 clients follow it, but baresip, pjsip and "
            "Grandstream phones do not. Fix, if those phones matter: copy its records here "
            'with flags "s".',
        )


@rule("naptr-flag-a", WARNING, Scope.NAPTR,
      'SIP NAPTR flag "a": SRV priority and weight skipped')  # fmt: skip
def naptr_flag_a(n: NaptrSeen) -> Iterator[Hit]:
    if n.transport is not None and n.flags == "a":
        yield Hit(
            n.domain,
            n.record,
            'flag "a" sends clients to A/AAAA with the default port, skipping SRV priority '
            'and weight; RFC 3263 SIP NAPTRs use "s". Fix: flag "s" and point the '
            "replacement at the SRV name.",
        )


@rule("naptr-flag-extra", WARNING, Scope.NAPTR,
      'NAPTR flags like "se" that strict clients discard')  # fmt: skip
def naptr_flag_extra(n: NaptrSeen) -> Iterator[Hit]:
    flags = n.flags
    if n.transport is not None and "s" in flags and flags != "s":
        yield Hit(
            n.domain,
            n.record,
            f'flags "{flags}": RFC 3404 clients must ignore a record with a flag they do not '
            'know, so strict clients discard it (Cisco EX terminals read "e" as "external"). '
            'Fix: use "s" unless every client of this domain wants the extra flag.',
        )


@rule("naptr-sips-to-sip", ERROR, Scope.NAPTR,
      "a SIPS service points at a _sip. (non-TLS) name")  # fmt: skip
def naptr_sips_to_sip(n: NaptrSeen) -> Iterator[Hit]:
    to = srv_transport(n.replacement)
    if n.leads_to_srv and n.transport and to and n.transport.secure and not to.secure:
        yield Hit(
            n.domain,
            n.record,
            f"{n.service} (TLS) points at {n.replacement}, an SRV name for {to.value}: "
            "clients that asked for sips: get servers reached without TLS, or fail the TLS "
            f"handshake on a plain port. Fix: replacement "
            f"{TRANSPORTS[n.transport].srv_prefix}.{n.domain}",
        )


@rule("naptr-transport-mismatch", WARNING, Scope.NAPTR, "NAPTR service and SRV name disagree")
def naptr_transport_mismatch(n: NaptrSeen) -> Iterator[Hit]:
    t, to = n.transport, srv_transport(n.replacement)
    if not n.leads_to_srv or t is None or to is None or to == t or (t.secure and not to.secure):
        return  # the last case is naptr-sips-to-sip
    yield Hit(
        n.domain,
        n.record,
        f"{n.service} ({t.value}) points at {n.replacement}, an SRV name for {to.value}: "
        f"clients connect with {t.value} to ports meant for {to.value}. Fix: replacement "
        f"{TRANSPORTS[t].srv_prefix}.{n.domain}",
    )


@rule("naptr-replacement-no-srv", ERROR, Scope.NAPTR, "a NAPTR replacement has no SRV records")
def naptr_replacement_no_srv(n: NaptrSeen) -> Iterator[Hit]:
    t = n.transport
    if t is None or not n.terminal:
        return
    if n.replacement == dns.name.root:
        yield Hit(
            n.domain,
            n.record,
            f'replacement is ".", so clients have nowhere to go for {t.value}. Fix: set the '
            f"replacement to {TRANSPORTS[t].srv_prefix}.{n.domain}",
        )
        return
    snap, name = n.snap, n.replacement
    if not n.leads_to_srv or name in snap.unknown or not snap.was_asked(name, dns.rdatatype.SRV):
        return  # not read, or past the walk's bounds: not judged
    srv = snap.get(name, dns.rdatatype.SRV)
    if srv is None or all(r.target == dns.name.root for r in srv):
        why = "has no SRV records" if srv is None else 'only has the target "."'
        yield Hit(
            n.domain,
            n.record,
            f"{name} {why}: clients that follow NAPTR (Yealink, Grandstream in NAPTR/SRV "
            f"mode, baresip) find no server for {t.value}; baresip never tries the next "
            f"NAPTR, so it cannot register at all. Fix: add SRV records at {name} or "
            "remove this NAPTR.",
        )


# --------------------------------------------------------------------------- SRV RRsets


@rule("srv-not-in-naptr", WARNING, Scope.SRV_SET,
      "SRV for a transport the NAPTR records do not list")  # fmt: skip
def srv_not_in_naptr(s: SrvSeen) -> Iterator[Hit]:
    t, listed = s.transport, s.naptr_transports
    if not s.real or t is None or listed is None or t in listed:
        return
    if s.name != srv_name(TRANSPORTS[t], s.domain):
        return  # a NAPTR replacement elsewhere: the NAPTR rules judge it
    yield Hit(
        str(s.name),
        rr(s.rrset),
        f"{s.name} offers {t.value}, but no NAPTR of {s.domain} lists "
        f"{TRANSPORTS[t].naptr_service}: clients that use NAPTR only try the transports it "
        f'lists, so they never use these servers. Fix: add a NAPTR "s" '
        f'"{TRANSPORTS[t].naptr_service}" with replacement {s.name}, or drop these SRV records.',
    )


@rule("srv-service-unavailable", INFO, Scope.SRV_SET,
      'SRV target ".": service decidedly unavailable')  # fmt: skip
def srv_service_unavailable(s: SrvSeen) -> Iterator[Hit]:
    if not s.real and s.transport is not None and s.standard:
        yield Hit(
            str(s.name),
            rr(s.rrset),
            f'target "." says {s.transport.value} is decidedly not offered here (RFC 2782); '
            "clients skip it.",
        )


@rule("srv-dot-with-targets", ERROR, Scope.SRV_SET,
      'an SRV RRset mixes target "." with real targets')  # fmt: skip
def srv_dot_with_targets(s: SrvSeen) -> Iterator[Hit]:
    dots = [r for r in s.rrset if r.target == dns.name.root]
    if s.real and dots:
        yield Hit(
            str(s.name),
            rr(s.rrset, *dots),
            f'{s.name} lists target "." (RFC 2782: service decidedly not available here) '
            'beside real servers: some clients stop at the ".", others try it as a host and '
            'fail, so what a client does depends on its SRV code. Fix: remove "." from this '
            "RRset (it is only meaningful alone).",
        )


def _drained(s: SrvSeen) -> list[Any]:
    return [r for r in s.real if r.priority == DRAIN_PRIORITY]


@rule("srv-drained", WARNING, Scope.SRV_SET,
      "a target drained to priority 65535 (siplocate drain)")  # fmt: skip
def srv_drained(s: SrvSeen) -> Iterator[Hit]:
    drained = _drained(s)
    if len(drained) == len(s.real):
        return  # none (or all: srv-none-in-rotation)
    for rd in drained:
        yield Hit(
            str(s.name),
            rr(s.rrset, rd),
            f"{rd.target} is drained (priority {DRAIN_PRIORITY}): clients try it only when "
            f"every other server fails. Fix: `siplocate undrain {rd.target} --domain ...` "
            "when its maintenance is over.",
        )


@rule("srv-none-in-rotation", WARNING, Scope.SRV_SET,
      "every target of an SRV RRset is drained")  # fmt: skip
def srv_none_in_rotation(s: SrvSeen) -> Iterator[Hit]:
    drained = _drained(s)
    if drained and len(drained) == len(s.real):
        yield Hit(
            str(s.name),
            rr(s.rrset, *drained),
            f"every target of {s.name} is at priority {DRAIN_PRIORITY} (drained): no server "
            "is left in rotation, clients only reach these as a last resort. Fix: "
            "`siplocate undrain` one of them, or add a server.",
        )


@rule("srv-duplicate-target", WARNING, Scope.SRV_SET,
      "the same target and port listed twice")  # fmt: skip
def srv_duplicate_target(s: SrvSeen) -> Iterator[Hit]:
    seen: dict[tuple[dns.name.Name, int], int] = {}
    for rd in s.real:
        seen[(rd.target, rd.port)] = seen.get((rd.target, rd.port), 0) + 1
    for (target, port), count in seen.items():
        if count > 1:
            yield Hit(
                str(s.name),
                rr(s.rrset, *(r for r in s.real if r.target == target)),
                f"{target} port {port} is listed {count} times (as in the Yealink guide's "
                "onsip example, which lists server1 twice): the weights add up on one "
                "machine and the second server never gets traffic. Fix: name each server once.",
            )


@rule("srv-all-weights-zero", WARNING, Scope.SRV_SET,
      "all weights 0 in a priority with several targets")  # fmt: skip
def srv_all_weights_zero(s: SrvSeen) -> Iterator[Hit]:
    by_priority: dict[int, list[Any]] = {}
    for rd in s.real:
        by_priority.setdefault(rd.priority, []).append(rd)
    for priority, group in sorted(by_priority.items()):
        if len(group) > 1 and all(r.weight == 0 for r in group):
            yield Hit(
                str(s.name),
                rr(s.rrset, *group),
                f"priority {priority} has {len(group)} targets, all with weight 0: RFC 2782 "
                "picks among them at random, clients that ignore weights always take the "
                "same one, so the load split is unplanned. Fix: equal non-zero weights "
                "(e.g. 10 and 10), or the ratio you want.",
            )


@rule("no-failover", WARNING, Scope.SRV_SET, "one reachable target or one address: no failover")
def no_failover(s: SrvSeen) -> Iterator[Hit]:
    reachable = s.reachable()
    everywhere = {a for addresses in reachable.values() for a in addresses}
    if len(reachable) == 1:
        what = f"only {next(iter(reachable))} has an address"
    elif len(reachable) > 1 and len(everywhere) == 1:
        what = f"every target resolves to {next(iter(everywhere))}"
    else:
        return
    yield Hit(
        str(s.name),
        rr(s.rrset),
        f"{what}: when that server is down every client fails, however many records there "
        "are. Fix: add a second server (another priority for standby, the same priority for "
        "load sharing).",
    )


# --------------------------------------------------------------------------- SRV records


@rule("srv-port-transport", WARNING, Scope.SRV_RECORD, "SRV port does not fit the transport")
def srv_port_transport(r: SrvRecordSeen) -> Iterator[Hit]:
    t, port, name = r.srv.transport, r.rd.port, r.srv.name
    if t is None:
        return
    if port == 5061 and not t.secure:
        yield Hit(
            str(name),
            r.record,
            f"port 5061 is the SIP-over-TLS port, but {name} is for {t.value}: clients send "
            f"plain {t.value} to a TLS listener and get no answer. Fix: port 5060, or move "
            "the record to _sips._tcp.",
        )
    elif port == 5060 and t.secure:
        yield Hit(
            str(name),
            r.record,
            f"port 5060 is the plain SIP port, but {name} is for {t.value}: clients start a "
            "TLS handshake on a plain listener and fail. Fix: port 5061 (or where the TLS "
            "listener really is).",
        )


@rule("srv-target-unchecked", INFO, Scope.SRV_RECORD,
      "an SRV target lies outside the zones given")  # fmt: skip
def srv_target_unchecked(r: SrvRecordSeen) -> Iterator[Hit]:
    unknown = r.srv.snap.unknown
    if r.target in unknown:
        yield Hit(
            str(r.srv.name),
            r.record,
            f"{r.target} could not be looked up ({unknown[r.target]}); pass its zone file "
            "too, or check it live.",
        )


@rule("srv-target-cname", WARNING, Scope.SRV_RECORD,
      "an SRV target is a CNAME (RFC 2782 forbids it)")  # fmt: skip
def srv_target_cname(r: SrvRecordSeen) -> Iterator[Hit]:
    canonical = r.srv.snap.cnames.get(r.target)
    if r.looked_up and canonical is not None:
        yield Hit(
            str(r.srv.name),
            r.record,
            f"{r.target} is a CNAME for {canonical}: RFC 2782 says the target must not be "
            "an alias; servers do not put its address in the additional section and strict "
            f"clients reject it. Fix: point the SRV at {_end(canonical)}.",
        )


@rule("srv-target-no-address", ERROR, Scope.SRV_RECORD, "an SRV target has no A/AAAA record")
def srv_target_no_address(r: SrvRecordSeen) -> Iterator[Hit]:
    if r.looked_up and not r.srv.snap.addresses(r.target):
        yield Hit(
            str(r.srv.name),
            r.record,
            f"{r.target} has no A or AAAA record: every client that picks it fails to "
            "connect and must wait for its timeout before the next target. Fix: add an "
            f"A/AAAA record for {_end(r.target)}.",
        )


def _end(name: dns.name.Name) -> str:
    """A name to end a sentence with: without its final dot, so the sentence has one."""
    return name.to_text(omit_final_dot=True)


# --------------------------------------------------------------------------- any RRset


@rule("ttl-long", WARNING, Scope.RRSET, f"TTL above {TTL_LONG} s: failover and drains are slow")
def ttl_long(r: RRsetSeen) -> Iterator[Hit]:
    rrset: dns.rrset.RRset = r.rrset
    if rrset.ttl > TTL_LONG:
        yield Hit(
            str(rrset.name),
            rr(rrset),
            f"{dns.rdatatype.to_text(rrset.rdtype)} TTL {rrset.ttl} s: resolvers and phones "
            'in "saved one until DNS TTL" mode keep the old answer that long, so a drained '
            f"or replaced server keeps getting traffic for up to {rrset.ttl} s. Fix: "
            f"{TTL_LONG} s or less (300 s is common), lowered further a TTL ahead of planned "
            "changes.",
        )


@rule("ttl-short", WARNING, Scope.RRSET, f"TTL below {TTL_SHORT} s: DNS load, slower call setup")
def ttl_short(r: RRsetSeen) -> Iterator[Hit]:
    rrset: dns.rrset.RRset = r.rrset
    if rrset.ttl < TTL_SHORT:
        yield Hit(
            str(rrset.name),
            rr(rrset),
            f"{dns.rdatatype.to_text(rrset.rdtype)} TTL {rrset.ttl} s: almost every REGISTER "
            "and INVITE needs a fresh lookup, adding DNS round trips to call setup and load "
            f"on the DNS servers; some resolvers raise it anyway. Fix: {TTL_SHORT}-300 s.",
        )


@rule("rrset-bound", INFO, Scope.RRSET,
      f"an SRV or NAPTR RRset over {DEFAULT_LIMITS.rrset_records} records: only the most "
      "preferred were checked, as clients use them")  # fmt: skip
def rrset_bound(r: RRsetSeen) -> Iterator[Hit]:
    """Like every client, the walk used only the most preferred records of a big RRset, so
    only those were checked; the rest are neither followed nor judged (no false verdict)."""
    bound, count = DEFAULT_LIMITS.rrset_records, r.ranked
    if count > bound:
        kind = dns.rdatatype.to_text(r.rrset.rdtype)
        yield Hit(
            str(r.rrset.name),
            rr(r.rrset),
            f"only the {bound} most preferred of {count} {kind} records were checked: "
            "siplocate's resolver uses no more of one RRset (Limits.rrset_records), so the "
            f"rest were neither looked up nor judged. Fix, if the rest matter: keep {bound} "
            "or fewer per RRset.",
        )


#: code -> (severity, what it means). The codes are stable: CI scripts match on them.
CODES: dict[str, tuple[Severity, str]] = {c: (r.severity, r.meaning) for c, r in RULES.items()}

__all__ = ["CODES", "RULES", "Hit", "ProblemSeen", "Rule", "Scope", "rule", "run", "run_view"]

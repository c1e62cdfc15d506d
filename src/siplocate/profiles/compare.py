"""What each kind of client does with one domain: the profiles applied to one walk.

``look`` runs the resolver's one RFC 3263 walk (``Resolver.observe``), asking also the SRV
names and the domain's A/AAAA that some clients use when RFC 3263 would not. ``plan`` is
pure: it applies one ``Profile`` to that ``Seen`` (no DNS question of its own), giving the
client's try order, its load split and what goes wrong for it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import dns.name
import dns.rdata
import dns.rdatatype

from ..resolution import Branch, Host, Naptr
from ..resolver import Observation, Resolver
from ..resolver.rfc2782 import first_choice_shares
from ..resolver.rules import DnsMode, decode_naptr, interleave, naptr_rank, text
from ..target import SERVICE_TRANSPORT, SRV_FALLBACK_ORDER, SipUri, Target, Transport, Via
from ..trace import TraceEntry
from . import libre
from .catalogue import PROFILES, Aaaa, Naptrs, Ordering, Profile

SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
NAPTR = dns.rdatatype.NAPTR


@dataclass(frozen=True, slots=True)
class Record:
    """One NAPTR record of the domain, its transport (None: not a SIP service we know) and
    the branch it leads to (None: its replacement has no usable records)."""

    naptr: Naptr
    transport: Transport | None
    branch: Branch | None


@dataclass(frozen=True, slots=True)
class Seen:
    """A domain's records as clients look at them, all from one ``Resolver.observe``."""

    domain: str
    naptrs: tuple[Record, ...]  # the domain's NAPTR records, in (order, preference) order
    srv: dict[Transport, Branch | None]  # _sips._tcp, _sip._tcp, _sip._udp (None: no records)
    addresses: tuple[str, ...]  # the domain's own A/AAAA
    walk: tuple[Branch, ...]  # what RFC 3263 (siplocate) does
    unanswered: dict[str, str] = field(default_factory=dict)  # name -> why no answer
    trace: tuple[TraceEntry, ...] = ()  # every question of the one walk, and its notes


async def look(resolver: Resolver, domain: str) -> Seen:
    """One walk of ``domain`` (its NAPTR chain) plus every SRV name and the domain's A/AAAA,
    all through the resolver's cache: everything any profile needs."""
    uri = SipUri.parse(domain)
    if uri.is_numeric or uri.port is not None or uri.transport or uri.maddr or uri.secure:
        from ..errors import BadInput

        raise BadInput(
            f"compare takes a SIP domain (or sip:domain), not {domain!r}: no IP address, "
            "port, transport, maddr or sips: (the profiles describe sip: registrations)"
        )
    name = dns.name.from_text(uri.host)
    srv_names = [(t, dns.name.Name(tuple(_labels(t)) + name.labels)) for t in SRV_FALLBACK_ORDER]
    also = [(n, SRV) for _, n in srv_names] + [(name, A), (name, AAAA)]
    seen = await resolver.observe(uri, also)
    looked = dict(zip((t for t, _ in srv_names), seen.looked, strict=False))
    return Seen(
        uri.host,
        _records(seen, name),
        {t: looked.get(t) for t, _ in srv_names},
        tuple(_addresses(seen, name)),
        seen.branches,
        {text(n): why for n, why in seen.unanswered.items()},
        seen.trace,
    )


def _labels(t: Transport) -> list[bytes]:
    return [p.encode() for p in t.info.srv_prefix.split(".")]


def _final(seen: Observation, name: dns.name.Name, rdtype: int) -> list[dns.rdata.Rdata]:
    """The records of ``rdtype`` at ``name`` the walk was given, CNAMEs followed."""
    for _ in range(9):  # at most the walk's own CNAME chain limit (8) hops
        answer = next((a for a in seen.answers if a.name == name and a.rdtype == rdtype), None)
        if answer is None:
            return []
        if not answer.chain_unfinished:
            return answer.records
        name = answer.canonical
    return []


def _addresses(seen: Observation, name: dns.name.Name) -> list[str]:
    six = [r.to_text() for r in _final(seen, name, AAAA) if r.rdtype == AAAA]
    four = [r.to_text() for r in _final(seen, name, A) if r.rdtype == A]
    return four + six


def _records(seen: Observation, name: dns.name.Name) -> tuple[Record, ...]:
    """The domain's NAPTR records, sorted as the walk sorts them, each with its branch."""
    naptrs = []
    for rd in _final(seen, name, NAPTR):
        try:
            naptrs.append(decode_naptr(rd))
        except (UnicodeDecodeError, AttributeError, ValueError):
            continue  # the walk noted it; no client can use it either
    naptrs.sort(key=naptr_rank)
    by_naptr = {b.naptr: b for b in seen.branches if b.naptr is not None}
    by_name = {(b.srv_name or "").lower(): b for b in (*seen.branches, *seen.looked) if b}
    out = []
    for rec in naptrs:
        branch = by_naptr.get(rec)
        if branch is None and rec.flags.lower().startswith("s"):  # "s", and "se" for some
            branch = by_name.get(rec.replacement.lower())
        out.append(Record(rec, SERVICE_TRANSPORT.get(rec.service.upper()), branch))
    return tuple(out)


# -------------------------------------------------------------------------- one profile


@dataclass(frozen=True, slots=True)
class Share:
    """How often one server is the first one tried."""

    transport: Transport
    host: str
    port: int
    weight: int | None
    share: float

    def as_dict(self) -> dict[str, object]:
        return {
            "transport": self.transport.value,
            "host": self.host,
            "port": self.port,
            "weight": self.weight,
            "share": round(self.share, 6),
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """What one kind of client does with the domain: its try order (the first entry is where
    it sends its first REGISTER), how first attempts split, and what goes wrong for it."""

    profile: Profile
    targets: tuple[Target, ...]
    split_rule: str
    split: tuple[Share, ...]
    problems: tuple[str, ...]

    @property
    def first(self) -> Target | None:
        return self.targets[0] if self.targets else None

    def as_dict(self) -> dict[str, object]:
        return {
            "profile": self.profile.key,
            "title": self.profile.title,
            "first": self.first.as_dict() if self.first else None,
            "targets": [t.as_dict() for t in self.targets],
            "split": {"rule": self.split_rule, "shares": [s.as_dict() for s in self.split]},
            "problems": list(self.problems),
            "definition": self.profile.as_dict(),
        }


def plan(
    profile: Profile, seen: Seen, reference: Plan | None = None, aor: str | None = None
) -> Plan:
    """``profile`` applied to ``seen``; ``reference`` (the RFC 3263 plan) is what the
    problems are told against ("reaches UDP" where RFC 3263 reaches TLS); ``aor`` (the
    account, e.g. ``sip:alice@example.com``) decides the order of hash-ordering clients."""
    problems: list[str] = []
    branches = _branches(profile, seen, problems)
    targets = _order(profile, branches, aor)
    candidates = len(targets)
    if not profile.failover:
        targets = targets[:1]
    rule, split = _split(profile, branches, aor)
    if profile.mode is not DnsMode.STATIC:
        problems += _judge(profile, seen, targets, candidates, split, reference, bool(problems))
        problems += _dropped_ipv6(profile, branches)
    return Plan(profile, tuple(targets), rule, tuple(split), tuple(problems))


def _dropped_ipv6(profile: Profile, branches: list[Branch]) -> list[str]:
    """The IPv6 addresses of the servers it uses that it never tries, and why."""
    if profile.aaaa not in (Aaaa.NO, Aaaa.FALLBACK):
        return []
    hosts = [h for b in branches for g in b.groups for h in g]
    six = {a for h in hosts for a in h.addresses if ":" in a}
    kept = {a for h in hosts for a in _addresses_in_order(profile, h.addresses)}
    dropped = sorted(six - kept)
    if not dropped:
        return []
    n = len(dropped)
    return [
        f"never tries {n} IPv6 address{'es' if n > 1 else ''} ({dropped[0]}"
        f"{', ...' if n > 1 else ''}): {profile.no_ipv6 or 'IPv4 only'}"
    ]


def compare(
    seen: Seen, profiles: Sequence[Profile] = PROFILES, aor: str | None = None
) -> list[Plan]:
    """Every profile applied to one observation, RFC 3263 first (the reference)."""
    from .catalogue import RFC3263

    reference = plan(RFC3263, seen, aor=aor)
    return [reference if p is RFC3263 else plan(p, seen, reference, aor) for p in profiles]


def _usable(profile: Profile, rec: Record) -> bool:
    return (
        rec.transport in profile.transports
        and _sip_service(rec)
        and profile.follows_flags(rec.naptr.flags)
        and rec.naptr.replacement not in (".", "")
        and not (profile.empty_regexp_only and rec.naptr.regexp)
    )


def _sip_service(rec: Record) -> bool:
    return rec.naptr.service.upper().startswith(("SIP+", "SIPS+"))


def _branches(profile: Profile, seen: Seen, problems: list[str]) -> list[Branch]:
    """The branches this client uses, in its order (problems it meets on the way added)."""
    if profile.mode is DnsMode.STATIC:
        return []
    if profile.key == "rfc3263":
        return list(seen.walk)
    if profile.mode is DnsMode.A:
        return _domain_branch(profile, seen, profile.transports[0], problems, "A-Record-mode")
    if profile.a_first and seen.addresses:  # sipgo: SRV only when the domain has no address
        return _domain_branch(profile, seen, _default_transport(profile), problems, "")
    if profile.mode is DnsMode.NAPTR and profile.naptrs is not Naptrs.NONE:
        usable = [r for r in seen.naptrs if _usable(profile, r)]
        if usable:
            return _naptr_branches(profile, seen, usable, problems)
        sip = [r for r in seen.naptrs if _sip_service(r)]
        if sip and profile.naptrs is Naptrs.LOCAL_TRANSPORT:  # nta: no SRV/A fallback now
            problems.append(
                f"its SIP NAPTR records ({sip[0].naptr.service} first) name no transport it "
                "uses, and they turn its SRV and A fallback off: finds no server (503)"
            )
            return []
    found: list[Branch] = []
    for t in profile.srv_order:
        branch = seen.srv.get(t)
        if branch is not None and not branch.not_offered:
            found.append(branch)
            if not profile.srv_all:
                break
    if found:
        if profile.a_after_srv:
            found += _domain_branch(profile, seen, found[0].transport, [], "")
        return found
    asked = ", ".join(f"{t.info.srv_prefix}" for t in profile.srv_order) or "no SRV name"
    if not profile.a_fallback:
        if "A fallback" in profile.unknown:
            problems.append(
                f"no SRV records at {asked}: finds no server, unless it falls back to the "
                "domain's A record (no source says)"
            )
        else:
            problems.append(f"no SRV records at {asked}: this client finds no server")
        return []
    transport = _default_transport(profile)
    return _domain_branch(profile, seen, transport, problems, f"no SRV at {asked}, and")


def _default_transport(profile: Profile) -> Transport:
    """The transport without NAPTR or SRV: UDP for sip: when the client has it (RFC 3263)."""
    return Transport.UDP if Transport.UDP in profile.transports else profile.transports[0]


def _naptr_branches(
    profile: Profile, seen: Seen, usable: list[Record], problems: list[str]
) -> list[Branch]:
    first = usable[0]
    if profile.naptrs is Naptrs.LOCAL_TRANSPORT:
        first = _local_first(profile, usable)
    if profile.naptrs is Naptrs.FIRST:
        chosen = [first]
    elif profile.naptrs in (Naptrs.ONE_TRANSPORT, Naptrs.LOCAL_TRANSPORT):
        chosen = [
            r
            for r in usable
            if r.transport is first.transport and r.naptr.order == first.naptr.order
        ]
    elif profile.naptrs is Naptrs.UNTIL_SIPS:
        chosen, strict = [], None
        for r in usable:
            if strict is None or r.naptr.order == strict:
                chosen.append(r)
                if r.transport is Transport.TLS:
                    strict = r.naptr.order
    else:
        chosen = usable
    out = [r.branch for r in chosen if r.branch is not None and r.branch.groups]
    if out:
        return out
    service = first.naptr.service
    if profile.naptrs is Naptrs.FIRST and first.transport is not None and first.branch is None:
        # libre's srv_handler: the NAPTR chose the transport; no SRV -> the domain's A/AAAA.
        why = f"uses only the first NAPTR ({service}), whose {first.naptr.replacement} has no SRV"
        found = _domain_branch(profile, seen, first.transport, problems, f"{why}, and")
        if found:
            port = first.transport.default_port
            problems.append(
                f"{why}: tries {first.transport.upper()} to the domain's A record, port {port}"
            )
        return found
    problems.append(f"the NAPTR records it uses ({service} first) lead to no server")
    return []


def _local_first(profile: Profile, usable: list[Record]) -> Record:
    """sofia-sip's outgoing_naptr_tport: its first local transport, unless another one's
    first NAPTR has an order <= AND a preference strictly < it; its first record."""
    firsts: dict[Transport, Record] = {}
    for r in usable:
        if r.transport is not None:
            firsts.setdefault(r.transport, r)
    none = (65536, 65536)

    def rank(t: Transport) -> tuple[int, int]:
        r = firsts.get(t)
        return (r.naptr.order, r.naptr.preference) if r else none

    chosen = profile.transports[0]
    for t in profile.transports[1:]:
        (o, p), (co, cp) = rank(t), rank(chosen)
        if o <= co and p < cp:
            chosen = t
    return firsts.get(chosen, usable[0])


def _domain_branch(
    profile: Profile, seen: Seen, transport: Transport, problems: list[str], why: str
) -> list[Branch]:
    """The domain's own A/AAAA on ``transport``'s default port."""
    addresses = _addresses_in_order(profile, seen.addresses)
    if not addresses:
        if why == "A-Record-mode" and profile.key.startswith("grandstream"):
            problems.append("no A record at the domain: A-Record-mode phones cannot register")
        elif why == "A-Record-mode":
            problems.append("no A record at the domain, the only name it looks up: no server")
        elif why:
            problems.append(f"{why} no A record at the domain: finds no server")
        return []
    if profile.mode is DnsMode.A:
        addresses = addresses[:1]
    host = Host.build(transport, Via.A, seen.domain, transport.default_port, None, None, addresses)
    return [Branch.build(transport, Via.A, None, [host])]


def _addresses_in_order(profile: Profile, addresses: Sequence[str]) -> tuple[str, ...]:
    """A host's addresses in the order this client uses them."""
    six = [a for a in addresses if ":" in a]
    four = [a for a in addresses if ":" not in a]
    if profile.aaaa is Aaaa.NO:
        return tuple(four)
    if profile.aaaa is Aaaa.FALLBACK:
        return tuple(four or six)
    if profile.aaaa is Aaaa.FIRST:
        return (*six, *four)
    return tuple(interleave(six, four))


def _ranked(profile: Profile, group: Sequence[Host], aor: str | None) -> list[Host]:
    """One priority group in the order shown: the most likely first for weighted draws and
    for a hash over unknown accounts, the account's own order when ``aor`` is given, name
    order where it depends on something DNS does not show (the answer's order)."""
    canonical = sorted(group, key=lambda h: (h.name, h.port))
    if profile.ordering is Ordering.HASH:
        if aor is not None:
            return libre.order(canonical, aor)
        share = dict(zip((id(h) for h in canonical), libre.shares(canonical), strict=True))
        return sorted(canonical, key=lambda h: -share[id(h)])
    if profile.ordering is Ordering.ANSWER:
        return canonical
    if profile.ordering is Ordering.ONE_DRAWN:
        drawn = dict(zip((id(h) for h in canonical), _shares(profile, canonical, aor), strict=True))
        return sorted(canonical, key=lambda h: -drawn[id(h)])
    return sorted(canonical, key=lambda h: -(h.weight or 0))


def _order(profile: Profile, branches: list[Branch], aor: str | None) -> list[Target]:
    seen: set[tuple[Transport, str, int]] = set()
    out: list[Target] = []
    for branch in branches:
        for group in _groups(profile, branch):
            ranked = _ranked(profile, group, aor)
            if profile.ordering is Ordering.ONE_DRAWN:
                ranked = ranked[:1]  # the others of this priority are dropped
            for host in ranked:
                by_address = {t.address: t for t in host.targets}
                for address in _addresses_in_order(profile, host.addresses):
                    t = by_address[address]
                    key = (t.transport, t.address, t.port)
                    if key not in seen:
                        seen.add(key)
                        out.append(t)
    return out


def _groups(profile: Profile, branch: Branch) -> list[list[Host]]:
    """The branch's priority groups, or one group of all when it ignores priorities."""
    if profile.priorities:
        return [list(g) for g in branch.groups]
    return [[h for g in branch.groups for h in g]]


def _shares(profile: Profile, group: Sequence[Host], aor: str | None) -> list[float]:
    """Share of first attempts of each host of ``group`` (already in ``_ranked`` order)."""
    weights = [h.weight or 0 for h in group]
    if profile.ordering is Ordering.HASH:
        return [1.0] + [0.0] * (len(group) - 1) if aor is not None else libre.shares(group)
    if profile.ordering is Ordering.RFC2782:
        return first_choice_shares(weights)
    if profile.ordering is Ordering.ONE_DRAWN:  # r = rand % (S+1), first running sum >= r
        total, n = sum(weights), len(weights)  # averaged over which record is listed first
        return [(w + 1 / n) / (total + 1) for w in weights]
    if profile.ordering is Ordering.ZERO_LAST:
        total = sum(weights)  # weight-0 records come only after every weighted one
        return [w / total for w in weights] if total else first_choice_shares(weights)
    if profile.ordering is Ordering.WEIGHT_DESC:
        top = max(weights)
        ties = weights.count(top)
        return [1 / ties if w == top else 0.0 for w in weights]
    return [1 / len(group)] * len(group)


SPLIT_RULES = {
    Ordering.RFC2782: "RFC 2782 weights",
    Ordering.ZERO_LAST: "RFC 2782 weights, weight 0 only after the rest",
    Ordering.ONE_DRAWN: "one per priority, drawn by weight (rand % (S+1))",
    Ordering.HASH: "fixed hash of each account (over many accounts)",
    Ordering.ANSWER: "answer order (even if the server rotates)",
    Ordering.WEIGHT_DESC: "highest weight always first",
}


def _split(profile: Profile, branches: list[Branch], aor: str | None) -> tuple[str, list[Share]]:
    """Who gets the first attempts: the first priority tier of the first branch used."""
    branch = next((b for b in branches if b.groups), None)
    if branch is None:
        return "none", []
    group = [h for h in _groups(profile, branch)[0] if _addresses_in_order(profile, h.addresses)]
    if not group:
        return "none", []
    group = _ranked(profile, group, aor)
    if len(group) == 1:
        return "one server", [Share(branch.transport, group[0].name, group[0].port, None, 1.0)]
    rule = SPLIT_RULES[profile.ordering]
    if profile.ordering is Ordering.HASH and aor is not None:
        rule = f"fixed hash of {aor}"
    return rule, [
        Share(branch.transport, h.name, h.port, h.weight, s)
        for h, s in zip(group, _shares(profile, group, aor), strict=True)
    ]


def _judge(
    profile: Profile,
    seen: Seen,
    targets: list[Target],
    candidates: int,
    split: list[Share],
    reference: Plan | None,
    explained: bool,
) -> list[str]:
    """What goes wrong for this client, told against what RFC 3263 does."""
    out: list[str] = []
    for name, why in seen.unanswered.items():
        out.append(f"could not look at {name}: {why}")
    ref_first = reference.first if reference else None
    first = targets[0] if targets else None
    sip_naptrs = [  # the records RFC 3263 follows ("se" and other flags are not among them)
        r
        for r in seen.naptrs
        if r.transport is not None and r.branch is not None and r.naptr.flags.lower() in ("s", "a")
    ]
    ignores = sip_naptrs and (profile.mode is not DnsMode.NAPTR or profile.naptrs is Naptrs.NONE)
    if ignores and ref_first is not None and first is not None:
        lead = sip_naptrs[0].transport
        if first.transport is not ref_first.transport:
            out.append(
                f"ignores your {str(lead).upper()}-first NAPTR: reaches {first.transport.upper()}"
            )
        elif (
            reference is not None
            and profile.mode is not DnsMode.A
            and _flows(targets) - _flows(list(reference.targets))
        ):
            out.append("ignores your NAPTR records: tries servers they do not list")
    out += _naptr_limits(profile, seen)
    if (
        ref_first is not None
        and first is not None
        and first.transport is not ref_first.transport
        and not explained
        and not any("reaches" in p for p in out)
    ):
        out.append(
            f"starts on {first.transport.upper()} where RFC 3263 starts on "
            f"{ref_first.transport.upper()}"
        )
    weights = {s.weight for s in split}
    if len(split) > 1 and profile.ordering is Ordering.ONE_DRAWN:
        rest = len(split) - 1
        out.append(
            "keeps one server per priority, drawn by weight: "
            + ("the other server" if rest == 1 else f"the {rest} other servers")
            + " of the first priority "
            + ("is" if rest == 1 else "are")
            + " never tried"
        )
    drawn = (Ordering.RFC2782, Ordering.ZERO_LAST, Ordering.ONE_DRAWN)
    if len(weights) > 1 and profile.ordering not in drawn:
        wanted = ":".join(str(s.weight) for s in split)
        rfc = "/".join(f"{r:.0%}" for r in first_choice_shares([s.weight or 0 for s in split]))
        top = max(split, key=lambda s: s.share)
        if profile.ordering is Ordering.HASH:  # over accounts, whatever account was given
            named = [Host(s.host, s.port, None, s.weight, (), ()) for s in split]
            spread = "/".join(f"{x:.0%}" for x in libre.shares(named))
            got = f"{spread} over accounts"
            if top.share >= 0.999:
                got += f", this account always {top.host}"
        elif top.share >= 0.999:
            got = f"100% on {top.host}"
        else:
            got = "/".join(f"{s.share:.0%}" for s in split)
        out.append(f"weights ignored: {got} (weights {wanted}, RFC 2782: {rfc})")
    if profile.ordering is Ordering.ZERO_LAST and 0 in weights and len(weights) > 1:
        out.append("weight-0 servers get no first attempts (RFC 2782 gives them 1/(S+1))")
    if not profile.failover and first is not None:
        out.append(_no_failover(profile, first, candidates))
    if profile.mode is DnsMode.A and first is not None and reference is not None:
        servers = {t.address for t in reference.targets if t.via is not Via.A}
        if servers and first.address not in servers:
            out.append(f"the domain's A record ({first.address}) is none of your SIP servers")
    if not targets and not out and not explained:
        out.append("finds no server")
    return out


def _naptr_limits(profile: Profile, seen: Seen) -> list[str]:
    """What its way of choosing among NAPTR records leaves out, when one transport fails."""
    out: list[str] = []
    one = (Naptrs.FIRST, Naptrs.ONE_TRANSPORT, Naptrs.LOCAL_TRANSPORT)
    if profile.naptrs in one and profile.mode is DnsMode.NAPTR:
        usable = [r for r in seen.naptrs if _usable(profile, r)]
        used = usable[0] if usable else None
        if used is not None and profile.naptrs is Naptrs.LOCAL_TRANSPORT:
            used = _local_first(profile, usable)
        others = {r.transport for r in usable if used and r.transport is not used.transport}
        if used is not None and others and used.branch is not None:
            names = ", ".join(sorted(t.upper() for t in others if t is not None))
            what = {
                Naptrs.FIRST: "the first NAPTR",
                Naptrs.ONE_TRANSPORT: "the first NAPTR's transport",
                Naptrs.LOCAL_TRANSPORT: "one NAPTR transport",
            }[profile.naptrs]
            out.append(
                f"uses only {what} ({used.naptr.service}): never tries {names} "
                f"if {str(used.transport).upper()} fails"
            )
    if profile.naptrs is Naptrs.UNTIL_SIPS and profile.mode is DnsMode.NAPTR:
        usable = [r for r in seen.naptrs if _usable(profile, r)]
        sips = next((r for r in usable if r.transport is Transport.TLS), None)
        later = {r.transport for r in usable if sips and r.naptr.order > sips.naptr.order}
        if sips is not None and later - {Transport.TLS}:
            names = ", ".join(sorted(t.upper() for t in later if t is not None))
            out.append(
                f"a SIPS+D2T NAPTR ends its NAPTR search at order {sips.naptr.order}: never "
                f"tries {names} if TLS fails"
            )
    return out


def _no_failover(profile: Profile, first: Target, candidates: int) -> str:
    """What a client without DNS failover leaves untried when its first target is down."""
    if any("second" in u or "failover" in u for u in profile.unknown):
        return (
            f"no DNS failover documented: if {first.address} is down, whether it tries "
            "another address is unknown"
        )
    if candidates > 1:
        others = "target is" if candidates == 2 else f"{candidates - 1} targets are"
        return f"no DNS failover: if {first.address} is down, the other {others} never tried"
    if profile.mode is DnsMode.A:
        return f"no DNS failover: A Record mode uses one address ({first.address}) and no other"
    return f"no DNS failover: if {first.address} is down, nothing else is tried"


def _flows(targets: list[Target]) -> set[tuple[Transport, str, int]]:
    return {(t.transport, t.address, t.port) for t in targets}


__all__ = ["Plan", "Record", "Seen", "Share", "compare", "look", "plan"]

"""One RFC 3263 §4.1/§4.2 walk: NAPTR -> SRV -> A/AAAA for one SIP URI, over a cache.

Questions go through the cache (``dns/cache.py``, the only place they are de-duplicated);
independent ones are asked together (the NAPTR with the fallback SRV names, every target's
A and AAAA). A reply's additional section serves this walk for the names the reply points
at; when it gave one address family only, the walk goes on with it and asks the other in
the background (``Background``), for the Resolver to fold in later. Every decision is a
trace note; every bound comes from ``Limits`` and is noted when hit.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Coroutine
from dataclasses import dataclass
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV

from .dns import CachingSource
from .dns.source import Answer, NameKey, Origin, name_key
from .errors import DnsError, NotFound
from .limits import Limits
from .profiles.modes import DnsMode
from .resolution import Branch, Host, Naptr
from .target import (
    SERVICE_TRANSPORT,
    SRV_FALLBACK_ORDER,
    SRV_PREFIX_TRANSPORT,
    TRANSPORTS,
    SipUri,
    Target,
    Transport,
    Via,
)
from .trace import Note, Query, TraceEntry

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
Key = tuple[NameKey, dns.rdatatype.RdataType]
Asked = tuple[Answer | None, list[str]]  # an answer (None: none to be had) and alias notes
#: SRV owner prefix labels per transport, e.g. (b"_sip", b"_udp"), from the transport table.
_SRV_LABELS = {t: tuple(p.encode() for p in i.srv_prefix.split(".")) for t, i in TRANSPORTS.items()}


@dataclass(slots=True)
class Background:
    """An address question the walk did not wait for (the other family was in the reply)."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    task: asyncio.Future[Answer]
    asked: float  # event-loop time
    arrived: float | None = None


class Walk:
    """One RFC 3263 resolution: the trace, the shortest TTL used, this walk's glue."""

    def __init__(
        self,
        cache: CachingSource,
        limits: Limits,
        transports: tuple[Transport, ...],
        uri: SipUri,
        glue: dict[Key, Answer] | None = None,
        mode: DnsMode = DnsMode.NAPTR,
        static: tuple[Target, ...] = (),
    ) -> None:
        self.cache = cache
        self.limits = limits
        self.transports = transports
        self.uri = uri
        self.mode = mode
        self.static = static  # the configured addresses of DnsMode.STATIC, in order
        self.trace: list[TraceEntry] = []
        self.ttl: float = math.inf
        self.errors: list[str] = []
        self.unanswered: dict[dns.name.Name, str] = {}  # names no server answered for
        self.answers: list[Answer] = []  # every answer used, as it came (for observe())
        self.stale = False
        self.glue: dict[Key, Answer] = dict(glue) if glue else {}
        self.background: list[Background] = []
        self.folding = glue is not None
        self._speculative: list[tuple[dns.name.Name, asyncio.Future[Asked]]] = []
        # Speculative replies stay unparsed until the NAPTR answer says whether they matter.
        self._naptr_read = asyncio.Event()
        self._nxdomain: set[NameKey] = set()
        self._naptr_owners: set[NameKey] = set()
        self._naptrs_used = 0
        self.started: float | None = None  # loop time run() began: the RFC 8767 timer's start

    # -- questions ---------------------------------------------------------------------------

    async def ask(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        network: bool = True,
        defer: asyncio.Event | None = None,
    ) -> tuple[Answer | None, list[str]]:
        """The answer at the end of any CNAME chain (at most ``limits.cname_chain`` hops),
        from the cache, this walk's glue or (when ``network``) the nameservers; and notes
        on the aliases seen. Without ``network``, an unknown answer is ``(None, ["?"])``."""
        notes: list[str] = []
        hops = 0
        while True:
            answer = self.cache.peek(name, rdtype) or self.glue.get((name_key(name), rdtype))
            if answer is None:
                if not network:
                    return None, ["?"]
                try:
                    answer = await self.cache.answer(name, rdtype, defer, self.started)
                except DnsError as exc:
                    self.errors.append(str(exc))
                    self.unanswered.setdefault(name, str(exc))
                    self.note(str(exc))
                    return None, notes
                self.learn(answer)
            self.record(answer)
            for alias, canonical in answer.cnames:
                notes.append(f"{text(alias)} is a CNAME for {text(canonical)}")
            hops += len(answer.cnames)
            if hops > self.limits.cname_chain:
                self.note(f"CNAME chain from {text(name)} longer than {self.limits.cname_chain}")
                return None, notes
            if not answer.chain_unfinished:
                return answer, notes
            name = answer.canonical

    async def look(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Branch | None:
        """Ask one more question for ``observe()``; an SRV name's targets are resolved too,
        and its branch returned (None: no SRV records there, or not an SRV question)."""
        if rdtype != SRV:
            await self.ask(name, rdtype)
            return None
        prefix = b".".join(name.labels[:2]).decode(errors="replace").lower()
        transport = SRV_PREFIX_TRANSPORT.get(prefix, Transport.UDP)
        return await self.srv_branch(transport, Via.SRV, name)

    def record(self, answer: Answer) -> None:
        """Put a question and its answer in the trace; count its TTL towards the chain's."""
        self.trace.append(query_entry(answer))
        self.trace.extend(Note(n) for n in answer.notes)
        self.answers.append(answer)
        if answer.ttl < self.ttl:
            self.ttl = answer.ttl
        if answer.source is Origin.STALE:
            self.stale = True
        if answer.nxdomain:
            self._nxdomain.add(name_key(answer.name))

    def learn(self, answer: Answer) -> None:
        """Keep the additional records this reply carries for names its own records point
        at (NAPTR -> SRV -> A/AAAA), for this walk only (RFC 2181 §5.4.1)."""
        if not answer.additional or answer.rrset is None:
            return
        extra = {
            (name_key(r.name), r.rdtype): r
            for r in answer.additional
            if r.rdclass == dns.rdataclass.IN
        }
        wanted: list[tuple[dns.name.Name, dns.rdatatype.RdataType]] = []
        for rd in answer.rrset:
            if isinstance(rd, dns.rdtypes.IN.NAPTR.NAPTR):
                wanted += [(rd.replacement, SRV), (rd.replacement, A), (rd.replacement, AAAA)]
            elif isinstance(rd, dns.rdtypes.IN.SRV.SRV):
                wanted += [(rd.target, A), (rd.target, AAAA)]
        for owner, rdtype in wanted:  # grows by SRV targets: bounded by the reply's records
            rrset = extra.pop((name_key(owner), rdtype), None)
            if rrset is None:
                continue
            ttl = self.limits.clamp_ttl(rrset.ttl)
            self.glue[(name_key(owner), rdtype)] = Answer(
                owner, rdtype, dns.rcode.NOERROR, rrset, ttl, Origin.ADDITIONAL, 0.0,
                answer.server,
            )  # fmt: skip
            if rdtype == SRV:
                wanted += [(rd.target, t) for rd in rrset for t in (A, AAAA)]

    def note(self, message: str) -> None:
        self.trace.append(Note(message))

    def drop_speculative(self, keep: Collection[NameKey] = ()) -> None:
        """Cancel the parallel SRV questions a NAPTR made moot (their replies go unread),
        except those for names in ``keep`` (the NAPTR records point there too)."""
        dropped = []
        for name, task in self._speculative:
            if not task.done() and name_key(name) not in keep:
                task.cancel()
                dropped.append(text(name))
        if dropped:
            self.note(f"NAPTR records found: parallel SRV questions dropped ({', '.join(dropped)})")
        self._speculative = []

    # -- RFC 3263 ----------------------------------------------------------------------------

    async def run(self) -> list[Branch]:
        self.started = asyncio.get_running_loop().time()
        sip = self.uri
        host = sip.lookup_host
        if self.mode is DnsMode.STATIC:
            return self.static_branches()
        if sip.maddr:
            self.note(f"maddr={sip.maddr}: resolving it instead of {sip.host} (RFC 3263 §4)")
        if sip.is_numeric:
            transport = self.choose_default(sip.transport)
            port = sip.port or transport.default_port
            self.note(f"{host} is an IP address: no DNS; {transport} to port {port}")
            literal = Host.build(transport, Via.LITERAL, host, port, None, None, (host,))
            return [Branch.build(transport, Via.LITERAL, None, [literal])]
        name = dns.name.from_text(host)
        if sip.port is not None:
            transport = self.choose_default(sip.transport)
            self.note(f"explicit port {sip.port}: no NAPTR or SRV, A/AAAA only (RFC 3263 §4.2)")
            return [await self.address_branch(transport, Via.A, name, sip.port)]
        if self.mode is DnsMode.A:
            transport = self.choose_default(sip.transport)
            self.note(
                f"DNS mode a: no NAPTR or SRV, A/AAAA for {host} with {transport} "
                f"port {transport.default_port}"
            )
            return [await self.address_branch(transport, Via.A, name, transport.default_port)]
        if sip.transport is not None:
            transport = self.choose_default(sip.transport)
            srv_name = self.srv_name(transport, name)
            branch = None
            if srv_name is not None:
                self.note(f"transport={transport} given: SRV {text(srv_name)}, else A/AAAA")
                branch = await self.srv_branch(transport, Via.SRV, srv_name)
            if branch is not None:
                return [branch]
            if not self.may_fall_back([srv_name]):
                return []
            self.note(f"no SRV records: A/AAAA for {host}, port {transport.default_port}")
            return [await self.address_branch(transport, Via.A, name, transport.default_port)]

        fallback = [
            (t, n)
            for t in SRV_FALLBACK_ORDER
            if t in self.transports
            and (t.secure or not sip.secure)
            and (n := self.srv_name(t, name)) is not None
        ]
        # RFC 3263 §4.1 asks NAPTR first and SRV only when there is none; both are asked at
        # once so that a domain without NAPTR costs one round trip, not two.
        self._speculative = [
            (n, asyncio.ensure_future(self.ask(n, SRV, defer=self._naptr_read)))
            for _, n in fallback
        ]
        branches = None
        if self.mode is DnsMode.NAPTR:
            try:
                branches = await self.naptr_branches(name, 0)
            finally:
                self._naptr_read.set()
        else:
            self._naptr_read.set()
            names = ", ".join(text(n) for _, n in fallback) or "none"
            self.note(f"DNS mode srv: NAPTR not asked; SRV for {names}")
        if branches is not None:
            return branches
        found = []
        for (transport, srv_name), (_, task) in zip(fallback, self._speculative, strict=True):
            answer, notes = await task
            branch = await self.srv_branch(transport, Via.SRV, srv_name, None, (answer, notes))
            if branch is not None:
                found.append(branch)
        if found:
            return found
        if not self.may_fall_back([name, *(n for _, n in fallback)]):
            return []
        transport = self.choose_default(None)
        self.note(
            f"no NAPTR or SRV records: A/AAAA for {host} with {transport} "
            f"port {transport.default_port} (RFC 3263 §4.2)"
        )
        return [await self.address_branch(transport, Via.A, name, transport.default_port)]

    def static_branches(self) -> list[Branch]:
        """DnsMode.STATIC: the configured addresses, primary first, one branch each so the
        order stays as configured (no DNS, no weighted shuffle)."""
        listed = ", ".join(t.hostport for t in self.static)
        self.note(f"DNS mode static: configured addresses {listed}, no DNS")
        return [
            Branch.build(
                t.transport,
                Via.LITERAL,
                None,
                [Host.build(t.transport, Via.LITERAL, t.host, t.port, None, None, (t.address,))],
            )
            for t in self.static
        ]

    async def naptr_branches(self, name: dns.name.Name, depth: int) -> list[Branch] | None:
        """Branches from the usable NAPTR records at ``name``, or None when there are none."""
        owner = name_key(name)
        if owner in self._naptr_owners:
            self.note(f"NAPTR at {text(name)} reached again: loop ignored")
            return []
        self._naptr_owners.add(owner)
        answer, _ = await self.ask(name, NAPTR)
        if answer is None or answer.rrset is None:
            return None
        usable = self.usable_naptrs(self.naptr_records(answer))
        if not usable:
            self.note(
                f"NAPTR records at {text(name)} but none usable by this client "
                f"({', '.join(t.value for t in self.transports)}): treated as no NAPTR"
            )
            return None
        if depth == 0 and self._speculative:
            glued = {k for k, t in self.glue if t == SRV}
            needed = {name_key(r.replacement_name) for r, _ in usable} - glued
            self.drop_speculative(keep=needed)
            self._naptr_read.set()
        jobs: list[Coroutine[Any, Any, Branch | list[Branch] | None]] = []
        for rec, transport in usable:
            flag = rec.flags.lower()
            if flag == "s":
                jobs.append(self.srv_branch(transport, Via.NAPTR, rec.replacement_name, rec))
            elif flag == "a":
                port = transport.default_port
                jobs.append(
                    self.address_branch(transport, Via.NAPTR, rec.replacement_name, port, rec)
                )
            else:
                jobs.append(self.nested_naptr(rec, depth))
        branches: list[Branch] = []
        for result in await asyncio.gather(*jobs):
            if isinstance(result, Branch):
                branches.append(result)
            elif result:
                branches.extend(result)
        if not any(b.groups for b in branches):
            self.note("the NAPTR records lead to no usable SRV or address records")
        return branches

    async def nested_naptr(self, rec: Naptr, depth: int) -> list[Branch]:
        if depth + 1 >= self.limits.naptr_depth:
            self.note(f"{rec}: non-terminal NAPTR chain deeper than {self.limits.naptr_depth}")
            return []
        self.note(f"{rec}: empty flag, next NAPTR lookup at {rec.replacement}")
        return await self.naptr_branches(rec.replacement_name, depth + 1) or []

    def naptr_records(self, answer: Answer) -> list[Naptr]:
        """The NAPTR records of an answer, decoded; malformed ones skipped with a note, and
        no more than the walk's NAPTR budget (fan-out) and records-per-RRset allow."""
        out: list[Naptr] = []
        for rd in answer.records:
            try:
                out.append(_naptr(rd))
            except (UnicodeDecodeError, AttributeError, ValueError):
                self.note(f"malformed NAPTR at {text(answer.name)} skipped: {rd.to_text()!r}")
        out.sort(key=_naptr_rank)
        keep = min(
            len(out),
            self.limits.rrset_records,
            max(0, self.limits.naptr_records - self._naptrs_used),
        )
        if keep < len(out):
            self.note(
                f"{len(out) - keep} NAPTR record(s) at {text(answer.name)} not used: at most "
                f"{self.limits.rrset_records} per RRset and {self.limits.naptr_records} per locate"
            )
        self._naptrs_used += keep
        return out[:keep]

    def usable_naptrs(self, records: list[Naptr]) -> list[tuple[Naptr, Transport]]:
        """RFC 3263 §4.1 filter (records arrive sorted by order and preference)."""
        sip = self.uri
        usable: list[tuple[Naptr, Transport]] = []
        for rec in records:
            service = rec.service.upper()
            transport = SERVICE_TRANSPORT.get(service)
            flags = rec.flags.lower()
            if not service.startswith(("SIP+", "SIPS+")):
                why = "not a SIP service"
            elif transport is None:
                why = f"unknown SIP service {rec.service!r}"
            elif sip.secure and not transport.secure:
                why = "sips: URI keeps only SIPS services"
            elif transport not in self.transports:
                why = f"this client does not support {transport}"
            elif flags not in ("s", "a", ""):
                why = f"flags {rec.flags!r} are not S, A or empty (RFC 3404: unknown flags)"
            elif rec.replacement in (".", ""):
                why = "no replacement (regexp-only), unusable for SIP"
            else:
                if rec.regexp:
                    self.note(f"{rec}: regexp ignored, SIP NAPTRs use the replacement (RFC 3263)")
                usable.append((rec, transport))
                continue
            self.note(f"{rec}: {why}, ignored")
        return usable

    async def srv_branch(
        self,
        transport: Transport,
        via: Via,
        srv_name: dns.name.Name,
        naptr: Naptr | None = None,
        asked: tuple[Answer | None, list[str]] | None = None,
    ) -> Branch | None:
        """The hosts of one SRV name, each with its addresses; None when there are no SRV."""
        answer, notes = asked or await self.ask(srv_name, SRV)
        for n in notes:
            self.note(f"{n} (RFC 2782: SRV owner names should not be aliases)")
        if answer is None or answer.rrset is None:
            return None
        records = [r for r in answer.records if isinstance(r, dns.rdtypes.IN.SRV.SRV)]
        if len(records) == 1 and records[0].target == dns.name.root:
            self.note(
                f"SRV {text(srv_name)} has the lone target '.': "
                f"{transport} service not offered there (RFC 2782)"
            )
            return Branch.build(transport, via, text(srv_name), [], naptr, not_offered=True)
        real = [r for r in records if r.target != dns.name.root]
        if len(real) < len(records):
            self.note(f"SRV {text(srv_name)} mixes '.' with real targets: '.' skipped")
        if len(real) > self.limits.rrset_records:
            real.sort(key=lambda r: (r.priority, -r.weight))
            self.note(
                f"SRV {text(srv_name)} has {len(real)} records: the "
                f"{self.limits.rrset_records} most preferred used"
            )
            real = real[: self.limits.rrset_records]
        names = list(dict.fromkeys(rec.target for rec in real))
        found = dict(
            zip(names, await asyncio.gather(*(self.addresses(n) for n in names)), strict=True)
        )
        hosts = []
        for rec in real:
            addresses, host_notes = found[rec.target]
            hosts.append(
                Host.build(
                    transport,
                    via,
                    text(rec.target),
                    rec.port,
                    rec.priority,
                    rec.weight,
                    addresses,
                    tuple(host_notes),
                )
            )
        return Branch.build(transport, via, text(srv_name), hosts, naptr)

    async def address_branch(
        self,
        transport: Transport,
        via: Via,
        name: dns.name.Name,
        port: int,
        naptr: Naptr | None = None,
    ) -> Branch:
        addresses, notes = await self.addresses(name, srv_target=False)
        host = Host.build(transport, via, text(name), port, None, None, addresses, tuple(notes))
        return Branch.build(transport, via, None, [host], naptr)

    async def addresses(
        self, name: dns.name.Name, srv_target: bool = True
    ) -> tuple[tuple[str, ...], list[str]]:
        """A and AAAA of ``name``, interleaved IPv6-first per RFC 8305 (at most
        ``limits.addresses_per_target``). When the cache or this walk's glue has one family
        and not the other, the walk goes on with the one it has and asks the other in the
        background; with neither, both are asked together and awaited."""
        known = {t: self.ask(name, t, network=False) for t in (AAAA, A)}
        results = {}
        for rdtype, coro in known.items():
            results[rdtype] = await coro  # no network: returns at once
        missing = [t for t, (_, n) in results.items() if n == ["?"]]
        have = any(a is not None and a.rrset for a, _ in results.values())
        if missing and have and not self.folding:
            self.ask_later(name, missing[0])
        elif missing:  # nothing to go on with: ask and wait
            asked = await asyncio.gather(*(self.ask(name, t) for t in missing))
            results.update(zip(missing, asked, strict=True))
            missing = []
        (v6, notes6), (v4, notes4) = results[AAAA], results[A]
        notes = list(dict.fromkeys(n for n in notes6 + notes4 if n != "?"))
        if notes and srv_target:
            notes = [f"{n}: RFC 2782 says SRV targets must not be aliases" for n in notes]
        for n in notes:
            self.note(n)
        six = [r.to_text() for r in v6.records if r.rdtype == AAAA] if v6 else []
        four = [r.to_text() for r in v4.records if r.rdtype == A] if v4 else []
        merged: list[str] = []
        for i in range(max(len(six), len(four))):
            merged.extend(x[i] for x in (six, four) if i < len(x))
        if len(merged) > self.limits.addresses_per_target:
            self.note(
                f"{text(name)} has {len(merged)} addresses: the first "
                f"{self.limits.addresses_per_target} used"
            )
            merged = merged[: self.limits.addresses_per_target]
        if not merged:
            self.note(f"{text(name)} has no A or AAAA records: skipped")
            notes.append("no A/AAAA records: skipped")
        return tuple(merged), notes

    def ask_later(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Ask one address family in the background; the chain is completed when it comes."""
        if any(b.name == name and b.rdtype == rdtype for b in self.background):
            return
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(self.cache.answer(name, rdtype))
        job = Background(name, rdtype, task, loop.time())

        def arrived(done: asyncio.Future[Answer]) -> None:
            job.arrived = loop.time()
            if not done.cancelled():
                done.exception()  # a failure here only leaves the chain as it is

        task.add_done_callback(arrived)
        self.background.append(job)
        kind = dns.rdatatype.to_text(rdtype)
        self.note(
            f"{kind} for {text(name)} not known yet: asked in the background, the chain "
            "goes on with the other family (RFC 2782: use what the additional data gave)"
        )

    # -- helpers -----------------------------------------------------------------------------

    def may_fall_back(self, names: list[dns.name.Name | None]) -> bool:
        """RFC 3263 §4.2 falls back to A/AAAA when no SRV records *were found*; a question
        that got no answer at all (timeout, SERVFAIL, truncated over TCP) found nothing
        either way, so it is not a reason to try port 5060 on the domain's address."""
        failed = [text(n) for n in names if n is not None and n in self.unanswered]
        if failed:
            self.note(f"no answer for {', '.join(failed)}: no A/AAAA fallback (RFC 3263 §4.2)")
        return not failed

    def srv_name(self, transport: Transport, domain: dns.name.Name) -> dns.name.Name | None:
        """``_sip._udp.<domain>`` etc., or None (noted) when that would exceed 255 octets."""
        try:
            return dns.name.Name(_SRV_LABELS[transport] + domain.labels)
        except dns.exception.DNSException:
            self.note(f"{transport}: SRV name for {text(domain)} would be too long: skipped")
            return None

    def choose_default(self, given: Transport | None) -> Transport:
        """The URI's transport, else UDP for sip and TLS for sips (RFC 3263 §4.1)."""
        sip = self.uri
        if given is not None:
            if given not in self.transports:
                raise NotFound(
                    f"{sip} asks for transport {given}, which this client does not "
                    f"support ({', '.join(t.value for t in self.transports)})"
                )
            return given
        preferred = (
            (Transport.TLS,) if sip.secure else (Transport.UDP, Transport.TCP, Transport.TLS)
        )
        for t in preferred:
            if t in self.transports:
                if t is not preferred[0]:
                    self.note(f"this client lacks {preferred[0]}: using {t}")
                return t
        raise NotFound(f"{sip} needs a secure transport and this client supports none")

    def reason(self, branches: list[Branch]) -> str:
        """One line saying why nothing usable came out."""
        host = self.uri.lookup_host
        if not self.uri.is_numeric and name_key(dns.name.from_text(host)) in self._nxdomain:
            return f"{host} does not exist (NXDOMAIN)"
        if branches and all(b.not_offered for b in branches):
            return f"{host} says SIP is not offered there (SRV target '.')"
        names = sorted({h.name for b in branches for h in b.hosts})
        if all(b.srv_name is None for b in branches):
            lead = "no usable NAPTR or SRV records, and "
            if self.mode is DnsMode.A:
                lead = "DNS mode a (no NAPTR or SRV asked): "
            elif self.uri.port:
                lead = ""
            return f"{lead}{', '.join(names or [host])} has no A/AAAA records"
        return f"no address for any target of {host}: {', '.join(names)} have no A/AAAA records"


def query_entry(answer: Answer) -> Query:
    return Query(
        answer.name,
        answer.rdtype,
        answer.source.value,
        answer.latency * 1000,
        answer.rcode,
        answer.ttl,
        tuple(answer.rrset) if answer.rrset is not None else (),
        "" if answer.rrset is not None else answer.describe(),
        answer.server,
    )


def _naptr_rank(rec: Naptr) -> tuple[int, int, int]:
    """Order, then preference; ties go to TLS, TCP, UDP (RFC 3263's own fallback order), so
    the result does not depend on the order a server happened to list the records in."""
    transport = SERVICE_TRANSPORT.get(rec.service.upper())
    rank = SRV_FALLBACK_ORDER.index(transport) if transport in SRV_FALLBACK_ORDER else 3
    return rec.order, rec.preference, rank


def text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


def _naptr(rdata: object) -> Naptr:
    """A NAPTR rdata with its text fields decoded (UnicodeDecodeError if they are not text)."""
    rd: dns.rdtypes.IN.NAPTR.NAPTR = rdata  # type: ignore[assignment]
    return Naptr(
        rd.order,
        rd.preference,
        rd.flags.decode(),
        rd.service.decode(),
        rd.regexp.decode(),
        text(rd.replacement),
        rd.replacement,
    )

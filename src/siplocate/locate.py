"""RFC 3263 §4.1/§4.2: from a SIP URI to the ordered list of targets a client must try.

``Resolver.locate`` walks NAPTR -> SRV -> A/AAAA through its cache (``dns/cache.py``, the
only place questions are de-duplicated), asking independent questions together: the NAPTR
with the fallback SRV names, every SRV target's A and AAAA. A reply's additional section
serves the walk that asked for the names the reply points at (RFC 2782 lets a client use
the address records it carries); when it gave only one address family, the walk returns at
once and asks the other in the background, folding it into the cached chain when it comes.
Every question and decision goes into the trace; every bound is in ``Limits``. The chain is
kept until its shortest TTL runs out, so repeated calls only re-order it.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.IN.NAPTR
import dns.rdtypes.IN.SRV

from .dns import CachingSource, DnsSource, make_source
from .dns.cache import STALE_TTL
from .dns.source import Answer, NameKey, Origin, name_key
from .errors import DnsError, NotFound
from .limits import DEFAULT_LIMITS, Limits
from .resolution import Branch, Host, Naptr, Resolution, order_targets
from .srv import rng_for
from .target import (
    DEFAULT_TRANSPORTS,
    SERVICE_TRANSPORT,
    SRV_FALLBACK_ORDER,
    SRV_PREFIX_TRANSPORT,
    TRANSPORTS,
    SipUri,
    Target,
    Transport,
    Via,
    parse_transports,
)
from .trace import Note, Query, TraceEntry

NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA
_Key = tuple[NameKey, dns.rdatatype.RdataType]
_Asked = tuple[Answer | None, list[str]]  # an answer (None: none to be had) and alias notes
#: SRV owner prefix labels per transport, e.g. (b"_sip", b"_udp"), from the transport table.
_SRV_LABELS = {t: tuple(p.encode() for p in i.srv_prefix.split(".")) for t, i in TRANSPORTS.items()}


@dataclass(slots=True)
class _Background:
    """An address question the walk did not wait for (the other family was in the reply)."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    task: asyncio.Future[Answer]
    asked: float  # event-loop time
    arrived: float | None = None


@dataclass(frozen=True, slots=True)
class Observation:
    """What one walk saw: its branches and targets, every answer it used (CNAMEs included),
    the names no server answered for, and the trace."""

    branches: tuple[Branch, ...]
    targets: tuple[Target, ...]
    answers: tuple[Answer, ...]
    unanswered: dict[dns.name.Name, str]
    trace: tuple[TraceEntry, ...]


@dataclass(slots=True)
class _Chain:
    """What one walk found, reusable until ``deadline`` (on the resolver's clock)."""

    uri: SipUri
    branches: tuple[Branch, ...]
    trace: tuple[TraceEntry, ...]
    expires: float | None  # wall clock
    deadline: float
    reason: str | None  # why nothing is usable, when that is so
    glue: dict[_Key, Answer] = field(default_factory=dict)  # this walk's additional data
    background: list[_Background] = field(default_factory=list)
    _cached_trace: tuple[TraceEntry, ...] | None = None

    @property
    def cached_trace(self) -> tuple[TraceEntry, ...]:
        """The trace as a later call sees it: every question answered from the cache."""
        if self._cached_trace is None:
            self._cached_trace = (
                *(e.cached() if isinstance(e, Query) else e for e in self.trace),
                Note("whole chain served from the resolver's cache: no DNS question asked"),
            )
        return self._cached_trace

    @property
    def ready_to_fold(self) -> bool:
        return bool(self.background) and all(b.task.done() for b in self.background)


class Resolver:
    """Locates SIP targets (RFC 3263) with its own DNS cache; reuse one per application.

    ``nameservers``: ``["127.0.0.1:5300", ...]`` (default /etc/resolv.conf); ``zones``:
    zone files to answer from instead (offline); ``transports``: what this client speaks;
    ``limits``: every bound on the work DNS data can cause; ``clock``: monotonic seconds
    (injectable, so TTL expiry is tested without waiting).
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        zones: Sequence[Path | str] | None = None,
        transports: Iterable[str | Transport] | str = DEFAULT_TRANSPORTS,
        *,
        source: DnsSource | None = None,
        timeout: float = 1.5,
        limits: Limits = DEFAULT_LIMITS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.transports = parse_transports(
            transports if isinstance(transports, str) else tuple(transports)
        )
        self.limits = limits
        self.clock = clock
        inner = source or make_source(
            list(nameservers) if nameservers else None,
            [Path(z) for z in zones] if zones else None,
            timeout=timeout,
            limits=limits,
        )
        self.cache = CachingSource(inner, limits, clock)
        self._chains: dict[tuple[object, ...], _Chain] = {}
        self._walking: dict[tuple[object, ...], asyncio.Future[_Chain]] = {}
        self._parsed: dict[str, SipUri] = {}

    def parse(self, target: str | SipUri) -> SipUri:
        """SipUri from text (memoised: the same strings come back on every request)."""
        if isinstance(target, SipUri):
            return target
        parsed = self._parsed.get(target)
        if parsed is None:
            parsed = SipUri.parse(target)
            if len(self._parsed) >= self.limits.cache_entries:
                self._parsed.clear()
            self._parsed[target] = parsed
        return parsed

    async def locate(
        self, target: str | SipUri, *, seed: int | None = None, key: object | None = None
    ) -> Resolution:
        """The ordered target list for ``target``, with the chain and trace behind it.

        ``seed`` makes the weighted order reproducible; ``key`` (e.g. a Call-ID) makes the
        same key always give the same order (RFC 3263 §4.4). Raises NotFound when DNS
        answers but nothing is usable, DnsError when DNS cannot be reached (or the walk
        outlives ``limits.deadline``), BadInput for a malformed target.
        """
        uri = self.parse(target)
        memo = (uri.scheme, uri.lookup_host, uri.port, uri.transport)
        chain = self._chains.get(memo)
        if chain is not None and chain.deadline > self.clock():
            if chain.ready_to_fold:
                chain = await self._fold(memo, chain)
            trace = chain.cached_trace
        else:
            chain = await self._shared_walk(memo, uri)
            trace = chain.trace
        targets = order_targets(chain.branches, rng_for(seed, key), self.limits.targets)
        resolution = Resolution(uri, targets, chain.branches, trace, chain.expires)
        if not targets:
            raise NotFound(chain.reason or f"no usable targets for {uri}", resolution)
        return resolution

    async def observe(
        self,
        target: str | SipUri,
        also: Iterable[tuple[dns.name.Name, dns.rdatatype.RdataType]] = (),
    ) -> Observation:
        """Walk ``target`` afresh (no chain reuse) and return everything the walk saw,
        plus the answers to ``also`` asked through the same cache: what ``zone lint`` and
        ``check`` judge, so they see exactly the records ``locate`` follows."""
        walk = _Walk(self, self.parse(target))
        try:
            async with asyncio.timeout(self.limits.deadline):
                branches = await walk.run()
                await asyncio.gather(*(walk.look(name, rdtype) for name, rdtype in also))
        except TimeoutError:
            raise DnsError(
                f"resolving {target} took longer than {self.limits.deadline:g} s"
            ) from None
        finally:
            walk.drop_speculative()
        targets = order_targets(tuple(branches), rng_for(0), self.limits.targets)
        return Observation(
            tuple(branches), tuple(targets), tuple(walk.answers), dict(walk.unanswered),
            tuple(walk.trace),
        )  # fmt: skip

    def close(self) -> None:
        """Close the DNS sockets (a Resolver used after this opens new ones)."""
        close = getattr(self.cache.inner, "close", None)
        if close is not None:
            close()

    def forget(self) -> None:
        """Drop every cached answer and chain (e.g. after a zone change)."""
        self._chains.clear()
        self.cache.clear()

    async def _shared_walk(self, memo: tuple[object, ...], uri: SipUri) -> _Chain:
        """Concurrent locates of one URI share one walk, as the cache shares one question."""
        walking = self._walking.get(memo)
        if walking is None:
            walking = asyncio.ensure_future(self._walk(uri))
            self._walking[memo] = walking
            walking.add_done_callback(lambda done: self._walked(memo, done))
        chain = await asyncio.shield(walking)
        if chain.deadline > self.clock():
            self._keep(memo, chain)
        return chain

    def _walked(self, memo: tuple[object, ...], done: asyncio.Future[_Chain]) -> None:
        self._walking.pop(memo, None)
        if not done.cancelled():
            done.exception()  # every waiter was cancelled: the error is nobody's to report

    def _keep(self, memo: tuple[object, ...], chain: _Chain) -> None:
        chains = self._chains
        chains.pop(memo, None)
        if len(chains) >= self.limits.cache_entries:
            del chains[next(iter(chains))]
        chains[memo] = chain

    async def _walk(self, uri: SipUri, glue: dict[_Key, Answer] | None = None) -> _Chain:
        walk = _Walk(self, uri, glue)
        try:
            async with asyncio.timeout(self.limits.deadline):
                branches = await walk.run()
        except TimeoutError:
            raise DnsError(
                f"resolving {uri} took longer than {self.limits.deadline:g} s: given up"
            ) from None
        finally:
            walk.drop_speculative()
        now = self.clock()
        reason = None if any(b.groups for b in branches) else walk.reason(branches)
        if reason and walk.errors:
            raise DnsError(walk.errors[0])
        ttl = walk.ttl
        if walk.errors or walk.stale:
            ttl = 0  # a partial or stale answer: use it now, walk again next time
            if walk.stale:
                walk.note("stale answers used (RFC 8767): retried on the next locate")
        expires_in = STALE_TTL if walk.stale else ttl
        return _Chain(
            uri,
            tuple(branches),
            tuple(walk.trace),
            time.time() + expires_in if math.isfinite(expires_in) else None,
            now + ttl,
            reason,
            walk.glue,
            walk.background,
        )

    async def _fold(self, memo: tuple[object, ...], chain: _Chain) -> _Chain:
        """Walk again from the cache and the chain's own glue, now with the address records
        that were asked in the background, and keep the completed chain."""
        glue = dict(chain.glue)
        notes: list[TraceEntry] = []
        for b in chain.background:
            kind = dns.rdatatype.to_text(b.rdtype)
            name = _text(b.name)
            waited = ((b.arrived or b.asked) - b.asked) * 1000
            if b.task.cancelled() or b.task.exception() is not None:
                answer = Answer(b.name, b.rdtype, dns.rcode.NOERROR, None, 0, Origin.NETWORK)
                notes.append(Note(f"{kind} for {name}, asked in the background, failed"))
            else:
                answer = b.task.result()
                notes.append(_query(answer))
                notes.append(
                    Note(f"{kind} for {name} came {waited:.0f} ms later: folded into the chain")
                )
            glue[(name_key(b.name), b.rdtype)] = answer
        folded = await self._walk(chain.uri, glue)
        folded.trace = (*chain.trace, *notes)
        folded.deadline = min(folded.deadline, chain.deadline)
        folded.background = []
        if folded.deadline > self.clock():
            self._keep(memo, folded)
        return folded


class _Walk:
    """One RFC 3263 resolution: the trace, the shortest TTL used, this walk's glue."""

    def __init__(
        self, resolver: Resolver, uri: SipUri, glue: dict[_Key, Answer] | None = None
    ) -> None:
        self.cache = resolver.cache
        self.limits = resolver.limits
        self.transports = resolver.transports
        self.uri = uri
        self.trace: list[TraceEntry] = []
        self.ttl: float = math.inf
        self.errors: list[str] = []
        self.unanswered: dict[dns.name.Name, str] = {}  # names no server answered for
        self.answers: list[Answer] = []  # every answer used, as it came (for observe())
        self.stale = False
        self.glue: dict[_Key, Answer] = dict(glue) if glue else {}
        self.background: list[_Background] = []
        self.folding = glue is not None
        self._speculative: list[tuple[dns.name.Name, asyncio.Future[_Asked]]] = []
        # Speculative replies stay unparsed until the NAPTR answer says whether they matter.
        self._naptr_read = asyncio.Event()
        self._nxdomain: set[NameKey] = set()
        self._naptr_owners: set[NameKey] = set()
        self._naptrs_used = 0

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
                    answer = await self.cache.answer(name, rdtype, defer)
                except DnsError as exc:
                    self.errors.append(str(exc))
                    self.unanswered.setdefault(name, str(exc))
                    self.note(str(exc))
                    return None, notes
                self.learn(answer)
            self.record(answer)
            for alias, canonical in answer.cnames:
                notes.append(f"{_text(alias)} is a CNAME for {_text(canonical)}")
            hops += len(answer.cnames)
            if hops > self.limits.cname_chain:
                self.note(f"CNAME chain from {_text(name)} longer than {self.limits.cname_chain}")
                return None, notes
            if not answer.chain_unfinished:
                return answer, notes
            name = answer.canonical

    async def look(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Ask one more question for ``observe()``; an SRV name's targets are resolved too."""
        if rdtype != SRV:
            await self.ask(name, rdtype)
            return
        prefix = b".".join(name.labels[:2]).decode(errors="replace").lower()
        await self.srv_branch(SRV_PREFIX_TRANSPORT.get(prefix, Transport.UDP), Via.SRV, name)

    def record(self, answer: Answer) -> None:
        """Put a question and its answer in the trace; count its TTL towards the chain's."""
        self.trace.append(_query(answer))
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
                dropped.append(_text(name))
        if dropped:
            self.note(f"NAPTR records found: parallel SRV questions dropped ({', '.join(dropped)})")
        self._speculative = []

    # -- RFC 3263 ----------------------------------------------------------------------------

    async def run(self) -> list[Branch]:
        sip = self.uri
        host = sip.lookup_host
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
        if sip.transport is not None:
            transport = self.choose_default(sip.transport)
            srv_name = self.srv_name(transport, name)
            branch = None
            if srv_name is not None:
                self.note(f"transport={transport} given: SRV {_text(srv_name)}, else A/AAAA")
                branch = await self.srv_branch(transport, Via.SRV, srv_name)
            if branch is not None:
                return [branch]
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
        try:
            branches = await self.naptr_branches(name, 0)
        finally:
            self._naptr_read.set()
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
        transport = self.choose_default(None)
        self.note(
            f"no NAPTR or SRV records: A/AAAA for {host} with {transport} "
            f"port {transport.default_port} (RFC 3263 §4.2)"
        )
        return [await self.address_branch(transport, Via.A, name, transport.default_port)]

    async def naptr_branches(self, name: dns.name.Name, depth: int) -> list[Branch] | None:
        """Branches from the usable NAPTR records at ``name``, or None when there are none."""
        owner = name_key(name)
        if owner in self._naptr_owners:
            self.note(f"NAPTR at {_text(name)} reached again: loop ignored")
            return []
        self._naptr_owners.add(owner)
        answer, _ = await self.ask(name, NAPTR)
        if answer is None or answer.rrset is None:
            return None
        usable = self.usable_naptrs(self.naptr_records(answer))
        if not usable:
            self.note(
                f"NAPTR records at {_text(name)} but none usable by this client "
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
                self.note(f"malformed NAPTR at {_text(answer.name)} skipped: {rd.to_text()!r}")
        out.sort(key=_naptr_rank)
        keep = min(
            len(out),
            self.limits.rrset_records,
            max(0, self.limits.naptr_records - self._naptrs_used),
        )
        if keep < len(out):
            self.note(
                f"{len(out) - keep} NAPTR record(s) at {_text(answer.name)} not used: at most "
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
                f"SRV {_text(srv_name)} has the lone target '.': "
                f"{transport} service not offered there (RFC 2782)"
            )
            return Branch.build(transport, via, _text(srv_name), [], naptr, not_offered=True)
        real = [r for r in records if r.target != dns.name.root]
        if len(real) < len(records):
            self.note(f"SRV {_text(srv_name)} mixes '.' with real targets: '.' skipped")
        if len(real) > self.limits.rrset_records:
            real.sort(key=lambda r: (r.priority, -r.weight))
            self.note(
                f"SRV {_text(srv_name)} has {len(real)} records: the "
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
                    _text(rec.target),
                    rec.port,
                    rec.priority,
                    rec.weight,
                    addresses,
                    tuple(host_notes),
                )
            )
        return Branch.build(transport, via, _text(srv_name), hosts, naptr)

    async def address_branch(
        self,
        transport: Transport,
        via: Via,
        name: dns.name.Name,
        port: int,
        naptr: Naptr | None = None,
    ) -> Branch:
        addresses, notes = await self.addresses(name, srv_target=False)
        host = Host.build(transport, via, _text(name), port, None, None, addresses, tuple(notes))
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
                f"{_text(name)} has {len(merged)} addresses: the first "
                f"{self.limits.addresses_per_target} used"
            )
            merged = merged[: self.limits.addresses_per_target]
        if not merged:
            self.note(f"{_text(name)} has no A or AAAA records: skipped")
            notes.append("no A/AAAA records: skipped")
        return tuple(merged), notes

    def ask_later(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> None:
        """Ask one address family in the background; the chain is completed when it comes."""
        if any(b.name == name and b.rdtype == rdtype for b in self.background):
            return
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(self.cache.answer(name, rdtype))
        job = _Background(name, rdtype, task, loop.time())

        def arrived(done: asyncio.Future[Answer]) -> None:
            job.arrived = loop.time()
            if not done.cancelled():
                done.exception()  # a failure here only leaves the chain as it is

        task.add_done_callback(arrived)
        self.background.append(job)
        kind = dns.rdatatype.to_text(rdtype)
        self.note(
            f"{kind} for {_text(name)} not known yet: asked in the background, the chain "
            "goes on with the other family (RFC 2782: use what the additional data gave)"
        )

    # -- helpers -----------------------------------------------------------------------------

    def srv_name(self, transport: Transport, domain: dns.name.Name) -> dns.name.Name | None:
        """``_sip._udp.<domain>`` etc., or None (noted) when that would exceed 255 octets."""
        try:
            return dns.name.Name(_SRV_LABELS[transport] + domain.labels)
        except dns.exception.DNSException:
            self.note(f"{transport}: SRV name for {_text(domain)} would be too long: skipped")
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
            lead = "" if self.uri.port else "no usable NAPTR or SRV records, and "
            return f"{lead}{', '.join(names or [host])} has no A/AAAA records"
        return f"no address for any target of {host}: {', '.join(names)} have no A/AAAA records"


def _query(answer: Answer) -> Query:
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


def _text(name: dns.name.Name) -> str:
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
        _text(rd.replacement),
        rd.replacement,
    )


async def locate(
    target: str | SipUri,
    *,
    nameservers: Sequence[str] | None = None,
    zones: Sequence[Path | str] | None = None,
    transports: Iterable[str | Transport] | str = DEFAULT_TRANSPORTS,
    seed: int | None = None,
    key: object | None = None,
) -> Resolution:
    """One-shot: a fresh Resolver locates ``target``. Keep a Resolver to benefit from caching."""
    resolver = Resolver(nameservers, zones, transports)
    try:
        return await resolver.locate(target, seed=seed, key=key)
    finally:
        resolver.close()


def locate_sync(
    target: str | SipUri,
    *,
    nameservers: Sequence[str] | None = None,
    zones: Sequence[Path | str] | None = None,
    transports: Iterable[str | Transport] | str = DEFAULT_TRANSPORTS,
    seed: int | None = None,
    key: object | None = None,
) -> Resolution:
    """``locate`` for code without an event loop."""
    return asyncio.run(
        locate(
            target, nameservers=nameservers, zones=zones, transports=transports, seed=seed, key=key
        )
    )

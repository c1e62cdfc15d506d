"""RFC 3263 §4.1/§4.2: from a SIP URI to the ordered list of targets a client must try.

``Resolver.locate`` walks NAPTR -> SRV -> A/AAAA over any DnsSource, asking independent
questions concurrently (NAPTR together with the fallback SRV names; all SRV targets'
A and AAAA together), using what replies already carried in their additional section, and
recording every question and decision in the trace. The chain found is kept until its
shortest TTL runs out, so repeated calls only re-order it (RFC 2782 weights, fresh or keyed).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Coroutine, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import dns.name
import dns.rcode
import dns.rdatatype
import dns.rdtypes.IN.SRV

from .dns import CachingSource, DnsSource, make_source
from .dns.live import PARSE_GATE
from .dns.source import MAX_CNAME_CHAIN, Answer, NameKey, name_key
from .errors import DnsError, NotFound
from .resolution import Branch, Host, Naptr, Resolution, order_targets
from .srv import rng_for
from .target import (
    DEFAULT_TRANSPORTS,
    SERVICE_TRANSPORT,
    SRV_FALLBACK_ORDER,
    TRANSPORTS,
    SipTarget,
    Transport,
    Via,
    parse_transports,
)
from .trace import Note, Query, TraceEntry

_Key = tuple[NameKey, dns.rdatatype.RdataType]
#: SRV owner prefix labels per transport, e.g. (b"_sip", b"_udp"), from the transport table.
_SRV_LABELS = {t: tuple(p.encode() for p in i.srv_prefix.split(".")) for t, i in TRANSPORTS.items()}
MAX_NAPTR_DEPTH = 3  # non-terminal (empty-flag) NAPTR hops followed
NAPTR = dns.rdatatype.NAPTR
SRV = dns.rdatatype.SRV
A = dns.rdatatype.A
AAAA = dns.rdatatype.AAAA


@dataclass(slots=True)
class _Chain:
    """What one DNS walk found, reusable until ``deadline`` (monotonic)."""

    branches: tuple[Branch, ...]
    trace: tuple[TraceEntry, ...]
    expires: float | None  # wall clock
    deadline: float  # monotonic
    reason: str | None  # why nothing is usable, when that is so
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


class Resolver:
    """Locates SIP targets (RFC 3263) with its own DNS cache; reuse one per application.

    ``nameservers``: ``["127.0.0.1:5300", ...]`` (default /etc/resolv.conf); ``zones``:
    zone files to answer from instead (offline); ``transports``: what this client speaks.
    """

    def __init__(
        self,
        nameservers: Sequence[str] | None = None,
        zones: Sequence[Path | str] | None = None,
        transports: Iterable[str | Transport] | str = DEFAULT_TRANSPORTS,
        *,
        source: DnsSource | None = None,
        timeout: float = 1.5,
        cache_size: int = 10_000,
    ) -> None:
        self.transports = parse_transports(
            transports if isinstance(transports, str) else tuple(transports)
        )
        inner = source or make_source(
            list(nameservers) if nameservers else None,
            [Path(z) for z in zones] if zones else None,
            timeout=timeout,
        )
        self.cache = CachingSource(inner, max_entries=cache_size)
        self.cache_size = cache_size
        self._chains: dict[tuple[object, ...], _Chain] = {}
        self._parsed: dict[str, SipTarget] = {}

    def parse(self, target: str | SipTarget) -> SipTarget:
        """SipTarget from text (memoised: the same strings come back on every request)."""
        if isinstance(target, SipTarget):
            return target
        parsed = self._parsed.get(target)
        if parsed is None:
            parsed = SipTarget.parse(target)
            if len(self._parsed) >= self.cache_size:
                self._parsed.clear()
            self._parsed[target] = parsed
        return parsed

    async def locate(
        self, target: str | SipTarget, *, seed: int | None = None, key: object | None = None
    ) -> Resolution:
        """The ordered target list for ``target``, with the chain and trace behind it.

        ``seed`` makes the weighted order reproducible; ``key`` (e.g. a Call-ID) makes the
        same key always give the same order (RFC 3263 §4.4). Raises NotFound when DNS
        answers but nothing is usable, DnsError when DNS cannot be reached, BadInput for a
        malformed target.
        """
        sip = self.parse(target)
        memo = (sip.scheme, sip.lookup_host, sip.port, sip.transport)
        chain = self._chains.get(memo)
        fresh = chain is None or chain.deadline <= time.monotonic()
        if fresh:
            chain = await self._walk(sip)
            if chain.deadline > time.monotonic():
                if len(self._chains) >= self.cache_size:
                    del self._chains[next(iter(self._chains))]
                self._chains[memo] = chain
        assert chain is not None
        targets = order_targets(chain.branches, rng_for(seed, key))
        resolution = Resolution(
            sip,
            targets,
            chain.branches,
            chain.trace if fresh else chain.cached_trace,
            chain.expires,
        )
        if not targets:
            raise NotFound(chain.reason or f"no usable targets for {sip}", resolution)
        return resolution

    def close(self) -> None:
        """Close the DNS sockets (a Resolver used after this opens new ones)."""
        close = getattr(self.cache.inner, "close", None)
        if close is not None:
            close()

    def forget(self) -> None:
        """Drop every cached answer and chain (e.g. after a zone change)."""
        self._chains.clear()
        self.cache.clear()

    async def _walk(self, sip: SipTarget) -> _Chain:
        walk = _Walk(self.cache, self.transports)
        try:
            branches = await walk.run(sip)
        finally:
            walk.gate.set()
            walk.cancel_pending()
        ttl = walk.ttl
        now_wall, now_mono = time.time(), time.monotonic()
        finite = math.isfinite(ttl)
        reason = None if any(b.groups for b in branches) else walk.reason(sip, branches)
        if reason and walk.errors:
            raise DnsError(walk.errors[0])
        deadline = now_mono + ttl if finite else math.inf
        if walk.errors:
            deadline = now_mono  # partial answer: do not keep it
        return _Chain(
            tuple(branches),
            tuple(walk.trace),
            now_wall + ttl if finite else None,
            deadline,
            reason,
        )


class _Walk:
    """One RFC 3263 resolution: the questions in flight, the trace, the shortest TTL used."""

    def __init__(self, source: CachingSource, transports: tuple[Transport, ...]) -> None:
        self.source = source
        self.transports = transports
        self.trace: list[TraceEntry] = []
        self.ttl = math.inf
        self.errors: list[str] = []
        self._asked: dict[_Key, asyncio.Future[Answer | None]] = {}
        self._nxdomain: set[NameKey] = set()
        self._unclaimed: dict[_Key, dns.name.Name] = {}  # parallel questions nobody awaits yet
        # Parallel (speculative) replies wait here before being parsed: see open_gate().
        self.gate = asyncio.Event()

    # -- questions ---------------------------------------------------------------------------

    def ask(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, speculative: bool = False
    ) -> asyncio.Future[Answer | None]:
        """Ask once per walk; later askers share the same question (see ``_claim``)."""
        key = (name_key(name), rdtype)
        task = self._asked.get(key)
        if task is not None and key in self._unclaimed and not speculative:
            del self._unclaimed[key]
            task = self._claim(name, key, task)
        if task is None:
            cached = self.source.peek(name, rdtype)
            if cached is not None:  # no task, no loop iteration: answer at once
                task = self._done(name, key, cached, speculative)
            else:
                task = asyncio.ensure_future(self._fetch(name, rdtype, speculative))
                self._asked[key] = task
                if speculative:
                    self._unclaimed[key] = name
        return task

    def _claim(
        self, name: dns.name.Name, key: _Key, task: asyncio.Future[Answer | None]
    ) -> asyncio.Future[Answer | None]:
        """A parallel question still in flight whose answer has meanwhile arrived in another
        reply's additional section is dropped (nobody awaits it yet) and answered from there."""
        if task.done():
            return task
        cached = self.source.peek(name, key[1])
        if cached is None:
            return task
        task.cancel()
        return self._done(name, key, cached, speculative=False)

    def _done(
        self, name: dns.name.Name, key: _Key, answer: Answer, speculative: bool
    ) -> asyncio.Future[Answer | None]:
        self._record(name, key[1], answer, speculative)
        future: asyncio.Future[Answer | None] = asyncio.get_running_loop().create_future()
        future.set_result(answer)
        self._asked[key] = future
        return future

    def open_gate(self) -> None:
        """Let parallel replies be parsed, after dropping those the cache now answers."""
        for key, name in list(self._unclaimed.items()):
            task = self._asked[key]
            if self._claim(name, key, task) is not task:
                del self._unclaimed[key]
        self.gate.set()

    def drop_unclaimed(self, keep: set[_Key]) -> None:
        """Cancel parallel questions nobody will use (their reply is then never parsed)."""
        dropped = [k for k in self._unclaimed if k not in keep]
        for key in dropped:
            self._asked[key].cancel()
            del self._unclaimed[key]
        if dropped:
            names = ", ".join(b".".join(k[0]).decode(errors="replace") for k in dropped)
            self.note(f"NAPTR records found: parallel SRV questions for {names} dropped unread")

    def cancel_pending(self) -> None:
        """Drop questions nobody needs any more (parallel SRV asks a NAPTR made moot)."""
        pending = [t for t in self._asked.values() if not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            self.note(f"{len(pending)} parallel question(s) no longer needed: cancelled")

    async def _fetch(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType, speculative: bool
    ) -> Answer | None:
        if speculative:
            PARSE_GATE.set(self.gate)  # this task's own context only
        try:
            answer = await self.source.answer(name, rdtype)
        except DnsError as exc:
            self.errors.append(str(exc))
            self.note(str(exc))
            return None
        self._record(name, rdtype, answer, speculative)
        return answer

    def _record(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        answer: Answer,
        speculative: bool,
    ) -> None:
        self.trace.append(
            Query(
                name,
                rdtype,
                answer.source.value,
                answer.latency * 1000,
                answer.rcode,
                answer.ttl,
                tuple(answer.rrset) if answer.rrset is not None else (),
                "" if answer.rrset is not None else answer.describe(),
                answer.server,
                speculative,
            )
        )
        if answer.nxdomain:
            self._nxdomain.add(name_key(name))

    async def follow(
        self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType
    ) -> tuple[Answer | None, list[str]]:
        """The answer at the end of any CNAME chain (bounded), and notes on the aliases seen."""
        notes: list[str] = []
        for _ in range(MAX_CNAME_CHAIN):
            answer = await self.ask(name, rdtype)
            if answer is None:
                return None, notes
            self.use(answer)
            for alias, canonical in answer.cnames:
                notes.append(f"{_text(alias)} is a CNAME for {_text(canonical)}")
            if not answer.chain_unfinished:
                return answer, notes
            name = answer.canonical
        self.note(f"CNAME chain from {_text(name)} too long: given up")
        return None, notes

    def use(self, answer: Answer) -> None:
        """Count an answer towards the result's lifetime (its TTL)."""
        if answer.ttl < self.ttl:
            self.ttl = answer.ttl

    def note(self, message: str) -> None:
        self.trace.append(Note(message))

    # -- RFC 3263 ----------------------------------------------------------------------------

    async def run(self, sip: SipTarget) -> list[Branch]:
        host = sip.lookup_host
        if sip.maddr:
            self.note(f"maddr={sip.maddr}: resolving it instead of {sip.host} (RFC 3263 §4)")
        if sip.is_numeric:
            transport = self.choose_default(sip, sip.transport)
            port = sip.port or transport.default_port
            self.note(f"{host} is an IP address: no DNS; {transport} to port {port}")
            return [
                Branch.build(
                    transport,
                    Via.LITERAL,
                    None,
                    [Host.build(transport, Via.LITERAL, host, port, None, None, (host,))],
                )
            ]
        name = dns.name.from_text(host)
        if sip.port is not None:
            transport = self.choose_default(sip, sip.transport)
            self.note(f"explicit port {sip.port}: no NAPTR or SRV, A/AAAA only (RFC 3263 §4.2)")
            return [await self.address_branch(transport, Via.A, name, sip.port)]
        if sip.transport is not None:
            transport = self.choose_default(sip, sip.transport)
            srv_name = self.srv_name(transport, name)
            self.note(f"transport={transport} given: SRV {_text(srv_name)}, else A/AAAA")
            branch = await self.srv_branch(transport, Via.SRV, srv_name)
            if branch is not None:
                return [branch]
            self.note(f"no SRV records: A/AAAA for {host}, port {transport.default_port}")
            return [await self.address_branch(transport, Via.A, name, transport.default_port)]

        fallback = [
            t for t in SRV_FALLBACK_ORDER if t in self.transports and (t.secure or not sip.secure)
        ]
        naptr_task = self.ask(name, NAPTR)
        for t in fallback:  # asked now, in parallel: a domain without NAPTR needs them next
            self.ask(self.srv_name(t, name), SRV, speculative=True)
        await naptr_task
        self.open_gate()
        branches = await self.naptr_branches(sip, name, naptr_task, depth=0)
        if branches is not None:
            return branches

        results = await asyncio.gather(
            *(self.srv_branch(t, Via.SRV, self.srv_name(t, name)) for t in fallback)
        )
        found = [b for b in results if b is not None]
        if found:
            return found
        transport = self.choose_default(sip, None)
        self.note(
            f"no NAPTR or SRV records: A/AAAA for {host} with {transport} "
            f"port {transport.default_port} (RFC 3263 §4.2)"
        )
        return [await self.address_branch(transport, Via.A, name, transport.default_port)]

    async def naptr_branches(
        self,
        sip: SipTarget,
        name: dns.name.Name,
        task: asyncio.Future[Answer | None],
        depth: int,
    ) -> list[Branch] | None:
        """Branches from the usable NAPTR records at ``name``, or None when there are none."""
        answer = await task
        if answer is None:
            return None
        self.use(answer)
        records = [_naptr(r) for r in answer.records]
        if not records:
            return None
        usable = self.usable_naptrs(sip, records)
        if not usable:
            self.note(
                f"NAPTR records at {_text(name)} but none usable by this client "
                f"({', '.join(t.value for t in self.transports)}): treated as no NAPTR"
            )
            return None
        if depth == 0:  # the fallback SRV questions asked in parallel are moot now
            self.drop_unclaimed(
                keep={
                    (name_key(r.replacement_name), SRV) for r, _ in usable if r.flags.lower() == "s"
                }
            )
        jobs: list[Coroutine[Any, Any, Branch | list[Branch] | None]] = []
        for rec, transport in usable:
            replacement = rec.replacement_name
            flag = rec.flags.lower()
            if flag == "s":
                jobs.append(self.srv_branch(transport, Via.NAPTR, replacement, rec))
            elif flag == "a":
                jobs.append(
                    self.address_branch(
                        transport, Via.NAPTR, replacement, transport.default_port, rec
                    )
                )
            else:
                jobs.append(self.nested_naptr(sip, rec, replacement, depth))
        branches: list[Branch] = []
        for result in await asyncio.gather(*jobs):
            if isinstance(result, Branch):
                branches.append(result)
            elif result:
                branches.extend(result)
        if not any(b.groups for b in branches):
            self.note("the NAPTR records lead to no usable SRV or address records")
        return branches

    async def nested_naptr(
        self, sip: SipTarget, rec: Naptr, replacement: dns.name.Name, depth: int
    ) -> list[Branch]:
        if depth + 1 >= MAX_NAPTR_DEPTH:
            self.note(f"{rec}: non-terminal NAPTR chain deeper than {MAX_NAPTR_DEPTH}: ignored")
            return []
        self.note(f"{rec}: empty flag, next NAPTR lookup at {rec.replacement}")
        return (
            await self.naptr_branches(sip, replacement, self.ask(replacement, NAPTR), depth + 1)
            or []
        )

    def usable_naptrs(self, sip: SipTarget, records: list[Naptr]) -> list[tuple[Naptr, Transport]]:
        """RFC 3263 §4.1 filter and sort: SIP services this client supports, by order/pref."""
        usable: list[tuple[Naptr, Transport]] = []
        for rec in sorted(records, key=_naptr_rank):
            service = rec.service.upper()
            if not service.startswith(("SIP+", "SIPS+")):
                self.note(f"{rec}: not a SIP service, ignored")
                continue
            transport = SERVICE_TRANSPORT.get(service)
            if transport is None:
                self.note(f"{rec}: unknown SIP service {rec.service!r}, ignored")
                continue
            if sip.secure and not transport.secure:
                self.note(f"{rec}: sips: URI keeps only SIPS services, ignored")
                continue
            if transport not in self.transports:
                self.note(f"{rec}: this client does not support {transport}, ignored")
                continue
            flags = rec.flags.lower()
            if flags not in ("s", "a", ""):
                self.note(
                    f"{rec}: flags {rec.flags!r} are not one of S, A or empty; RFC 3404 says "
                    "ignore records with unknown flags"
                )
                continue
            if rec.replacement in (".", ""):
                self.note(f"{rec}: no replacement (regexp-only), unusable for SIP, ignored")
                continue
            if rec.regexp:
                self.note(f"{rec}: regexp ignored, SIP NAPTRs use the replacement (RFC 3263)")
            usable.append((rec, transport))
        return usable

    async def srv_branch(
        self,
        transport: Transport,
        via: Via,
        srv_name: dns.name.Name,
        naptr: Naptr | None = None,
    ) -> Branch | None:
        """The hosts of one SRV name, each with its addresses; None when there are no SRV."""
        answer, notes = await self.follow(srv_name, SRV)
        for n in notes:
            self.note(f"{n} (RFC 2782: SRV owner names should not be aliases)")
        if answer is None or answer.rrset is None:
            return None
        records = cast(list[dns.rdtypes.IN.SRV.SRV], answer.records)
        if len(records) == 1 and records[0].target == dns.name.root:
            self.note(
                f"SRV {_text(srv_name)} has the lone target '.': "
                f"{transport} service not offered there (RFC 2782)"
            )
            return Branch.build(transport, via, _text(srv_name), [], naptr, not_offered=True)
        real = []
        for rec in records:
            if rec.target == dns.name.root:
                self.note(f"SRV {_text(srv_name)} mixes '.' with real targets: '.' skipped")
            else:
                real.append(rec)
        names = list(dict.fromkeys(rec.target for rec in real))
        if all(self.has_addresses(n) for n in names):  # all cached: no tasks, no loop turns
            found = {n: await self.addresses(n) for n in names}
        else:
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
        """A and AAAA of ``name`` asked together, interleaved IPv6-first per RFC 8305."""
        if self.has_addresses(name):  # both cached: no need to run them as tasks
            v6, notes6 = await self.follow(name, AAAA)
            v4, notes4 = await self.follow(name, A)
        else:
            (v6, notes6), (v4, notes4) = await asyncio.gather(
                self.follow(name, AAAA), self.follow(name, A)
            )
        notes = list(dict.fromkeys(notes6 + notes4))
        if notes and srv_target:
            notes = [f"{n}: RFC 2782 says SRV targets must not be aliases" for n in notes]
        for n in notes:
            self.note(n)
        six = [r.to_text() for r in v6.records] if v6 else []
        four = [r.to_text() for r in v4.records] if v4 else []
        merged: list[str] = []
        for i in range(max(len(six), len(four))):
            merged.extend(x[i] for x in (six, four) if i < len(x))
        if not merged:
            self.note(f"{_text(name)} has no A or AAAA records: skipped")
            notes.append("no A/AAAA records: skipped")
        return tuple(merged), notes

    # -- helpers -----------------------------------------------------------------------------

    def has_addresses(self, name: dns.name.Name) -> bool:
        """Both address questions for ``name`` can be answered from the cache right now."""
        return self.source.has(name, AAAA) and self.source.has(name, A)

    def srv_name(self, transport: Transport, domain: dns.name.Name) -> dns.name.Name:
        return dns.name.Name(_SRV_LABELS[transport] + domain.labels)

    def choose_default(self, sip: SipTarget, given: Transport | None) -> Transport:
        """The URI's transport, else UDP for sip and TLS for sips (RFC 3263 §4.1)."""
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

    def reason(self, sip: SipTarget, branches: list[Branch]) -> str:
        """One line saying why nothing usable came out."""
        host = sip.lookup_host
        if name_key(dns.name.from_text(host)) in self._nxdomain:
            return f"{host} does not exist (NXDOMAIN)"
        if branches and all(b.not_offered for b in branches):
            return f"{host} says SIP is not offered there (SRV target '.')"
        if all(b.srv_name is None for b in branches):
            names = sorted({h.name for b in branches for h in b.hosts}) or [host]
            lead = "" if sip.port else "no usable NAPTR or SRV records, and "
            return f"{lead}{', '.join(names)} has no A/AAAA records"
        names = sorted({h.name for b in branches for h in b.hosts})
        return f"no address for any target of {host}: {', '.join(names)} have no A/AAAA records"


def _naptr_rank(rec: Naptr) -> tuple[int, int, int]:
    """Order, then preference; ties go to TLS, TCP, UDP (RFC 3263's own fallback order), so
    the result does not depend on the order a server happened to list the records in."""
    transport = SERVICE_TRANSPORT.get(rec.service.upper())
    rank = SRV_FALLBACK_ORDER.index(transport) if transport in SRV_FALLBACK_ORDER else 3
    return rec.order, rec.preference, rank


def _text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True) or "."


def _naptr(rdata: object) -> Naptr:
    def text(value: object) -> str:
        return value.decode() if isinstance(value, bytes) else str(value)

    return Naptr(
        rdata.order,  # type: ignore[attr-defined]
        rdata.preference,  # type: ignore[attr-defined]
        text(rdata.flags),  # type: ignore[attr-defined]
        text(rdata.service),  # type: ignore[attr-defined]
        text(rdata.regexp),  # type: ignore[attr-defined]
        _text(rdata.replacement),  # type: ignore[attr-defined]
        rdata.replacement,  # type: ignore[attr-defined]
    )


async def locate(
    target: str | SipTarget,
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
    target: str | SipTarget,
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

"""RFC 3263 from a SIP URI to the ordered list of targets a client must try, for callers.

``Resolver`` drives the pure walk (``rfc3263.py``): it asks the walk's questions through the
cache (``dns/cache.py``, which shares one question in flight among all askers), hands their
answers back, and keeps what the walk found: the chain is reused until its shortest TTL runs
out, so repeated calls only re-order it (RFC 2782 weights, fresh or keyed); concurrent
locates of one URI share one walk; address records the walk asked in the background are
folded into the kept chain when they come. ``observe`` exposes a fresh walk's every answer,
for ``zone lint`` and ``check``. Time comes from one injected clock (``clock.py``).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.name
import dns.rcode
import dns.rdatatype

from ..clock import Clock, as_clock
from ..dns import CachingSource, DnsSource, make_source
from ..dns.cache import STALE_TTL
from ..dns.source import Answer, Origin, name_key
from ..errors import BadInput, DnsError, NotFound
from ..limits import DEFAULT_LIMITS, Limits
from ..resolution import Branch, Resolution, order_targets
from ..target import DEFAULT_TRANSPORTS, SipUri, Target, Transport, parse_transports
from ..trace import Note, Query, TraceEntry
from .rfc2782 import rng_for
from .rfc3263 import Ask, AskLater, Drop, Effect, Key, Question, Release, Rfc3263, query_entry
from .rules import DnsMode, static_target, text


@dataclass(slots=True)
class Background:
    """An address question the walk did not wait for (the other family was in the reply)."""

    name: dns.name.Name
    rdtype: dns.rdatatype.RdataType
    task: asyncio.Future[Answer]
    asked: float  # the clock's monotonic time
    arrived: float | None = None


class _Questions:
    """The questions of one walk in flight through the cache, and the answers come back."""

    def __init__(self, cache: CachingSource, since: float) -> None:
        self.cache = cache
        self.since = since  # the RFC 8767 client response timer's start
        self.release = asyncio.Event()  # speculative replies stay unread until it is set
        self.tasks: dict[Key, asyncio.Future[Answer]] = {}
        self.ready: list[tuple[Question, asyncio.Future[Answer]]] = []
        self.wake: asyncio.Future[None] | None = None

    def apply(self, effects: list[Effect], later: Callable[[Question], None]) -> None:
        for effect in effects:
            if isinstance(effect, Ask):
                self.ask(effect.question)
            elif isinstance(effect, Drop):
                task = self.tasks.pop(effect.question.key, None)
                if task is not None:
                    task.cancel()
            elif isinstance(effect, Release):
                self.release.set()
            elif isinstance(effect, AskLater):
                later(effect.question)

    def ask(self, q: Question) -> None:
        defer = self.release if q.speculative else None
        task = asyncio.ensure_future(self.cache.answer(q.name, q.rdtype, defer, self.since))
        self.tasks[q.key] = task
        task.add_done_callback(lambda done: self._arrived(q, done))

    def _arrived(self, q: Question, done: asyncio.Future[Answer]) -> None:
        if done.cancelled():
            return  # dropped by the walk
        self.ready.append((q, done))
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    async def next(self) -> tuple[Question, Answer | DnsError]:
        """The next answer (or the DnsError saying there is none); other errors raise."""
        while not self.ready:
            self.wake = asyncio.get_running_loop().create_future()
            await self.wake
        q, done = self.ready.pop(0)
        self.tasks.pop(q.key, None)
        error = done.exception()
        if error is None:
            return q, done.result()
        if isinstance(error, DnsError):
            return q, error
        raise error

    def close(self) -> None:
        """Stop every question still asked (a walk given up or ended)."""
        for task in self.tasks.values():
            task.cancel()
        self.tasks.clear()


@dataclass(frozen=True, slots=True)
class Observation:
    """What one walk saw: its branches and targets, every answer it used (CNAMEs included),
    the names no server answered for, the trace, and for each ``also`` question its SRV
    branch (None when it was no SRV question or found no SRV records)."""

    branches: tuple[Branch, ...]
    targets: tuple[Target, ...]
    answers: tuple[Answer, ...]
    unanswered: dict[dns.name.Name, str]
    trace: tuple[TraceEntry, ...]
    looked: tuple[Branch | None, ...] = ()


@dataclass(slots=True)
class _Chain:
    """What one walk found, reusable until ``deadline`` (on the resolver's clock)."""

    uri: SipUri
    branches: tuple[Branch, ...]
    trace: tuple[TraceEntry, ...]
    expires: float | None  # wall clock
    deadline: float
    reason: str | None  # why nothing is usable, when that is so
    glue: dict[Key, Answer] = field(default_factory=dict)  # this walk's additional data
    background: list[Background] = field(default_factory=list)
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
    ``limits``: every bound on the work DNS data can cause; ``clock``: a ``Clock`` (or a
    callable giving monotonic seconds), so TTL expiry and the RFC 8767 timer are tested
    without waiting; ``mode``: where the walk starts
    (``DnsMode``: naptr, srv, a, static); ``static``: the configured addresses of the static
    mode, primary first (``ADDRESS[:PORT][;transport=T]``, IP literals only).
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
        clock: Clock | Callable[[], float] | None = None,
        mode: DnsMode | str = DnsMode.NAPTR,
        static: Sequence[str] = (),
    ) -> None:
        self.transports = parse_transports(
            transports if isinstance(transports, str) else tuple(transports)
        )
        self.mode = DnsMode.parse(mode) if isinstance(mode, str) else mode
        self.static = self._static_targets(static)
        self.limits = limits
        self.clock = as_clock(clock)
        inner = source or make_source(
            list(nameservers) if nameservers else None,
            [Path(z) for z in zones] if zones else None,
            timeout=timeout,
            limits=limits,
        )
        self.cache = CachingSource(inner, limits, self.clock)
        self._chains: dict[tuple[object, ...], _Chain] = {}
        self._walking: dict[tuple[object, ...], asyncio.Future[_Chain]] = {}
        self._parsed: dict[str, SipUri] = {}
        self._background: set[asyncio.Future[Answer]] = set()  # asked, not yet come

    def _static_targets(self, servers: Sequence[str]) -> tuple[Target, ...]:
        """The static mode's addresses, parsed as the client's static policy parses them."""
        if self.mode is not DnsMode.STATIC:
            if servers:
                raise BadInput("configured server addresses are for the static DNS mode")
            return ()
        if not servers:
            raise BadInput("the static DNS mode needs at least one server address")
        return tuple(static_target(s, self.transports[0]) for s in servers)

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
        if chain is not None and chain.deadline > self.clock.monotonic():
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
        ``check`` judge, so they see exactly the records ``locate`` follows (and
        ``compare`` applies every client profile to)."""
        walk = self._machine(self.parse(target), None, tuple(also))
        await self._drive(walk, f"resolving {target} took longer than {self.limits.deadline:g} s")
        targets = order_targets(tuple(walk.branches), rng_for(0), self.limits.targets)
        return Observation(
            tuple(walk.branches), tuple(targets), tuple(walk.answers), dict(walk.unanswered),
            tuple(walk.trace), tuple(walk.looked),
        )  # fmt: skip

    async def __aenter__(self) -> Resolver:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """``async with Resolver(...) as r:`` closes its sockets at the end."""
        self.close()

    def close(self) -> None:
        """Close the DNS sockets (a Resolver used after this opens new ones)."""
        close = getattr(self.cache.inner, "close", None)
        if close is not None:
            close()

    async def settle(self) -> None:
        """Wait for the DNS questions still in flight, e.g. the address records a locate
        asked in the background, so the next locate finds them in the cache."""
        while self._background:
            await asyncio.wait(list(self._background))
        await self.cache.settle()

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
        if chain.deadline > self.clock.monotonic():
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

    def _machine(
        self,
        uri: SipUri,
        glue: dict[Key, Answer] | None = None,
        also: Sequence[tuple[dns.name.Name, dns.rdatatype.RdataType]] = (),
    ) -> Rfc3263:
        return Rfc3263(
            uri, self.transports, self.limits, known=self.cache.peek, glue=glue,
            mode=self.mode, static=self.static, also=also,
        )  # fmt: skip

    async def _drive(self, walk: Rfc3263, late: str) -> list[Background]:
        """Run one walk to its end: ask its questions through the cache, hand it the
        answers; the questions it asks in the background are returned, not awaited.
        DnsError(``late``) when it outlives ``limits.deadline``."""
        now = self.clock.monotonic()
        questions = _Questions(self.cache, now)
        background: list[Background] = []

        def later(q: Question) -> None:
            background.append(self._ask_later(q))

        try:
            async with asyncio.timeout(self.limits.deadline):
                questions.apply(walk.start(now), later)
                while not walk.done:
                    questions.apply(walk.receive(*await questions.next()), later)
        except TimeoutError:
            raise DnsError(late) from None
        finally:
            questions.close()
        return background

    def _ask_later(self, q: Question) -> Background:
        """Ask one address family in the background; the chain is completed when it comes."""
        task = asyncio.ensure_future(self.cache.answer(q.name, q.rdtype))
        job = Background(q.name, q.rdtype, task, self.clock.monotonic())

        def arrived(done: asyncio.Future[Answer]) -> None:
            job.arrived = self.clock.monotonic()
            self._background.discard(done)
            if not done.cancelled():
                done.exception()  # a failure here only leaves the chain as it is

        task.add_done_callback(arrived)
        self._background.add(task)
        return job

    async def _walk(self, uri: SipUri, glue: dict[Key, Answer] | None = None) -> _Chain:
        walk = self._machine(uri, glue)
        late = f"resolving {uri} took longer than {self.limits.deadline:g} s: given up"
        background = await self._drive(walk, late)
        branches = walk.branches
        now = self.clock.monotonic()
        reason = None if any(b.groups for b in branches) else walk.reason()
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
            self.clock.wall() + expires_in if math.isfinite(expires_in) else None,
            now + ttl,
            reason,
            walk.glue,
            background,
        )

    async def _fold(self, memo: tuple[object, ...], chain: _Chain) -> _Chain:
        """Walk again from the cache and the chain's own glue, now with the address records
        that were asked in the background, and keep the completed chain."""
        glue = dict(chain.glue)
        notes: list[TraceEntry] = []
        for b in chain.background:
            kind = dns.rdatatype.to_text(b.rdtype)
            name = text(b.name)
            waited = ((b.arrived or b.asked) - b.asked) * 1000
            if b.task.cancelled() or b.task.exception() is not None:
                answer = Answer(b.name, b.rdtype, dns.rcode.NOERROR, None, 0, Origin.NETWORK)
                notes.append(Note(f"{kind} for {name}, asked in the background, failed"))
            else:
                answer = b.task.result()
                notes.append(query_entry(answer))
                notes.append(
                    Note(f"{kind} for {name} came {waited:.0f} ms later: folded into the chain")
                )
            glue[(name_key(b.name), b.rdtype)] = answer
        folded = await self._walk(chain.uri, glue)
        folded.trace = (*chain.trace, *notes)
        folded.deadline = min(folded.deadline, chain.deadline)
        folded.background = []
        if folded.deadline > self.clock.monotonic():
            self._keep(memo, folded)
        return folded


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
    async with Resolver(nameservers, zones, transports) as resolver:
        return await resolver.locate(target, seed=seed, key=key)


def locate_sync(
    target: str | SipUri,
    *,
    nameservers: Sequence[str] | None = None,
    zones: Sequence[Path | str] | None = None,
    transports: Iterable[str | Transport] | str = DEFAULT_TRANSPORTS,
    seed: int | None = None,
    key: object | None = None,
) -> Resolution:
    """``locate`` for code without an event loop (BadInput inside a running one: there,
    ``await Resolver.locate``)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        raise BadInput(
            "locate_sync() was called inside a running event loop: await "
            "Resolver.locate() (or siplocate.locate()) there instead"
        )
    return asyncio.run(
        locate(
            target, nameservers=nameservers, zones=zones, transports=transports, seed=seed, key=key
        )
    )

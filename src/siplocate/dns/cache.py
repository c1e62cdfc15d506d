"""A TTL cache in front of any DnsSource, with the credibility rules of RFC 2181 §5.4.1.

What it believes, and why (README, "What the cache trusts"):
- Answer-section data for the question asked is cached under that question.
- Additional-section data ranks below answer data: it never replaces a live answer entry,
  and it is cached for others only when its owner lies within the bailiwick of the question
  that brought it (the question's name without its leading ``_service._proto`` labels), so a
  server for ``evil.test`` cannot plant records for ``victim.test``. The walk that asked may
  still use the rest for names its own reply points at (``resolver/rfc3263.py``), never
  anybody else.
- TTLs are clamped by ``Limits`` (TTL 0: used now, never cached).
- One question in flight per name and type, shared by all askers.
- During an outage, an expired answer (up to ``stale_for`` old) is served stale, the RFC 8767
  way: a refresh is started and waited for at most ``stale_answer_after`` seconds from when
  the client's request began (``since``: one locate's NAPTR, SRV and address questions share
  one timer); past that the stale answer is given while the refresh goes on, and the first
  fresh reply replaces it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, replace

import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from ..clock import Clock, as_clock
from ..limits import DEFAULT_LIMITS, Limits
from .source import Answer, DnsSource, NameKey, Origin, name_key

STALE_TTL = 30  # RFC 8767 §4: TTL given to a stale answer, so it is retried soon

Key = tuple[NameKey, dns.rdatatype.RdataType]


@dataclass(slots=True)
class _Entry:
    expires: float  # on the cache's clock
    answer: Answer
    size: int
    additional: bool  # came from an additional section: ranks below answer data


@dataclass(slots=True)
class _Refresh:
    task: asyncio.Future[Answer]
    started: float  # the clock's monotonic time, for the RFC 8767 client response timer
    waiters: int = 0


def bailiwick(owner: NameKey) -> NameKey:
    """The part of a question name its server speaks for: without leading ``_x`` labels."""
    i = 0
    while i < len(owner) - 1 and owner[i].startswith(b"_"):
        i += 1
    return owner[i:]


def within(owner: NameKey, zone: NameKey) -> bool:
    """``owner`` is ``zone`` or below it (keys are lower-cased labels, root last)."""
    return len(owner) >= len(zone) and owner[len(owner) - len(zone) :] == zone


def answer_size(answer: Answer) -> int:
    """Approximate memory of a cached answer: per-record Python overhead plus the text a
    record can carry (NAPTR regexps, long names); cheap, as it runs on every store."""
    if answer.rrset is None:
        return 256
    per = 600 if answer.rdtype == dns.rdatatype.NAPTR else 300
    return 256 + per * len(answer.rrset)


class CachingSource:
    """DnsSource wrapper that answers repeated questions from memory until their TTL runs out."""

    def __init__(
        self,
        inner: DnsSource,
        limits: Limits = DEFAULT_LIMITS,
        clock: Clock | Callable[[], float] | None = None,
    ) -> None:
        self.inner = inner
        self.limits = limits
        self.clock = as_clock(clock)
        self._entries: dict[Key, _Entry] = {}
        self._bytes = 0
        self._refreshing: dict[Key, _Refresh] = {}
        self._generation = 0  # bumped by clear(): answers asked before it are not kept
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size(self) -> int:
        """Approximate bytes held (bounded by ``limits.cache_bytes``)."""
        return self._bytes

    def peek(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer | None:
        """The cached answer with its remaining TTL, or None; never asks the network."""
        key = (name_key(name), rdtype)
        entry = self._entries.get(key)
        if entry is None:
            return None
        remaining = entry.expires - self.clock.monotonic()
        if remaining <= 0:
            if remaining < -self.limits.stale_for:  # too old even to serve stale
                self._drop(key)
            return None
        a = entry.answer
        source = Origin.ADDITIONAL if entry.additional else Origin.CACHE
        return Answer(
            a.name, a.rdtype, a.rcode, a.rrset, int(remaining), source, 0.0, a.server, a.cnames
        )

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
        since: float | None = None,
    ) -> Answer:
        """The answer from the cache or the network (one question in flight per key).
        ``since``: the clock's monotonic time the client's request began, when the RFC 8767 client
        response timer started (default: when this question's refresh started)."""
        cached = self.peek(name, rdtype)
        if cached is not None:
            self.hits += 1
            return cached
        key = (name_key(name), rdtype)
        refresh = self._refreshing.get(key)
        if refresh is not None and refresh.task.cancelled():
            refresh = None  # its last asker gave up: this one asks anew
        first = refresh is None
        if refresh is None:
            self.misses += 1
            task = asyncio.ensure_future(self._fetch(key, name, rdtype, defer, self._generation))
            task.add_done_callback(_retrieve)
            refresh = self._refreshing[key] = _Refresh(task, self.clock.monotonic())
        else:
            self.hits += 1
        stale = self._stale(key)
        if stale is not None:
            return await self._fresh_or_stale(refresh, stale, since)
        refresh.waiters += 1
        try:
            answer = await asyncio.shield(refresh.task)
        except asyncio.CancelledError:
            if refresh.waiters == 1:  # nobody else wants it: stop the question itself
                refresh.task.cancel()
                # and forget it now: an asker coming before the cancellation has landed
                # asks anew instead of joining a question that is about to die
                if self._refreshing.get(key) is refresh:
                    del self._refreshing[key]
            raise
        finally:
            refresh.waiters -= 1
        return answer if first else answer.with_source(Origin.CACHE)

    async def _fresh_or_stale(
        self, refresh: _Refresh, stale: Answer, since: float | None
    ) -> Answer:
        """RFC 8767: the refresh's answer if it comes within the client response timer
        (started by the client's request or by the refresh, whichever was first), else the
        stale answer now (the refresh goes on regardless)."""
        started = refresh.started if since is None else min(since, refresh.started)
        wait = started + self.limits.stale_answer_after - self.clock.monotonic()
        if wait > 0:
            timer = asyncio.ensure_future(self.clock.sleep(wait))
            try:
                await asyncio.wait((refresh.task, timer), return_when=asyncio.FIRST_COMPLETED)
            finally:
                timer.cancel()
        if (
            refresh.task.done()
            and not refresh.task.cancelled()
            and refresh.task.exception() is None
        ):
            return refresh.task.result()
        return stale

    async def _fetch(
        self,
        key: Key,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None,
        generation: int,
    ) -> Answer:
        try:
            answer = await self.inner.answer(name, rdtype, defer)
            ttl = self.limits.clamp_ttl(answer.ttl, negative=answer.rrset is None)
            if ttl != answer.ttl:
                answer = replace(answer, ttl=ttl)
            if generation == self._generation:
                self.store(answer)
            return answer
        finally:
            if key in self._refreshing and self._refreshing[key].task is asyncio.current_task():
                del self._refreshing[key]

    def _stale(self, key: Key) -> Answer | None:
        """An expired answer still within the serve-stale window, marked stale."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires - self.clock.monotonic() < -self.limits.stale_for:
            return None
        a = entry.answer
        return Answer(a.name, a.rdtype, a.rcode, a.rrset, 0, Origin.STALE, 0.0, a.server, a.cnames)

    def store(self, answer: Answer) -> None:
        """Remember an answer, and those RRsets of its additional section that lie within
        the bailiwick of its question (they never replace answer data)."""
        now = self.clock.monotonic()
        if answer.ttl > 0 and not answer.chain_unfinished:
            key = (name_key(answer.name), answer.rdtype)
            self._put(key, _Entry(now + answer.ttl, answer, answer_size(answer), False))
        if not answer.additional:
            return
        zone = bailiwick(name_key(answer.name))
        for rrset in answer.additional:
            if rrset.rdclass != dns.rdataclass.IN or rrset.rdtype == dns.rdatatype.OPT:
                continue
            owner = name_key(rrset.name)
            ttl = self.limits.clamp_ttl(rrset.ttl)
            if ttl <= 0 or not within(owner, zone):
                continue
            key = (owner, rrset.rdtype)
            entry = self._entries.get(key)
            if entry is not None and not entry.additional and entry.expires > now:
                continue  # answer data outranks additional data
            extra = Answer(
                rrset.name, rrset.rdtype, dns.rcode.NOERROR, rrset, ttl, Origin.ADDITIONAL,
                0.0, answer.server,
            )  # fmt: skip
            self._put(key, _Entry(now + ttl, extra, answer_size(extra), True))

    def _put(self, key: Key, entry: _Entry) -> None:
        if entry.size > self.limits.cache_bytes:
            return
        self._drop(key)
        self._entries[key] = entry
        self._bytes += entry.size
        entries = self._entries
        while len(entries) > self.limits.cache_entries or self._bytes > self.limits.cache_bytes:
            self._drop(next(iter(entries)))  # the oldest stored

    def _drop(self, key: Key) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    async def settle(self) -> None:
        """Wait until no question is in flight (those asked in the background included),
        so that their answers are in the cache; their errors are theirs, not the caller's."""
        while self._refreshing:
            await asyncio.wait([r.task for r in self._refreshing.values()])

    def clear(self) -> None:
        """Forget everything, including answers still on their way (they reach their
        askers but are not kept, and a new question is asked anew)."""
        self._entries.clear()
        self._bytes = 0
        self._refreshing.clear()
        self._generation += 1


def _retrieve(task: asyncio.Future[Answer]) -> None:
    """A refresh nobody waits for any more may still fail: its error is expected, not lost."""
    if not task.cancelled():
        task.exception()

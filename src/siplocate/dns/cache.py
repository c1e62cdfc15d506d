"""A TTL cache in front of any DnsSource.

Honours TTLs (capped), caches negative answers for their RFC 2308 TTL, files the RRsets of
an answer's additional section as answers of their own (so a NAPTR reply that carries the
SRV and A/AAAA records resolves the whole chain), shares one in-flight question among
concurrent askers, and stays within ``max_entries`` by evicting the oldest. When no server
answers, an expired answer is served stale for a while (RFC 8767) rather than failing: a
DNS outage must not take the SIP servers' addresses with it.
"""

from __future__ import annotations

import asyncio
import time

import dns.name
import dns.rcode
import dns.rdatatype

from ..errors import DnsError
from .source import Answer, DnsSource, NameKey, Origin, name_key

MAX_TTL = 86400
MAX_NEGATIVE_TTL = 3 * 3600  # RFC 2308 §5: 1-3 hours is a sensible upper bound
STALE_FOR = 86400  # RFC 8767 §5: keep expired answers 1-3 days for serve-stale
STALE_TTL = 30  # RFC 8767 §4: TTL given to a stale answer, so it is retried soon

Key = tuple[NameKey, dns.rdatatype.RdataType]


class CachingSource:
    """DnsSource wrapper that answers repeated questions from memory until their TTL runs out."""

    def __init__(
        self, inner: DnsSource, max_entries: int = 10_000, stale_for: float = STALE_FOR
    ) -> None:
        self.inner = inner
        self.max_entries = max_entries
        self.stale_for = stale_for
        self._entries: dict[Key, tuple[float, Answer]] = {}
        self._inflight: dict[Key, asyncio.Future[Answer]] = {}
        self._waiters: dict[Key, int] = {}
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def has(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> bool:
        """Whether the question can be answered from memory now (cheaper than ``peek``)."""
        entry = self._entries.get((name_key(name), rdtype))
        return entry is not None and entry[0] > time.monotonic()

    def peek(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer | None:
        """The cached answer with its remaining TTL, or None; never asks the network."""
        key = (name_key(name), rdtype)
        entry = self._entries.get(key)
        if entry is None:
            return None
        expires, answer = entry
        remaining = expires - time.monotonic()
        if remaining <= 0:
            if remaining < -self.stale_for:  # too old even to serve stale
                del self._entries[key]
            return None
        source = Origin.ADDITIONAL if answer.source is Origin.ADDITIONAL else Origin.CACHE
        return Answer(
            answer.name,
            answer.rdtype,
            answer.rcode,
            answer.rrset,
            int(remaining),
            source,
            0.0,
            answer.server,
            answer.cnames,
        )

    async def answer(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
        cached = self.peek(name, rdtype)
        if cached is not None:
            self.hits += 1
            return cached
        key = (name_key(name), rdtype)
        task = self._inflight.get(key)
        first = task is None
        if task is None:
            self.misses += 1
            task = asyncio.ensure_future(self._fetch(name, rdtype))
            self._inflight[key] = task
            self._waiters[key] = 0
        else:
            self.hits += 1
        self._waiters[key] += 1
        try:
            answer = await asyncio.shield(task)
        except asyncio.CancelledError:
            if self._waiters.get(key) == 1:  # nobody else wants it: stop the question itself
                task.cancel()
            raise
        finally:
            if key in self._waiters and self._inflight.get(key) is task:
                self._waiters[key] -= 1
        return answer if first else answer.with_source(Origin.CACHE)

    async def _fetch(self, name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> Answer:
        key = (name_key(name), rdtype)
        try:
            answer = await self.inner.answer(name, rdtype)
        except DnsError:
            stale = self._stale(key)
            if stale is None:
                raise
            return stale
        else:
            self.store(answer)
            return answer
        finally:
            self._inflight.pop(key, None)
            self._waiters.pop(key, None)

    def _stale(self, key: Key) -> Answer | None:
        """An expired answer still within the serve-stale window, with a short TTL."""
        entry = self._entries.get(key)
        if entry is None or entry[0] - time.monotonic() < -self.stale_for:
            return None
        old = entry[1]
        return Answer(
            old.name,
            old.rdtype,
            old.rcode,
            old.rrset,
            STALE_TTL,
            Origin.STALE,
            0.0,
            old.server,
            old.cnames,
        )

    def store(self, answer: Answer) -> None:
        """Remember an answer and the RRsets of its additional section."""
        now = time.monotonic()
        cap = MAX_TTL if answer.rrset is not None else MAX_NEGATIVE_TTL
        if answer.ttl > 0 and not answer.chain_unfinished:
            self._put((name_key(answer.name), answer.rdtype), now + min(answer.ttl, cap), answer)
        for rrset in answer.additional:
            if rrset.ttl <= 0 or rrset.rdtype == dns.rdatatype.OPT:
                continue
            key = (name_key(rrset.name), rrset.rdtype)
            entry = self._entries.get(key)
            if entry is not None and entry[0] > now:
                continue
            extra = Answer(
                rrset.name,
                rrset.rdtype,
                dns.rcode.NOERROR,
                rrset,
                rrset.ttl,
                Origin.ADDITIONAL,
                0.0,
                answer.server,
            )
            self._put(key, now + min(rrset.ttl, MAX_TTL), extra)

    def _put(self, key: Key, expires: float, answer: Answer) -> None:
        entries = self._entries
        entries.pop(key, None)
        entries[key] = (expires, answer)
        while len(entries) > self.max_entries:
            del entries[next(iter(entries))]

    def clear(self) -> None:
        self._entries.clear()

"""``watch --publish redis://…``: the watcher's verdict on each target, written to the shared
health hash and announced on its channel (contract: ``siplocate.shared_health``).

A change goes out at once; every entry is written again before it expires while the prober
lives, so a dead prober leaves nothing behind for longer than ``ttl``. While Redis is away
only the newest verdict per target is kept (bounded by the targets watched); changes that
could not go out are counted in ``dropped`` and the whole state is written on reconnect.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import socket
import sys
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from ..clock import SYSTEM_CLOCK, Clock
from ..shared_health import (
    CHANNEL,
    HASH,
    Backoff,
    Entry,
    encode_field,
    encode_message,
    keep_connected,
    redis_module,
    redis_url,
)
from .model import TargetHealth

#: How many probe intervals an entry outlives its last write by default.
TTL_INTERVALS = 3.0


def check_publish(url: str) -> None:
    """BadInput unless ``url`` is a redis URL and redis-py is installed."""
    redis_url(url, "--publish")
    redis_module()


def entry_ttl(interval: float, timeout: float) -> float:
    """How long an entry outlives its write: a few probe rounds, so one late round is no gap."""
    return TTL_INTERVALS * interval + timeout


def prober_id() -> str:
    """Who wrote an entry: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


class Publisher:
    """Writes target health to Redis at ``url``; entries live ``ttl`` seconds past each write."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float,
        by: str | None = None,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        registry: CollectorRegistry | None = None,
    ) -> None:
        if ttl <= 0:
            raise ValueError("the entry lifetime must be positive")
        self.url = redis_url(url, "--publish")
        self._redis = redis_module()
        self.ttl = ttl
        self.by = by or prober_id()
        self.clock = clock or SYSTEM_CLOCK
        self.backoff = backoff or Backoff()
        self.current: dict[str, Entry] = {}  # newest verdict per field (expires set on write)
        self.dirty: set[str] = set()
        self.connected = False
        self.written = 0  # entries written (changes and refreshes)
        self.dropped = 0  # changes made while Redis was away (the newest is sent on reconnect)
        self._wake = asyncio.Event()
        self._refresh_at = 0.0
        self._warned = False
        self._metrics = _PublishMetrics(registry) if registry is not None else None
        self._task: asyncio.Task[None] | None = None

    # -- what the watcher tells ------------------------------------------------------------

    def saw(self, health: TargetHealth) -> None:
        """One probe's outcome: a change of up/down goes out now, the rest with the refresh."""
        if health.up is None:
            return
        t = health.target
        field = encode_field((t.transport.value, t.address, t.port))
        old = self.current.get(field)
        rtt = None if health.rtt is None else health.rtt * 1000
        entry = Entry(health.up, health.since, 0.0, rtt, self.by)
        self.current[field] = entry
        if old is not None and old.up == entry.up:
            return
        if not self.connected:
            self.dropped += 1
            if self._metrics is not None:
                self._metrics.dropped.inc()
        self.dirty.add(field)
        self._wake.set()

    # -- the link ---------------------------------------------------------------------------

    def start(self) -> Publisher:
        self._task = asyncio.create_task(
            keep_connected(self._session, self.backoff, self.clock, self._lost)
        )
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _lost(self, exc: Exception) -> None:
        if not self._warned:
            print(
                f"siplocate watch: --publish {self.url}: {type(exc).__name__}: {exc}; "
                "retrying (changes meanwhile are counted, the newest sent on reconnect)",
                file=sys.stderr,
                flush=True,
            )
            self._warned = True  # once per outage
        self._set_connected(False)

    def _set_connected(self, up: bool) -> None:
        self.connected = up
        if self._metrics is not None:
            self._metrics.connected.set(1 if up else 0)

    async def _session(self) -> None:
        conn: Any = self._redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=2.0)
        try:
            await conn.ping()
            self._set_connected(True)
            self._warned = False
            self.backoff.reset()
            self.dirty = set(self.current)  # entries may have expired meanwhile: all again
            while True:
                await self._flush(conn)
                await self._wait()
        finally:
            with contextlib.suppress(Exception):
                await conn.aclose()

    async def _wait(self) -> None:
        """Until a change, or until the entries are due to be written again (always yields:
        with nothing watched yet it waits a whole refresh period)."""
        if not self.dirty:
            delay = max(0.01, self._refresh_at - self.clock.wall())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
        else:
            await asyncio.sleep(0)
        self._wake.clear()
        if self.clock.wall() >= self._refresh_at:
            self.dirty |= set(self.current)
            if not self.current:
                self._refresh_at = self.clock.wall() + self.ttl / 3

    async def _flush(self, conn: Any) -> None:
        """Write every dirty entry (hash + channel) with a fresh ``expires``, in one round trip."""
        if not self.dirty:
            return
        now = self.clock.wall()
        fields = sorted(self.dirty)
        pipe = conn.pipeline(transaction=False)
        for field in fields:
            old = self.current[field]
            entry = Entry(old.up, old.since, now + self.ttl, old.rtt_ms, old.by)
            pipe.hset(HASH, field, entry.encode())
            pipe.publish(CHANNEL, encode_message(field, entry))
        # A fleet whose probers all died leaves no hash behind either.
        pipe.expire(HASH, math.ceil(self.ttl))
        await pipe.execute()
        self.dirty.difference_update(fields)
        self.written += len(fields)
        if self._metrics is not None:
            self._metrics.written.inc(len(fields))
        if len(fields) == len(self.current):  # a full write: the next one is due in ttl/3
            self._refresh_at = now + self.ttl / 3


class _PublishMetrics:
    """What ``/metrics`` shows of ``--publish``."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.written = Counter(
            "siplocate_publish_written_total",
            "Health entries written to Redis (changes and refreshes).",
            registry=r,
        )
        self.dropped = Counter(
            "siplocate_publish_dropped_total",
            "Health changes made while Redis was unreachable (the newest is sent on reconnect).",
            registry=r,
        )
        self.connected = Gauge(
            "siplocate_publish_connected", "1 while Redis takes the health entries.", registry=r
        )

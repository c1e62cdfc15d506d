"""``RedisHealth``: a fleet's clients follow one prober's verdicts (``watch --publish``) instead
of each probing every server (contract: ``siplocate.shared_health``).

It reads the hash, then follows the channel: a target reported down is skipped by every
request of every attached client from the moment the message arrives, until the entry's
``expires``; reported up, it is up again through the client's own failover state (failback
rules and damping apply). A client's own failures still count: an up report does not clear
a failure the client saw itself. Without Redis (at start or later) each client probes on its
own (``HealthMonitor``) and an event says so; when Redis is back they rejoin.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..clock import SYSTEM_CLOCK, Clock
from ..shared_health import (
    CHANNEL,
    HASH,
    Backoff,
    Entry,
    TargetKey,
    decode_field,
    decode_message,
    keep_connected,
    redis_module,
    redis_url,
)
from ..target import Target, Transport
from .failover import key
from .health import HealthMonitor
from .sipclient import SipClient
from .walker import Attempt

#: Seconds without a message before the link is checked with a PING.
QUIET = 5.0
#: Shared "down" marks remembered per client before the lapsed ones are forgotten.
MAX_DOWNED = 4096


@dataclass(frozen=True, slots=True)
class HealthEvent:
    """``shared`` (following Redis) or ``fallback`` (probing alone: ``detail`` says why)."""

    at: float
    event: str
    url: str
    detail: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"event": f"health-{self.event}", "at": round(self.at, 3), "url": self.url,
                "detail": self.detail}  # fmt: skip


@dataclass
class _Follower:
    """One attached client: which targets the shared state marked down (and until when)."""

    client: SipClient
    downed: dict[TargetKey, float] = field(default_factory=dict)
    monitor: HealthMonitor | None = None

    async def rejoin(self, now: float) -> None:
        """Stop probing alone; what that probing saw down is now the shared state's to lift
        (an up report clears it), and runs out after the client's down time otherwise."""
        if self.monitor is None:
            return
        await self.monitor.stop()
        for k, up in self.monitor.state.items():
            if not up and k not in self.downed:
                until = now + self.client.failover.down_for
                t = self.target(k)
                self.client.failover.observed_up(t)  # drop the monitor's "until seen up"
                self.client.failover.mark(t, False, until=until)  # Unix time, kept monotonic
                self.downed[k] = until
        self.monitor = None

    def target(self, k: TargetKey) -> Target:
        known = next((t for t in self.client.last_targets if key(t) == k), None)
        return known or Target(Transport(k[0]), k[1], k[2], k[1])

    def apply(self, k: TargetKey, entry: Entry, now: float) -> None:
        t = self.target(k)
        if not entry.up:
            if k in self.downed:  # a refresh: longer, without telling anyone again
                self.client.failover.mark(t, False, until=entry.expires)
            else:
                self.client.mark(t, False, until=entry.expires)
            self.downed[k] = entry.expires
            if len(self.downed) > MAX_DOWNED:  # a flood of fields: keep only what still holds
                self.downed = {d: u for d, u in self.downed.items() if u > now}
        elif self.downed.pop(k, None) is not None:
            self.client.observed(t, True, changed=True)
        elif not self.client.is_down(t):  # our own failure stays until it runs out
            self.client.observed(t, True, changed=False)


class RedisHealth:
    """Follow the shared health at ``url`` for every attached client; probe alone (every
    ``fallback_interval`` seconds) while Redis cannot be reached."""

    def __init__(
        self,
        url: str,
        *,
        fallback_interval: float = 1.0,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        on_event: Callable[[HealthEvent], None] | None = None,
    ) -> None:
        self.url = redis_url(url, "--health")
        self._redis = redis_module()
        self.fallback_interval = fallback_interval
        self.clock = clock or SYSTEM_CLOCK
        self.backoff = backoff or Backoff()
        self.on_event = on_event
        self.events: deque[HealthEvent] = deque(maxlen=100)
        self.followers: list[_Follower] = []
        self.shared = False  # following Redis now
        self.messages = 0  # health messages applied
        self.ignored = 0  # entries or messages not of the contract, or past expiry
        self._fallback = False
        self._decided = asyncio.Event()  # set once shared or fallback is known
        self._task: asyncio.Task[None] | None = None

    # -- clients ---------------------------------------------------------------------------

    def attach(self, client: SipClient) -> RedisHealth:
        """Feed ``client`` (inside a running loop, following starts at once)."""
        follower = _Follower(client)
        self.followers.append(follower)
        if self._fallback:
            self._probe_alone(follower)
        with contextlib.suppress(RuntimeError):  # no running loop: ``start()`` later
            asyncio.get_running_loop()
            self.start()
        return self

    def apply(self, k: TargetKey, entry: Entry) -> bool:
        """One entry for every client; False when it is past ``expires`` (ignored)."""
        now = self.clock.wall()
        if not entry.fresh(now):
            self.ignored += 1
            return False
        self.messages += 1
        for follower in self.followers:
            follower.apply(k, entry, now)
        return True

    async def ready(self, timeout: float) -> bool:
        """Wait (at most ``timeout``) until the hash was read or the fallback began; True
        when following Redis. Starts following when nothing did yet."""
        self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._decided.wait(), timeout)
        return self.shared

    # -- the link ---------------------------------------------------------------------------

    def start(self) -> RedisHealth:
        if self._task is None:
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
        for follower in self.followers:
            if follower.monitor is not None:
                await follower.monitor.stop()
                follower.monitor = None

    async def _session(self) -> None:
        conn: Any = self._redis.from_url(self.url, socket_connect_timeout=2.0, socket_timeout=2.0)
        pubsub = conn.pubsub()
        try:
            await pubsub.subscribe(CHANNEL)  # before reading the hash: no change falls between
            for field_, value in (await conn.hgetall(HASH)).items():
                self._apply_stored(field_, value)
            await self._joined()
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=QUIET)
                if message is None:
                    await conn.ping()  # quiet: make sure Redis is still there
                elif message.get("type") == "message":
                    self._apply_message(message.get("data", b""))
        finally:
            self.shared = False
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await conn.aclose()

    def _apply_stored(self, field_: bytes, value: bytes) -> None:
        try:
            self.apply(decode_field(field_.decode()), Entry.decode(value))
        except (ValueError, UnicodeDecodeError):
            self.ignored += 1

    def _apply_message(self, data: bytes | str) -> None:
        try:
            self.apply(*decode_message(data))
        except (ValueError, UnicodeDecodeError):
            self.ignored += 1

    async def _joined(self) -> None:
        self.shared = True
        self.backoff.reset()
        if self._fallback or not self.events:
            self._fallback = False
            self._say("shared")
        for follower in self.followers:
            await follower.rejoin(self.clock.wall())

    def _lost(self, exc: Exception) -> None:
        self.shared = False
        if self._fallback:
            return
        self._fallback = True
        self._say("fallback", f"{type(exc).__name__}: {exc}; probing alone until it is back")
        for follower in self.followers:
            self._probe_alone(follower)

    def _probe_alone(self, follower: _Follower) -> None:
        if follower.monitor is None:
            follower.monitor = HealthMonitor(
                follower.client, interval=self.fallback_interval
            ).start()

    def _say(self, event: str, detail: str = "") -> None:
        self._decided.set()
        ev = HealthEvent(self.clock.wall(), event, self.url, detail)
        self.events.append(ev)
        if self.on_event is not None:
            self.on_event(ev)


class SharedView:
    """``probe --health``: the fleet's fresh verdicts, read once; a target they cover is
    reported from them instead of being probed (its ``Attempt.error`` says so)."""

    def __init__(self, entries: dict[TargetKey, Entry], now: float) -> None:
        self.entries = {k: e for k, e in entries.items() if e.fresh(now)}

    @classmethod
    async def read(cls, url: str, clock: Clock | None = None) -> SharedView:
        """One read of the hash (entries not of the contract are skipped)."""
        conn: Any = redis_module().from_url(
            redis_url(url, "--health"), socket_connect_timeout=2.0, socket_timeout=2.0
        )
        try:
            stored = await conn.hgetall(HASH)
        finally:
            await conn.aclose()
        entries: dict[TargetKey, Entry] = {}
        for field_, value in stored.items():
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                entries[decode_field(field_.decode())] = Entry.decode(value)
        return cls(entries, (clock or SYSTEM_CLOCK).wall())

    def covers(self, target: Target) -> bool:
        return key(target) in self.entries

    def attempt(self, target: Target) -> Attempt:
        """The fleet's verdict on ``target`` in probe's row shape (no OPTIONS sent)."""
        e = self.entries[key(target)]
        return Attempt(target, None, f"shared: {'up' if e.up else 'down'} (by {e.by})",
                       e.rtt_ms or 0.0)  # fmt: skip

    def up(self, attempt: Attempt) -> bool:
        entry = self.entries.get(key(attempt.target))
        return entry is not None and entry.up

    def as_dict(self, attempt: Attempt) -> dict[str, object]:
        entry = self.entries.get(key(attempt.target))
        return {**attempt.as_dict(), "shared": None if entry is None else entry.as_dict()}

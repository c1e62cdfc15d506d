"""Health monitor: periodic OPTIONS to every target, feeding the client's down-memory.

A target that stops answering is marked down before any real request hits it; one that
answers again is marked up, which lets a registration fail back within one probe interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Protocol

from ..clock import Clock
from ..target import Target
from .failover import key
from .walker import Attempt

ChangeHandler = Callable[[Target, bool, Attempt], None]


class Probed(Protocol):
    """What the monitor needs from the client (``SipClient``): its targets, one probe each,
    where the verdicts go, its failover budget and its clock."""

    @property
    def failover_after(self) -> float | None: ...
    @property
    def clock(self) -> Clock: ...

    async def targets(self) -> tuple[list[Target], float | None]: ...
    async def probe(self, target: Target, budget: float | None = None) -> Attempt: ...
    def observed(self, target: Target, up: bool, *, changed: bool = True) -> None: ...


def answered(attempt: Attempt) -> bool:
    """Any SIP response except 503 means the server is there and serving."""
    return attempt.status is not None and attempt.status != 503


class HealthMonitor:
    """Probe every target of ``client`` every ``interval`` seconds (each probe bounded by
    ``timeout``, default the client's failover budget or the interval).
    """

    def __init__(
        self,
        client: Probed,
        *,
        interval: float = 1.0,
        timeout: float | None = None,
        on_change: ChangeHandler | None = None,
    ) -> None:
        if interval <= 0:
            raise ValueError("probe interval must be positive")
        self.client = client
        self.interval = interval
        self.timeout = timeout or client.failover_after or interval
        self.on_change = on_change
        self.state: dict[tuple[str, str, int], bool] = {}
        self.rounds = 0
        self._task: asyncio.Task[None] | None = None

    async def probe_all(self) -> list[Attempt]:
        """One round: OPTIONS to every target in parallel; update the client's memory."""
        targets, _ = await self.client.targets()
        attempts = await asyncio.gather(*(self.client.probe(t, self.timeout) for t in targets))
        for attempt in attempts:
            target = attempt.target
            up = answered(attempt)
            before = self.state.get(key(target))
            self.state[key(target)] = up
            if before != up and self.on_change is not None:
                self.on_change(target, up, attempt)
            self.client.observed(target, up, changed=before != up)
        self.rounds += 1
        return list(attempts)

    async def run(self) -> None:
        """Probe forever, one round per interval (each round bounded by the probe timeout)."""
        while True:
            clock = self.client.clock
            started = clock.monotonic()
            with contextlib.suppress(Exception):
                await self.probe_all()
            await clock.sleep(max(0.0, self.interval - (clock.monotonic() - started)))

    def start(self) -> HealthMonitor:
        self._task = asyncio.create_task(self.run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

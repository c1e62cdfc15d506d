"""The one clock: monotonic time for every duration, deadline and down-memory; wall time only
for what is shown or exported; and a way to wait, so timing rules are tested without sleeping.

``SystemClock`` is the real one. ``ManualClock`` moves only when told (``advance``), waking
its sleepers in due order: a test proves a timer rule in no real time. Code that took a bare
``Callable[[], float]`` as its clock still may: ``as_clock`` makes it a Clock (monotonic from
the callable, wall and sleep from the system).
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Clock(Protocol):
    """Monotonic time for intervals, wall time for stamps, and a way to wait."""

    def monotonic(self) -> float: ...

    def wall(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class _Monotonic:
    """A bare ``() -> seconds`` callable as a Clock: its readings are the monotonic time."""

    def __init__(self, read: Callable[[], float]) -> None:
        self._read = read

    def monotonic(self) -> float:
        return self._read()

    def wall(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


def as_clock(clock: Clock | Callable[[], float] | None) -> Clock:
    """A Clock from a Clock, a monotonic ``() -> float`` callable, or None (the system's)."""
    if clock is None:
        return SYSTEM_CLOCK
    if hasattr(clock, "monotonic"):
        return clock  # type: ignore[return-value]
    return _Monotonic(clock)


class ManualClock:
    """A clock that moves only when told: ``advance(s)`` wakes every sleeper due by then.

    Sleepers are woken in due order and each gets the event loop to itself for a moment,
    so a week of probe rounds runs in seconds.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._start = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def wall(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._now - self._start

    async def sleep(self, seconds: float) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._now + max(0.0, seconds), next(self._seq), future))
        await future

    @property
    def next_due(self) -> float | None:
        """When the earliest sleeper wakes (wall time), or None when nobody sleeps."""
        while self._sleepers and self._sleepers[0][2].done():
            heapq.heappop(self._sleepers)
        return self._sleepers[0][0] if self._sleepers else None

    async def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, waking sleepers in order as their time comes."""
        end = self._now + seconds
        await _settle()
        while True:
            due = self.next_due
            if due is None or due > end:
                break
            _, _, future = heapq.heappop(self._sleepers)
            self._now = max(self._now, due)
            future.set_result(None)
            await _settle()
        self._now = end


async def _settle(limit: int = 10_000) -> None:
    """Let every runnable task run until it waits again (on the clock or on I/O)."""
    loop = asyncio.get_running_loop()
    ready = getattr(loop, "_ready", None)  # CPython's queue of runnable callbacks
    for _ in range(limit if ready is not None else 50):
        await asyncio.sleep(0)
        if ready is not None and not ready:
            break

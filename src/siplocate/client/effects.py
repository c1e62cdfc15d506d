"""One effect runner for every sans-I/O machine the client drives.

A machine (a client or server transaction, the request walker) answers each event with a
list of effects; its runner carries them out in order, arms and disarms its timers on the
injected clock, feeds a fired timer back to the machine, and cancels what is left on close.
Each machine's runner only says what its own effects mean (``carry_out``) and what a timer
means to the machine (``on_timer``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import ClassVar, Generic, Protocol, TypeVar

from ..clock import Clock, SystemClock

A = TypeVar("A")
R = TypeVar("R")


class Handle(Protocol):
    """An armed timer: ``asyncio.TimerHandle`` or the task sleeping on another clock."""

    def cancel(self) -> object: ...


def call_later(clock: Clock, delay: float, callback: Callable[[A], None], arg: A) -> Handle:
    """Run ``callback(arg)`` after ``delay`` seconds of ``clock``: the event loop's own
    timer for the system clock (cheap, no task), a task sleeping on any other clock (a
    ManualClock fires it when the test advances time)."""
    loop = asyncio.get_running_loop()
    if isinstance(clock, SystemClock):
        return loop.call_later(delay, callback, arg)
    return loop.create_task(_after(clock, delay, callback, arg))


async def _after(clock: Clock, delay: float, callback: Callable[[A], None], arg: A) -> None:
    await clock.sleep(delay)
    callback(arg)


async def within(clock: Clock, seconds: float, work: Awaitable[R]) -> R:
    """``work``'s result if it ends within ``seconds`` of ``clock``, else TimeoutError (and
    ``work`` is cancelled), like ``asyncio.wait_for`` on the injected clock."""
    if isinstance(clock, SystemClock):
        return await asyncio.wait_for(work, seconds)
    job = asyncio.ensure_future(work)
    timer = asyncio.ensure_future(clock.sleep(seconds))
    try:
        await asyncio.wait({job, timer}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        timer.cancel()
    if not job.done():
        job.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await job
        raise TimeoutError
    return job.result()


T = TypeVar("T", bound=Hashable)  # a machine's timer names
E = TypeVar("E")  # a machine's effects


class EffectRunner(Generic[T, E]):
    """The asyncio side of one sans-I/O machine: effects carried out in order, timers armed
    on ``clock``. Effects that arise while a batch runs (a send that fails at once, a timer
    that a listener's reaction re-arms) queue behind it rather than running in the middle.

    A machine's timers occupy ``SLOTS`` numbered slots (``slot``): arming a timer replaces
    the one in its slot. The handles live in a list made at the first arm, so a runner that
    waits (thousands of live server transactions) costs a few pointers."""

    __slots__ = ("_busy", "_handles", "_later", "clock")

    #: How many timer slots the machine has (``slot`` maps each timer into ``range(SLOTS)``).
    SLOTS: ClassVar[int] = 1

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._handles: list[Handle | None] | None = None
        self._later: list[E] | None = None
        self._busy = False

    # -- what each machine's runner says --------------------------------------------------

    def carry_out(self, effect: E) -> None:
        """Do one effect (the per-machine dispatch)."""
        raise NotImplementedError

    def on_timer(self, timer: T) -> list[E]:
        """``timer`` fired: the machine's effects."""
        raise NotImplementedError

    def settled(self) -> None:
        """Every effect of a batch is carried out (e.g. close once the machine is done)."""

    def slot(self, timer: T) -> int:
        """Which slot ``timer`` occupies, in ``range(SLOTS)``."""
        return 0

    # -- the shared part ------------------------------------------------------------------

    def apply(self, effects: list[E]) -> None:
        """Carry ``effects`` out in order, then whatever arose meanwhile, then ``settled``."""
        if self._busy:
            self._later = [*(self._later or ()), *effects]
            return
        self._busy = True
        try:
            batch = effects
            while batch:
                for effect in batch:
                    self.carry_out(effect)
                batch, self._later = self._later or [], None
        finally:
            self._busy = False
        self.settled()

    def arm(self, timer: T, delay: float) -> None:
        """Arm ``timer`` (``delay`` seconds of the clock), replacing the one in its slot."""
        slot = self.slot(timer)
        self._cancel(slot)
        if self._handles is None:
            self._handles = [None] * self.SLOTS
        self._handles[slot] = call_later(self.clock, delay, self._fire, timer)

    def disarm(self, timer: T) -> None:
        self._cancel(self.slot(timer))

    def _cancel(self, slot: int) -> None:
        handles = self._handles
        if handles is not None and (handle := handles[slot]) is not None:
            handles[slot] = None
            handle.cancel()

    def _fire(self, timer: T) -> None:
        if self._handles is not None:
            self._handles[self.slot(timer)] = None
        self.apply(self.on_timer(timer))

    def close(self) -> None:
        """Cancel every armed timer."""
        handles, self._handles = self._handles, None
        for handle in handles or ():
            if handle is not None:
                handle.cancel()

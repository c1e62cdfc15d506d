"""One effect runner for every sans-I/O machine the client drives.

A machine (a client or server transaction, the request walker) answers each event with a
list of effects; its runner carries them out in order, arms and disarms its timers on the
injected clock, feeds a fired timer back to the machine, and cancels what is left on close.
Each machine's runner only says what its own effects mean (``carry_out``) and what a timer
means to the machine (``on_timer``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Generic, Protocol, TypeVar

from ..clock import Clock, SystemClock


class Handle(Protocol):
    """An armed timer: ``asyncio.TimerHandle`` or the task sleeping on another clock."""

    def cancel(self) -> object: ...


def call_later(clock: Clock, delay: float, callback: Callable[[], None]) -> Handle:
    """Run ``callback`` after ``delay`` seconds of ``clock``: the event loop's own timer for
    the system clock (cheap, no task), a task sleeping on any other clock (a ManualClock
    fires it when the test advances time)."""
    loop = asyncio.get_running_loop()
    if isinstance(clock, SystemClock):
        return loop.call_later(delay, callback)
    return loop.create_task(_after(clock, delay, callback))


async def _after(clock: Clock, delay: float, callback: Callable[[], None]) -> None:
    await clock.sleep(delay)
    callback()


T = TypeVar("T", bound=Hashable)  # a machine's timer names
E = TypeVar("E")  # a machine's effects


class EffectRunner(Generic[T, E]):
    """The asyncio side of one sans-I/O machine: effects carried out in order, timers armed
    on ``clock``. Effects that arise while a batch runs (a send that fails at once, a timer
    that a listener's reaction re-arms) queue behind it rather than running in the middle."""

    __slots__ = ("_busy", "_handles", "_later", "clock")

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._handles: dict[Hashable, Handle] = {}
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

    def slot(self, timer: T) -> Hashable:
        """Which handle ``timer`` occupies: arming a timer replaces the one in its slot."""
        return timer

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
        self.disarm_slot(slot)
        self._handles[slot] = call_later(self.clock, delay, lambda: self._fire(timer))

    def disarm(self, timer: T) -> None:
        self.disarm_slot(self.slot(timer))

    def disarm_slot(self, slot: Hashable) -> None:
        handle = self._handles.pop(slot, None)
        if handle is not None:
            handle.cancel()

    def _fire(self, timer: T) -> None:
        self._handles.pop(self.slot(timer), None)
        self.apply(self.on_timer(timer))

    def close(self) -> None:
        """Cancel every armed timer."""
        for handle in self._handles.values():
            handle.cancel()
        self._handles.clear()

"""One effect runner for every sans-I/O machine the client drives.

A machine (a client or server transaction, the request walker, a registration, the RFC 5626
flows) answers each event with a list of effects; its runner carries them out in order, arms
and disarms its timers on the injected clock, feeds a fired timer back to the machine, runs
async work (a REGISTER, a keep-alive) as a task whose result goes back to the machine, and
cancels what is left on close. Each machine's runner only says what its own effects mean
(``carry_out``) and what a timer means to the machine (``on_timer``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, ClassVar, Generic, Protocol, TypeVar

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


async def first_of(*waits: Awaitable[object]) -> None:
    """Until the first of ``waits`` ends (the others are cancelled): a run waits so for its
    stop or for work that failed."""
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


class FirstFailure:
    """The first error a driver's work raised (a bug, not an outcome): ``halted`` wakes the
    driver's run loop, which ``reraise``s it there, once, so the run ends with it."""

    __slots__ = ("error", "halted")

    def __init__(self) -> None:
        self.error: BaseException | None = None
        self.halted = asyncio.Event()

    def record(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self.halted.set()

    def reraise(self) -> None:
        error, self.error = self.error, None
        if error is not None:
            raise error


T = TypeVar("T", bound=Hashable)  # a machine's timer names
E = TypeVar("E")  # a machine's effects


class EffectRunner(Generic[T, E]):
    """The asyncio side of one sans-I/O machine: effects carried out in order, timers armed
    on ``clock``. Effects that arise while a batch runs (a send that fails at once, a timer
    that a listener's reaction re-arms) queue behind it rather than running in the middle.

    A machine's timers occupy ``SLOTS`` numbered slots (``slot``): arming a timer replaces
    the one in its slot. The handles live in a list made at the first arm, so a runner that
    waits (thousands of live server transactions) costs a few pointers."""

    __slots__ = ("_awaiting", "_busy", "_handles", "_later", "_tasks", "clock")

    #: How many timer slots the machine has (``slot`` maps each timer into ``range(SLOTS)``).
    SLOTS: ClassVar[int] = 1

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._handles: list[Handle | None] | None = None
        self._later: list[E] | None = None
        self._busy = False
        self._awaiting = False  # held work is in flight: later effects wait for its result
        self._tasks: set[asyncio.Future[Any]] | None = None

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

    def crashed(self, error: BaseException) -> None:
        """Work ``start`` ran raised ``error`` (a bug, not an outcome): by default the event
        loop's exception handler hears of it; a runner that can end its machine says how."""
        asyncio.get_running_loop().call_exception_handler(
            {"message": f"{type(self).__name__}: work failed", "exception": error}
        )

    # -- the shared part ------------------------------------------------------------------

    def apply(self, effects: list[E]) -> None:
        """Carry ``effects`` out in order, then whatever arose meanwhile, then ``settled``."""
        if self._busy or self._awaiting:
            self._later = [*(self._later or ()), *effects]
            return
        self._busy = True
        try:
            batch = effects
            while batch:
                pending = iter(batch)
                for effect in pending:
                    self.carry_out(effect)
                    if self._awaiting:  # the rest waits for the held work's result
                        self._later = [*pending, *(self._later or ())]
                        return
                batch, self._later = self._later or [], None
        finally:
            self._busy = False
        self.settled()

    def start(
        self, work: Awaitable[R], then: Callable[[R], list[E]], *, hold: bool = False
    ) -> asyncio.Future[R]:
        """Run ``work`` as a task and feed its result to ``then`` (the machine's input), whose
        effects are carried out. ``hold``: the effects after this one wait until those are
        carried out, like an ``await`` in the list. Cancelled on ``close``; a failure goes to
        ``crashed`` (and drops what was held)."""
        self._awaiting = self._awaiting or hold
        task = asyncio.ensure_future(work)
        if self._tasks is None:
            self._tasks = set()
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._fed(done, then, hold))
        return task

    def _fed(self, task: asyncio.Future[R], then: Callable[[R], list[E]], hold: bool) -> None:
        """``task`` ended: its result goes to ``then`` (with what it held behind)."""
        if self._tasks is not None:
            self._tasks.discard(task)
        if task.cancelled():
            return  # closed: what it held went with it
        try:
            effects = then(task.result())
        except Exception as error:  # the work (or the machine's answer to it) raised
            if hold:
                self._awaiting, self._later = False, None
            self.crashed(error)
            return
        if hold:
            self._awaiting = False
            rest, self._later = self._later or [], None
            effects = [*effects, *rest]
        try:
            self.apply(effects)
        except Exception as error:
            self.crashed(error)

    async def idle(self) -> None:
        """Until no work this runner started is in flight (work it starts meanwhile too)."""
        while pending := [t for t in self._tasks or () if not t.done()]:
            await asyncio.wait(pending)

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
        """Cancel every armed timer and the work in flight (what it held is dropped)."""
        handles, self._handles = self._handles, None
        for handle in handles or ():
            if handle is not None:
                handle.cancel()
        if self._tasks:
            tasks, self._tasks = self._tasks, None
            self._awaiting, self._later = False, None
            for task in tasks:
                task.cancel()

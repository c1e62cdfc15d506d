"""Staying registered (RFC 3261 §10): ``Registration`` drives a ``RegistrationMachine``
(registration_machine.py: the rules) against a client through the one ``EffectRunner``: the
REGISTERs the machine asks for run as work whose outcome goes back to it, its refresh timer is
armed on the clock, health verdicts go in as they come, and the events are told."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..clock import Clock, as_clock
from ..errors import DnsError, NotFound
from ..target import Target
from .effects import EffectRunner, FirstFailure, first_of
from .failover import Damping, Failback, Steering
from .registration_machine import (
    ArmRefresh,
    Binding,
    Effect,
    Emit,
    RegEvent,
    RegistrationMachine,
    SendRegister,
    Unregister,
    refresh_in,
)
from .walker import Outcome

__all__ = ["Binding", "RegEvent", "Registrar", "Registration", "refresh_in"]

Listener = Callable[[Target, bool], None]
EventSink = Callable[[RegEvent], Awaitable[None] | None]


class Registrar(Protocol):
    """What a Registration uses of a client (``SipClient`` is one): REGISTER with a binding
    and a steering, its removal, the ranked try list and the (target, up) listeners."""

    async def register(
        self, expires: int = ..., *, binding: Binding | None = ..., steering: Steering | None = ...
    ) -> Outcome: ...

    async def unregister(self, *, binding: Binding | None = ...) -> Outcome | None: ...

    @property
    def last_targets(self) -> Sequence[Target]: ...

    @property
    def listeners(self) -> list[Listener]: ...


class Registration:
    """Stay registered: refresh before expiry, fail over at once when the registrar fails (as
    soon as a request or the health monitor notices), fail back per ``failback``.

    ``damping`` (default: none) holds a failback back while the higher-ranked target's flap
    penalty keeps it suppressed (RFC 2439 style, see ``Damping``) or it has not yet answered
    ``damping.probes`` health probes in a row; it applies to probe-driven failbacks and to
    refreshes alike. ``clock``: a Clock (or a monotonic ``() -> seconds``) that the damping
    and the timers run on; events are stamped with its wall time.
    """

    def __init__(
        self,
        client: Registrar,
        *,
        expires: int = 3600,
        failback: str | Failback = "refresh",
        on_event: EventSink | None = None,
        retry_interval: float = 5.0,
        binding: Binding | None = None,
        damping: Damping | None = None,
        clock: Clock | Callable[[], float] | None = None,
    ) -> None:
        self.client = client
        self.clock = as_clock(clock)
        self.machine = RegistrationMachine(
            expires=expires,
            failback=failback if isinstance(failback, Failback) else Failback.parse(failback),
            damping=damping,
            retry_interval=retry_interval,
            binding=binding,
        )
        self.on_event = on_event
        self.events: list[RegEvent] = []
        self._runner = _Runner(self)
        self._running = False  # verdicts and the refresh timer act only while run() lasts
        self._failed = FirstFailure()  # a REGISTER or a listener raised: the run ends
        client.listeners.append(self._health)

    # The machine's state, as the public API has always shown it.
    @property
    def current(self) -> Target | None:
        return self.machine.current

    @property
    def binding(self) -> Binding:
        return self.machine.binding

    @property
    def damping(self) -> Damping:
        return self.machine.damping

    @property
    def failback(self) -> Failback:
        return self.machine.failback

    @property
    def expires(self) -> int:
        return self.machine.expires

    @property
    def retry_interval(self) -> float:
        return self.machine.retry_interval

    def refresh_in(self) -> float:
        """Refresh at half the granted lifetime (never below 1 s), well before it lapses."""
        return self.machine.refresh_in()

    def _health(self, target: Target, up: bool) -> None:
        """A health check or another request learned something about a target: while the
        run lasts, a REGISTER the machine asks for goes out at once."""
        now = self.clock.monotonic()
        effects = self.machine.observed(target, up, self.client.last_targets, now)
        if self._running:
            self._runner.apply(effects)

    async def once(self) -> RegEvent:
        """One REGISTER (initial or refresh) and the event it produced."""
        told = len(self.events)
        self._runner.apply(self._register_now())
        await self._runner.idle()
        self._failed.reraise()
        return self.events[told]  # an outcome always makes an event

    def _carry_out(self, effect: Effect) -> None:
        """One of the machine's effects (the REGISTER runs as work whose outcome goes back to
        the machine; the refresh timer runs only while ``run`` does)."""
        runner = self._runner
        if isinstance(effect, SendRegister):
            runner.disarm(_REFRESH)
            runner.start(self._register(effect), self._registered, hold=True)
        elif isinstance(effect, Emit):
            event = effect.event(self.clock.wall())
            self.events.append(event)
            told = self.on_event(event) if self.on_event is not None else None
            if told is not None:
                runner.start(told, _nothing, hold=True)
        elif isinstance(effect, ArmRefresh):
            if self._running:
                runner.arm(_REFRESH, effect.delay)
        elif isinstance(effect, Unregister):
            runner.start(self._unregister(), _nothing, hold=True)

    async def _register(self, send: SendRegister) -> Outcome:
        try:
            return await self.client.register(
                self.machine.expires, binding=self.machine.binding, steering=send.steering
            )
        except (NotFound, DnsError) as exc:  # DNS trouble is a lost round, not the end
            return Outcome("REGISTER", None, None, error=str(exc))

    def _register_now(self) -> list[Effect]:
        return self.machine.register(self.client.last_targets, self.clock.monotonic())

    def _registered(self, outcome: Outcome) -> list[Effect]:
        return self.machine.registered(outcome, self.client.last_targets, self.clock.monotonic())

    def _expired(self) -> list[Effect]:
        return self.machine.expired(self.client.last_targets, self.clock.monotonic())

    async def _unregister(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.unregister(binding=self.machine.binding)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: register, refresh, fail over, fail back; then unregister."""
        runner = self._runner
        self._failed.halted.clear()
        try:
            if not stop.is_set():
                self._running = True
                runner.apply(self._register_now())
                await first_of(stop.wait(), self._failed.halted.wait())
                self._failed.reraise()  # a REGISTER or a listener failed: the run ends with it
            self._running = False
            runner.disarm(_REFRESH)
            await runner.idle()  # the REGISTER in flight is answered and told of
            self._failed.reraise()
        finally:
            self._running = False
            runner.close()  # what a cancelled run left
            runner.apply(self.machine.stop())
            await runner.idle()
            if self._health in self.client.listeners:
                self.client.listeners.remove(self._health)


class _Runner(EffectRunner[str, Effect]):
    """Registration's effects through the one effect runner; its one timer is the refresh
    (or the retry of a lost registration)."""

    __slots__ = ("owner",)

    def __init__(self, owner: Registration) -> None:
        super().__init__(owner.clock)
        self.owner = owner

    def carry_out(self, effect: Effect) -> None:
        self.owner._carry_out(effect)

    def on_timer(self, timer: str) -> list[Effect]:
        return self.owner._expired()

    def crashed(self, error: BaseException) -> None:
        self.owner._failed.record(error)


_REFRESH = "refresh"


def _nothing(_: object) -> list[Effect]:
    return []

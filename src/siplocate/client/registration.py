"""Staying registered (RFC 3261 §10): ``Registration`` drives a ``RegistrationMachine``
(registration_machine.py: the rules) against a client: it sends the REGISTERs the machine
asks for, sleeps on the clock until the timer or a health verdict, and tells of the events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol

from ..clock import Clock, as_clock
from ..errors import DnsError, NotFound
from ..target import Target
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
        self._wake = asyncio.Event()
        self._due: SendRegister | None = None  # what a verdict asked for, not yet sent
        self._delay = self.machine.retry_interval  # what the last outcome armed
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
        """A health check or another request learned something about a target."""
        now = self.clock.monotonic()
        for effect in self.machine.observed(target, up, self.client.last_targets, now):
            if isinstance(effect, SendRegister):
                self._due = effect
                self._wake.set()

    async def once(self) -> RegEvent:
        """One REGISTER (initial or refresh) and the event it produced."""
        effects = self.machine.register(self.client.last_targets, self.clock.monotonic())
        return await self._carry_out(effects)

    async def _carry_out(self, effects: list[Effect]) -> RegEvent:
        """Send the REGISTER the machine asked for and tell of the event its outcome made."""
        self._due = None
        self._wake.clear()  # a verdict from now on is answered by this REGISTER or wakes us
        [send] = [e for e in effects if isinstance(e, SendRegister)]
        try:
            outcome = await self.client.register(
                self.machine.expires, binding=self.machine.binding, steering=send.steering
            )
        except (NotFound, DnsError) as exc:  # DNS trouble is a lost round, not the end
            outcome = Outcome("REGISTER", None, None, error=str(exc))
        then = self.machine.registered(outcome, self.client.last_targets, self.clock.monotonic())
        event: RegEvent | None = None
        for effect in then:
            if isinstance(effect, Emit):
                event = effect.event(self.clock.wall())
                await self._emit(event)
            elif isinstance(effect, ArmRefresh):
                self._delay = effect.delay
        assert event is not None  # an outcome always makes an event
        return event

    async def _emit(self, event: RegEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            result = self.on_event(event)
            if result is not None:
                await result

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: register, refresh, fail over, fail back; then unregister."""
        try:
            effects = self.machine.register(self.client.last_targets, self.clock.monotonic())
            while not stop.is_set():
                await self._carry_out(effects)
                await self._sleep(self._delay, stop)
                if stop.is_set():
                    break
                due = self._due
                now = self.clock.monotonic()
                effects = [due] if due else self.machine.expired(self.client.last_targets, now)
        finally:
            for effect in self.machine.stop():
                if isinstance(effect, Unregister):
                    with contextlib.suppress(Exception):
                        await self.client.unregister(binding=self.machine.binding)
            if self._health in self.client.listeners:
                self.client.listeners.remove(self._health)

    async def _sleep(self, delay: float, stop: asyncio.Event) -> None:
        """Sleep ``delay`` seconds on the clock, or until stopped or woken by a verdict."""
        waiters = [
            asyncio.ensure_future(self.clock.sleep(delay)),
            asyncio.ensure_future(stop.wait()),
            asyncio.ensure_future(self._wake.wait()),
        ]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()

"""Staying registered (RFC 3261 §10): the state of one binding, and a ``Registration`` that
refreshes it, fails over as soon as its registrar fails and fails back per its mode."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import DnsError, NotFound
from ..sip.message import new_call_id, new_tag
from ..target import Target
from .failover import Damping, Failback, Steering, TargetKey, key
from .walker import Attempt, Outcome

if TYPE_CHECKING:
    from .sipclient import SipClient


@dataclass
class Binding:
    """The state of one registration (RFC 3261 §10.2): its Call-ID and From tag stay the same
    across refreshes, the CSeq grows; ``target`` holds it, for ``granted`` seconds."""

    call_id: str = field(default_factory=new_call_id)
    tag: str = field(default_factory=new_tag)
    cseq: int = 0
    target: Target | None = None
    granted: int | None = None


@dataclass
class RegEvent:
    """One change in a kept-alive registration, as ``register --follow --json`` prints it."""

    event: str  # registered refreshed failover failback lost (+ flow-failed unbound fallback)
    target: Target | None
    at: float
    detail: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    flow: int | None = None  # RFC 5626 reg-id of the flow it concerns (outbound only)

    def as_dict(self) -> dict[str, object]:
        t = self.target
        return {
            "event": self.event,
            "transport": t.transport.value if t else None,
            "host": t.host if t else None,
            "address": t.address if t else None,
            "port": t.port if t else None,
            "at": round(self.at, 3),
            "attempts": [a.as_dict() for a in self.attempts],
            "flow": self.flow,
            "detail": self.detail,
        }


class Registration:
    """Stay registered: refresh before expiry, fail over at once when the registrar fails (as
    soon as a request or the health monitor notices), fail back per ``failback``.

    ``damping`` (default: none) holds a failback back while the higher-ranked target's flap
    penalty keeps it suppressed (RFC 2439 style, see ``Damping``) or it has not yet answered
    ``damping.probes`` health probes in a row; it applies to probe-driven failbacks and to
    refreshes alike. ``clock`` is monotonic seconds, the time the damping runs on.
    """

    def __init__(
        self,
        client: SipClient,
        *,
        expires: int = 3600,
        failback: str | Failback = "refresh",
        on_event: Callable[[RegEvent], Awaitable[None] | None] | None = None,
        retry_interval: float = 5.0,
        binding: Binding | None = None,
        damping: Damping | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.damping = damping if damping is not None else Damping()
        self.clock = clock
        self.binding = binding if binding is not None else Binding()
        self.expires = expires
        self.failback = failback if isinstance(failback, Failback) else Failback.parse(failback)
        self.on_event = on_event
        self.retry_interval = retry_interval
        self.current: Target | None = None
        self.events: list[RegEvent] = []
        self._wake = asyncio.Event()
        self._reason = ""
        # Targets a failback was already tried to while they kept answering: one try per
        # run of answers (a registrar that answers OPTIONS but not REGISTER is not hammered).
        self._failback_tried: set[TargetKey] = set()
        client.listeners.append(self._health)

    def _health(self, target: Target, up: bool) -> None:
        """A health check or another request learned something about a target."""
        self.damping.saw(target, up, self.clock())
        if not up:
            self._failback_tried.discard(key(target))
        if self.current is None:
            return
        if not up and target == self.current:
            self._reason = "current registrar down"
            self._wake.set()
        elif (
            up
            and self.failback == Failback.PROBE
            and self._ranks_higher(target)
            and key(target) not in self._failback_tried
            and self.damping.may_fail_back(target, self.clock())
        ):
            self._failback_tried.add(key(target))
            self._reason = "higher-ranked target up"
            self._wake.set()

    def _ranks_higher(self, target: Target) -> bool:
        targets = self.client.last_targets
        if self.current not in targets or target not in targets:
            return False
        return targets.index(target) < targets.index(self.current)

    async def _emit(self, event: RegEvent) -> None:
        self.events.append(event)
        if self.on_event is not None:
            result = self.on_event(event)
            if result is not None:
                await result

    async def once(self) -> RegEvent:
        """One REGISTER (initial or refresh) and the event it produced."""
        steering = self._steering()
        previous = self.current
        try:
            outcome = await self.client.register(
                self.expires, binding=self.binding, steering=steering
            )
        except (NotFound, DnsError) as exc:  # DNS trouble is a lost round, not the end
            outcome = Outcome("REGISTER", None, None, error=str(exc))
        now = time.time()
        if not outcome.ok:
            self.current = None
            event = RegEvent("lost", previous, now, outcome.describe(), outcome.attempts)
        else:
            self.current = outcome.target
            if previous is None:
                kind = "registered"
            elif previous == self.current:
                kind = "refreshed"
            elif self._rank(self.current) < self._rank(previous):
                kind = "failback"
            else:
                kind = "failover"
            event = RegEvent(kind, self.current, now, outcome.describe(), outcome.attempts)
        await self._emit(event)
        return event

    def _steering(self) -> Steering:
        """Where the next REGISTER starts: the current registrar (failback never, or damped
        and every higher-ranked target suppressed or short of answers in a row), the first
        higher-ranked target damping lets it fail back to, or the top of the list (undamped:
        the walk itself skips targets known to be down)."""
        if self.failback == Failback.NEVER:
            return Steering(prefer=self.current)
        if self.current is None or not self.damping.damped:
            return Steering(from_top=True)
        now = self.clock()
        for target in self.client.last_targets:
            if target == self.current:
                break
            if self.damping.may_fail_back(target, now):
                return Steering(prefer=target)
        return Steering(prefer=self.current)

    def _rank(self, target: Target | None) -> float:
        targets = self.client.last_targets
        return targets.index(target) if target in targets else math.inf

    def refresh_in(self) -> float:
        """Refresh at half the granted lifetime (never below 1 s), well before it lapses."""
        granted = self.binding.granted or self.expires
        return max(1.0, granted / 2)

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: register, refresh, fail over, fail back; then unregister."""
        try:
            while not stop.is_set():
                event = await self.once()
                self._wake.clear()  # what once() itself reported is already handled
                delay = self.retry_interval if event.event == "lost" else self.refresh_in()
                waiters = [
                    asyncio.ensure_future(stop.wait()),
                    asyncio.ensure_future(self._wake.wait()),
                ]
                try:
                    await asyncio.wait(waiters, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
        finally:
            with contextlib.suppress(Exception):
                await self.client.unregister(binding=self.binding)
            if self._health in self.client.listeners:
                self.client.listeners.remove(self._health)

"""Staying registered (RFC 3261 §10) as a pure machine: REGISTER outcomes, health verdicts,
timer expiries and stop go in, with the time; effects come out (send a REGISTER steered so,
arm the refresh timer, tell of an event, unregister). No asyncio, no I/O, no clock: the
failover and failback rules are unit tests on numbers. ``Registration`` is its driver.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..sip.message import new_call_id, new_tag
from ..target import Target
from .failover import Damping, Failback, Steering, TargetKey, key
from .walker import Attempt, Outcome


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


def refresh_in(granted: int | None, expires: int) -> float:
    """Seconds to the next refresh: half the granted lifetime (the asked one when nothing was
    granted yet), never below 1 s, so the binding is renewed well before it lapses."""
    return max(1.0, (granted or expires) / 2)


# Effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendRegister:
    """Send a REGISTER (initial or refresh) for the binding, its try order steered so."""

    steering: Steering


@dataclass(frozen=True, slots=True)
class ArmRefresh:
    """(Re)arm the one timer: ``expired`` is due in ``delay`` seconds."""

    delay: float


@dataclass(frozen=True, slots=True)
class Emit:
    """Tell of an event (the driver stamps it with the wall time: ``event(at)``)."""

    kind: str
    target: Target | None
    detail: str = ""
    attempts: tuple[Attempt, ...] = ()
    flow: int | None = None

    def event(self, at: float) -> RegEvent:
        return RegEvent(self.kind, self.target, at, self.detail, list(self.attempts), self.flow)


@dataclass(frozen=True, slots=True)
class Unregister:
    """Remove the binding from the registrar that holds it (the run is over)."""


Effect = SendRegister | ArmRefresh | Emit | Unregister


class Phase(StrEnum):
    IDLE = "idle"  # nothing sent yet
    REGISTERING = "registering"  # a REGISTER is in flight
    WAITING = "waiting"  # registered (or lost), until the timer or a verdict says go
    STOPPED = "stopped"


class RegistrationMachine:
    """The rules of one kept-alive registration: refresh at half the granted lifetime, fail
    over at once when the registrar fails, fail back per ``failback`` (held by ``damping``),
    retry a lost one every ``retry_interval`` seconds.

    Every input takes ``now`` (monotonic seconds) and, where the ranking matters, the try
    list as last resolved (``targets``: its order is the rank).
    """

    def __init__(
        self,
        *,
        expires: int = 3600,
        failback: Failback = Failback.REFRESH,
        damping: Damping | None = None,
        retry_interval: float = 5.0,
        binding: Binding | None = None,
    ) -> None:
        self.expires = expires
        self.failback = failback
        self.damping = damping if damping is not None else Damping()
        self.retry_interval = retry_interval
        self.binding = binding if binding is not None else Binding()
        self.current: Target | None = None
        self.phase = Phase.IDLE
        self.reason = ""  # why the last REGISTER was sent before its timer
        # Targets a failback was already tried to while they kept answering: one try per
        # run of answers (a registrar that answers OPTIONS but not REGISTER is not hammered).
        self._failback_tried: set[TargetKey] = set()

    # -- inputs ------------------------------------------------------------------------------

    def register(self, targets: Sequence[Target], now: float) -> list[Effect]:
        """Send a REGISTER now (the first, or one asked for outside the timer)."""
        self.phase = Phase.REGISTERING
        return [SendRegister(self.steering(targets, now))]

    def registered(self, outcome: Outcome, targets: Sequence[Target], now: float) -> list[Effect]:
        """The REGISTER's outcome: the event it makes and when the next one is due."""
        previous = self.current
        attempts = tuple(outcome.attempts)
        self.phase = Phase.WAITING
        if not outcome.ok:
            self.current = None
            lost = Emit("lost", previous, outcome.describe(), attempts)
            return [lost, ArmRefresh(self.retry_interval)]
        self.current = outcome.target
        if previous is None:
            kind = "registered"
        elif previous == self.current:
            kind = "refreshed"
        elif _rank(targets, self.current) < _rank(targets, previous):
            kind = "failback"
        else:
            kind = "failover"
        event = Emit(kind, self.current, outcome.describe(), attempts)
        return [event, ArmRefresh(self.refresh_in())]

    def expired(self, targets: Sequence[Target], now: float) -> list[Effect]:
        """The timer: refresh (or retry a lost registration)."""
        if self.phase != Phase.WAITING:
            return []
        self.reason = ""
        return self.register(targets, now)

    def observed(
        self, target: Target, up: bool, targets: Sequence[Target], now: float
    ) -> list[Effect]:
        """A health check or another request learned that ``target`` answered (``up``) or
        not: a failed registrar is left at once; with ``Failback.PROBE`` a higher-ranked
        target that answers (and that damping lets back) is returned to, once per run of
        answers. While a REGISTER is in flight it only updates what is known."""
        self.damping.saw(target, up, now)
        if not up:
            self._failback_tried.discard(key(target))
        if self.current is None:
            return []
        if not up and target == self.current:
            reason = "current registrar down"
        elif (
            up
            and self.failback == Failback.PROBE
            and _rank(targets, target) < _rank(targets, self.current) < math.inf
            and key(target) not in self._failback_tried
            and self.damping.may_fail_back(target, now)
        ):
            self._failback_tried.add(key(target))
            reason = "higher-ranked target up"
        else:
            return []
        if self.phase != Phase.WAITING:
            return []  # the REGISTER in flight (or the end) already answers it
        self.reason = reason
        return self.register(targets, now)

    def stop(self) -> list[Effect]:
        """The run is over: remove the binding."""
        self.phase = Phase.STOPPED
        return [Unregister()]

    # -- rules -------------------------------------------------------------------------------

    def steering(self, targets: Sequence[Target], now: float) -> Steering:
        """Where the next REGISTER starts: the current registrar (failback never, or damped
        and every higher-ranked target suppressed or short of answers in a row), the first
        higher-ranked target damping lets it fail back to, or the top of the list (undamped:
        the walk itself skips targets known to be down)."""
        if self.failback == Failback.NEVER:
            return Steering(prefer=self.current)
        if self.current is None or not self.damping.damped:
            return Steering(from_top=True)
        for target in targets:
            if target == self.current:
                break
            if self.damping.may_fail_back(target, now):
                return Steering(prefer=target)
        return Steering(prefer=self.current)

    def refresh_in(self) -> float:
        """Seconds from a successful REGISTER to its refresh."""
        return refresh_in(self.binding.granted, self.expires)


def _rank(targets: Sequence[Target], target: Target | None) -> float:
    """Position in the try list (lower ranks higher); not in it: infinitely low."""
    return targets.index(target) if target in targets else math.inf

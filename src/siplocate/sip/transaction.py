"""RFC 3261 §17.1 client transactions as explicit state machines, sans-I/O.

Inputs are events (a response arrived, a timer fired, the transport failed); outputs are
effects (send this, arm that timer, here is the outcome). Nothing here sleeps or touches
a socket, so tests drive every timer by hand, like h11's ``_state.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sipmessage import Request, Response

from .message import build_ack


@dataclass(frozen=True, slots=True)
class Timers:
    """RFC 3261 §17.1.1.1 / Table 4 base values; every other timer derives from them."""

    t1: float = 0.5
    t2: float = 4.0
    t4: float = 5.0

    @property
    def b(self) -> float:
        return 64 * self.t1

    @property
    def f(self) -> float:
        return 64 * self.t1

    def d(self, reliable: bool) -> float:
        return 0.0 if reliable else max(32.0, 64 * self.t1)

    def k(self, reliable: bool) -> float:
        return 0.0 if reliable else self.t4


class Timer(StrEnum):
    A = "A"  # INVITE retransmit (unreliable only)
    B = "B"  # INVITE transaction timeout
    D = "D"  # wait for response retransmissions after a non-2xx final
    E = "E"  # non-INVITE retransmit (unreliable only)
    F = "F"  # non-INVITE transaction timeout
    K = "K"  # wait for response retransmissions after a final


class State(StrEnum):
    CALLING = "calling"  # INVITE sent, nothing heard
    TRYING = "trying"  # non-INVITE sent, nothing heard
    PROCEEDING = "proceeding"  # provisional response seen
    COMPLETED = "completed"  # final response seen, absorbing retransmissions
    TERMINATED = "terminated"


# Effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Hand this request to the transport."""

    request: Request


@dataclass(frozen=True, slots=True)
class Arm:
    """Start (or restart) ``timer`` to fire after ``delay`` seconds."""

    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class Provisional:
    """A 1xx arrived: tell the transaction user (the server is alive)."""

    response: Response


@dataclass(frozen=True, slots=True)
class Final:
    """The transaction's outcome: a final response (delivered once)."""

    response: Response


@dataclass(frozen=True, slots=True)
class TimedOut:
    """Timer B/F fired: nothing final came back (RFC 3261 §8.1.3.1: act as 408)."""


@dataclass(frozen=True, slots=True)
class TransportError:
    """The transport failed (RFC 3261 §8.1.3.1: act as 503)."""

    reason: str


Effect = Send | Arm | Provisional | Final | TimedOut | TransportError


class ClientTransaction:
    """Shared shape: feed events in, get effects out; ``state`` says where it is."""

    state: State
    request: Request
    reliable: bool
    timers: Timers

    def start(self) -> list[Effect]:
        raise NotImplementedError

    def receive(self, response: Response) -> list[Effect]:
        raise NotImplementedError

    def fire(self, timer: Timer) -> list[Effect]:
        raise NotImplementedError

    def transport_error(self, reason: str) -> list[Effect]:
        """Any transport failure ends a transaction that has not completed (§17.1.4)."""
        if self.state in (State.COMPLETED, State.TERMINATED):
            return []
        self.state = State.TERMINATED
        return [TransportError(reason)]

    @property
    def done(self) -> bool:
        return self.state == State.TERMINATED


class NonInviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.2 (Figure 6): Trying -> Proceeding -> Completed -> Terminated."""

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = timers or Timers()
        self.state = State.TRYING
        self._interval = self.timers.t1

    def start(self) -> list[Effect]:
        effects: list[Effect] = [Send(self.request), Arm(Timer.F, self.timers.f)]
        if not self.reliable:
            effects.append(Arm(Timer.E, self._interval))
        return effects

    def receive(self, response: Response) -> list[Effect]:
        if self.state in (State.TRYING, State.PROCEEDING):
            if response.code < 200:
                self.state = State.PROCEEDING
                return [Provisional(response)]
            self.state = State.COMPLETED
            effects: list[Effect] = [Final(response)]
            k = self.timers.k(self.reliable)
            if k <= 0:
                self.state = State.TERMINATED
            else:
                effects.append(Arm(Timer.K, k))
            return effects
        return []  # retransmissions in Completed are absorbed

    def fire(self, timer: Timer) -> list[Effect]:
        pending = self.state in (State.TRYING, State.PROCEEDING)
        if timer == Timer.E and not self.reliable and pending:
            # Trying: back off T1, 2T1, 4T1... capped at T2. Proceeding: every T2.
            if self.state == State.TRYING:
                self._interval = min(2 * self._interval, self.timers.t2)
            else:
                self._interval = self.timers.t2
            return [Send(self.request), Arm(Timer.E, self._interval)]
        if timer == Timer.F and self.state in (State.TRYING, State.PROCEEDING):
            self.state = State.TERMINATED
            return [TimedOut()]
        if timer == Timer.K and self.state == State.COMPLETED:
            self.state = State.TERMINATED
        return []


class InviteClientTransaction(ClientTransaction):
    """RFC 3261 §17.1.1 (Figure 5): Calling -> Proceeding -> Completed -> Terminated.

    ACK for a non-2xx final is generated here (same branch); ACK for 2xx belongs to the
    dialog layer, so a 2xx terminates the transaction at once.
    """

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.request = request
        self.reliable = reliable
        self.timers = timers or Timers()
        self.state = State.CALLING
        self._interval = self.timers.t1
        self.ack: Request | None = None

    def start(self) -> list[Effect]:
        effects: list[Effect] = [Send(self.request), Arm(Timer.B, self.timers.b)]
        if not self.reliable:
            effects.append(Arm(Timer.A, self._interval))
        return effects

    def receive(self, response: Response) -> list[Effect]:
        if self.state in (State.CALLING, State.PROCEEDING):
            if response.code < 200:
                self.state = State.PROCEEDING
                return [Provisional(response)]
            if response.code < 300:
                self.state = State.TERMINATED
                return [Final(response)]
            self.ack = build_ack(self.request, response)
            self.state = State.COMPLETED
            effects: list[Effect] = [Send(self.ack), Final(response)]
            d = self.timers.d(self.reliable)
            if d <= 0:
                self.state = State.TERMINATED
            else:
                effects.append(Arm(Timer.D, d))
            return effects
        if self.state == State.COMPLETED and response.code >= 300 and self.ack is not None:
            return [Send(self.ack)]  # retransmitted final: ACK again, tell nobody
        return []

    def fire(self, timer: Timer) -> list[Effect]:
        if timer == Timer.A and not self.reliable and self.state == State.CALLING:
            self._interval *= 2
            return [Send(self.request), Arm(Timer.A, self._interval)]
        if timer == Timer.B and self.state == State.CALLING:
            self.state = State.TERMINATED
            return [TimedOut()]
        if timer == Timer.D and self.state == State.COMPLETED:
            self.state = State.TERMINATED
        return []


def new_transaction(
    request: Request, *, reliable: bool, timers: Timers | None = None
) -> ClientTransaction:
    """The right state machine for ``request`` (ACK never gets one: RFC 3261 §17)."""
    if request.method == "INVITE":
        return InviteClientTransaction(request, reliable=reliable, timers=timers)
    return NonInviteClientTransaction(request, reliable=reliable, timers=timers)

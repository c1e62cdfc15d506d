"""The answering side (UAS) of RFC 3261, sans-I/O: server transactions and what to answer.

``ServerTransaction`` is §17.2 (Figures 7 and 8, with RFC 6026's Accepted state for a 2xx
to INVITE): it absorbs retransmitted requests by repeating the last response, retransmits
an INVITE's final response over UDP until the ACK, and ends on its timers. ``decide`` is the
UA core's choice for a request nobody else claimed (§8.2): 200 to OPTIONS with Allow and
Accept, 200 to NOTIFY, 405 or 501 to the rest. Dialog matching (BYE, re-INVITE, ACK for a
2xx) needs the dialogs, so the client does it and asks ``decide`` only for the remainder.

``ServerTable`` holds the live transactions, at most ``AnswerLimits.server_transactions`` of
them: a request beyond the bound gets ``refusal`` (503 + Retry-After) built from the request
alone and nothing is kept for it, so a flood costs bounded memory.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import ItemsView, ValuesView
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from sipmessage import Request, Response

from .message import USER_AGENT, new_tag
from .transaction import Timers

#: What this UA does when asked (RFC 3261 §20.5): OPTIONS answered, INVITE/ACK/CANCEL/BYE
#: for calls, NOTIFY acknowledged.
ALLOW = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "NOTIFY")
ACCEPT = "application/sdp"
#: Methods this UA knows but does not take (405 + Allow); anything else is 501 (§8.2.1).
KNOWN = frozenset(
    ("REGISTER", "SUBSCRIBE", "REFER", "MESSAGE", "INFO", "UPDATE", "PRACK", "PUBLISH")
)

REASONS = {
    100: "Trying",
    180: "Ringing",
    200: "OK",
    400: "Bad Request",
    405: "Method Not Allowed",
    420: "Bad Extension",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    500: "Server Internal Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    603: "Decline",
}


def reason(code: int) -> str:
    return REASONS.get(code, "Unknown")


def build_response(
    request: Request,
    code: int,
    phrase: str | None = None,
    *,
    to_tag: str | None = None,
    headers: list[tuple[str, str]] | None = None,
    body: bytes = b"",
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6.2): Via, From, Call-ID, CSeq copied; the To
    tag added (unless the request had one, or this is a 100)."""
    response = Response(code=code, phrase=phrase or reason(code), body=body)
    for via in request.headers.getlist("Via"):
        response.headers.add("Via", via)
    response.headers.add("From", request.headers.get("From") or "")
    to = request.headers.get("To") or ""
    if code > 100 and to_tag is not None and ";tag=" not in to.replace(" ", "").lower():
        to = f"{to};tag={to_tag}"
    response.headers.add("To", to)
    response.headers.add("Call-ID", request.headers.get("Call-ID") or "")
    response.headers.add("CSeq", request.headers.get("CSeq") or "")
    response.headers.add("Server", USER_AGENT)
    for name, value in headers or []:
        response.headers.add(name, value)
    response.headers.add("Content-Length", str(len(body)))
    return response


class Timer(StrEnum):
    G = "G"  # INVITE final response retransmit (unreliable only)
    H = "H"  # wait for ACK
    I = "I"  # noqa: E741  (RFC's name) absorb ACK retransmissions
    J = "J"  # non-INVITE: absorb request retransmissions
    L = "L"  # RFC 6026: 2xx to INVITE sent, absorb INVITE retransmissions


class State(StrEnum):
    TRYING = "trying"
    PROCEEDING = "proceeding"
    COMPLETED = "completed"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class Reply:
    """Hand these bytes (a response) to the transport, towards the request's sender."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Arm:
    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class Acked:
    """The ACK for our final response to INVITE arrived."""


@dataclass(frozen=True, slots=True)
class Unacked:
    """Timer H/L: our final response to INVITE was never ACKed (RFC 3261 §13.3.1.4)."""


Effect = Reply | Arm | Acked | Unacked


class ServerTransaction:
    """One server transaction (RFC 3261 §17.2): feed the TU's responses and the network's
    retransmissions in, get replies and timers out.

    It keeps the last response as bytes (what a retransmission repeats) and not the request:
    a live transaction waiting out Timer H costs a few hundred bytes, not a parsed message.
    """

    __slots__ = ("_interval", "code", "invite", "last", "reliable", "state", "timers", "to_tag")

    def __init__(self, request: Request, *, reliable: bool, timers: Timers | None = None) -> None:
        self.invite = request.method == "INVITE"
        self.reliable = reliable
        self.timers = timers or Timers()
        self.state = State.PROCEEDING if self.invite else State.TRYING
        self.last: bytes | None = None  # the most recent response, as sent
        self.code = 0  # its status code (0: none sent yet)
        self.to_tag = new_tag()  # the tag every response of this transaction carries
        self._interval = self.timers.t1

    @property
    def done(self) -> bool:
        return self.state == State.TERMINATED

    @property
    def final(self) -> bool:
        """A final response has been sent."""
        return self.code >= 200

    def respond(self, response: Response) -> list[Effect]:
        """The TU answers. Provisional only before a final; one final only."""
        if self.final or self.done:
            return []
        data = self.last = bytes(response)
        self.code = response.code
        if response.code < 200:
            self.state = State.PROCEEDING
            return [Reply(data)]
        if not self.invite:
            self.state = State.COMPLETED
            j = 0.0 if self.reliable else 64 * self.timers.t1
            return [Reply(data), Arm(Timer.J, j)]
        effects: list[Effect] = [Reply(data)]
        if response.code < 300:
            # RFC 6026 §8.5: Accepted; the 2xx is retransmitted (by us, for the TU) until
            # the ACK, which matches the dialog rather than this branch.
            self.state = State.ACCEPTED
            effects.append(Arm(Timer.L, 64 * self.timers.t1))
        else:
            self.state = State.COMPLETED
            effects.append(Arm(Timer.H, 64 * self.timers.t1))
        if not self.reliable:
            effects.append(Arm(Timer.G, self._interval))
        return effects

    def receive(self, request: Request) -> list[Effect]:
        """A request with this transaction's branch: a retransmission, or the ACK."""
        if request.method == "ACK":
            return self.ack()
        if self.last is not None and self.state != State.CONFIRMED and not self.done:
            return [Reply(self.last)]  # §17.2.1/§17.2.2: repeat the most recent response
        return []

    def ack(self) -> list[Effect]:
        if self.state == State.COMPLETED and self.invite:
            self.state = State.CONFIRMED
            i = 0.0 if self.reliable else self.timers.t4
            return [Acked(), Arm(Timer.I, i)]
        if self.state == State.ACCEPTED:
            self.state = State.TERMINATED
            return [Acked()]
        return []

    def fire(self, timer: Timer) -> list[Effect]:
        if timer == Timer.G and self.state in (State.COMPLETED, State.ACCEPTED):
            self._interval = min(2 * self._interval, self.timers.t2)
            assert self.last is not None
            return [Reply(self.last), Arm(Timer.G, self._interval)]
        if (timer == Timer.H and self.state == State.COMPLETED) or (
            timer == Timer.L and self.state == State.ACCEPTED
        ):
            self.state = State.TERMINATED
            return [Unacked()]
        if (timer == Timer.I and self.state == State.CONFIRMED) or (
            timer == Timer.J and self.state == State.COMPLETED
        ):
            self.state = State.TERMINATED
        return []


@dataclass(frozen=True, slots=True)
class AnswerLimits:
    """The bounds of one client's answering side: what a flood of requests (relayed by its
    registrar from anybody) can make it keep. Beyond them requests get 503 + Retry-After."""

    server_transactions: int = 256
    """Live server transactions (each lasts up to 64*T1 = 32 s over UDP after its answer)."""
    dialogs: int = 32
    """Dialogs (calls) at once, incoming and outgoing, counting calls still being decided."""
    retry_after: int = 10
    """Seconds the 503 asks the caller to wait (RFC 3261 §20.33)."""

    def __post_init__(self) -> None:
        if self.server_transactions < 1 or self.dialogs < 1 or self.retry_after < 0:
            raise ValueError(f"answering limits must be positive: {self}")


Key = tuple[str, str]  # (branch, method): RFC 3261 §17.2.3 matching
Call = tuple[str, int]  # (Call-ID, CSeq number): how the ACK for a 2xx finds its INVITE
R = TypeVar("R")


class ServerTable(Generic[R]):
    """The live server transactions of one UA (whatever the caller keeps for each), at most
    ``limit``, or ``limit + reserve`` for the requests the caller lets use a reserve (those
    that end calls): ``add`` refuses beyond it and keeps nothing, and the caller answers
    ``refusal``. INVITEs are also found by Call-ID and CSeq (``by_call``), as the ACK for a
    2xx must be (§13.3.1.4), in one lookup rather than a scan."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._live: dict[Key, R] = {}
        self._invites: dict[Call, R] = {}

    def __len__(self) -> int:
        return len(self._live)

    @property
    def full(self) -> bool:
        return not self.has_room()

    def has_room(self, reserve: int = 0) -> bool:
        return len(self._live) < self.limit + max(0, reserve)

    def get(self, key: Key) -> R | None:
        return self._live.get(key)

    def by_call(self, call: Call) -> R | None:
        return self._invites.get(call)

    def add(self, key: Key, item: R, call: Call | None = None, *, reserve: int = 0) -> bool:
        """Keep ``item`` under ``key`` (and ``call``, for an INVITE) unless the table is full
        (``reserve``: past ``limit`` by that much)."""
        if not self.has_room(reserve):
            return False
        self._live[key] = item
        if call is not None:
            self._invites[call] = item
        return True

    def discard(self, key: Key, call: Call | None = None) -> None:
        item = self._live.pop(key, None)
        if call is not None and item is not None and self._invites.get(call) is item:
            del self._invites[call]

    def values(self) -> ValuesView[R]:
        return self._live.values()

    def items(self) -> ItemsView[Key, R]:
        return self._live.items()


#: Keys the To tags of stateless answers (one per process): the same request gets the same tag.
_TAG_KEY = secrets.token_bytes(16)


def refusal(request: Request, retry_after: int) -> Response:
    """503 + Retry-After for a request beyond the bounds, answered statelessly (§8.2.7): its
    To tag derives from the request's branch, so a retransmission gets the same answer."""
    branch = "".join(request.headers.getlist("Via")[:1]).encode()
    tag = hashlib.blake2s(branch, key=_TAG_KEY, digest_size=8).hexdigest()
    return build_response(request, 503, to_tag=tag, headers=[("Retry-After", str(retry_after))])


def decide(request: Request) -> tuple[int, list[tuple[str, str]]]:
    """The UA core's answer to an out-of-dialog request that is not an INVITE (§8.2)."""
    method = request.method
    allow = [("Allow", ", ".join(ALLOW))]
    required = [r.strip() for r in ",".join(request.headers.getlist("Require")).split(",")]
    required = [r for r in required if r]
    if required and method not in ("ACK", "CANCEL"):
        return 420, [("Unsupported", ", ".join(required))]  # §8.2.2.3: we support none
    if method == "OPTIONS":
        return 200, [*allow, ("Accept", ACCEPT), ("Accept-Language", "en")]
    if method == "NOTIFY":
        return 200, []
    if method == "BYE":
        return 481, []  # not one of our dialogs (the client matched those first)
    if method in KNOWN:
        return 405, allow
    return 501, allow

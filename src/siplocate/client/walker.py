"""The decisions of one request across the target list (RFC 3263 §4.3), sans-I/O.

A ``Walker`` is handed events (a provisional or final response, a timer that fired, a
transport error or an unusable response, each with the time) and answers with effects
(send the request to a target, arm or disarm a timer, abandon the transaction in flight,
CANCEL a ringing INVITE, mark a target down or up, done). It owns: the next target, one
digest answer per target, 503 and Retry-After, the failover budget, "a provisional
response means alive", how many tries a target gets, and which responses fail over. The
try order itself (policy, down-memory, failback) comes from ``failover.Failover``, which
the walker reads and never writes: marks go out as effects, the driver applies them.
Nothing here sleeps or touches a socket, like ``sip/transaction.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from sipmessage import Response

from ..errors import OperationFailed
from ..sip.auth import (
    ANY_REALM,
    AuthError,
    digest_credentials,
    parse_challenges,
    pick_challenge,
    realm_allowed,
)
from ..sip.message import RequestSpec, retry_after
from ..target import Target
from .failover import FAILOVER_ON, Failover, Failure, Steering

#: Longest an INVITE may ring before it is CANCELled (a proxy's Timer C, RFC 3261 §16.6).
INVITE_RING_LIMIT = 180.0

#: Answers to ``stale=true`` challenges per request and target before the target fails
#: (pjsip's PJSIP_MAX_STALE_COUNT): a server that calls every nonce stale cannot loop us.
MAX_STALE = 3

#: What a timeout reads as, in every command (the failover budget, Timer B/F, a probe's
#: limit, a TCP connect): the attempt's ``ms`` says how long it waited.
NO_ANSWER = "no answer (timeout)"


def failure_text(failure: Failure, reason: str) -> str:
    """One wording per failure cause, whichever command met it: a timeout is NO_ANSWER,
    an unusable response says why, a transport error is its reason (``connection
    refused`` for an ICMP port unreachable on UDP)."""
    if failure is Failure.TIMEOUT:
        return NO_ANSWER
    if failure is Failure.MALFORMED:
        return f"malformed response: {reason}"
    return reason


@dataclass
class Attempt:
    """One transaction against one target: what came back and how long it took."""

    target: Target
    status: int | None = None
    error: str | None = None
    ms: float = 0.0
    at: float = 0.0  # Unix time the attempt started

    def as_dict(self) -> dict[str, object]:
        return {
            "transport": self.target.transport.value,
            "host": self.target.host,
            "address": self.target.address,
            "port": self.target.port,
            "status": self.status,
            "error": self.error,
            "ms": round(self.ms, 1),
        }


@dataclass
class Outcome:
    """The result of a request after failover: the final response (if any) and every attempt."""

    method: str
    response: Response | None
    target: Target | None
    attempts: list[Attempt] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.response is not None and 200 <= self.response.code < 300

    def describe(self) -> str:
        if self.response is not None and self.target is not None:
            r, t = self.response, self.target
            return f"{self.method} {r.code} {r.phrase} from {t.transport}:{t.hostport}"
        return self.error or f"{self.method} failed"

    def raise_for_status(self) -> Outcome:
        if not self.ok:
            raise OperationFailed(self.describe())
        return self


@dataclass(frozen=True, slots=True)
class Rules:
    """How a client walks one request; per client, the knobs later policies turn.

    ``budget``: how long a target may stay silent before the request moves on (None: the
    transaction's Timer B/F decides). ``tries``: unanswered tries per target before moving
    on (Grandstream's "3 tries"). ``failover_on``: final responses that mean "next target".
    ``cancel_wait``: how long a CANCELled INVITE waits for its final response (64*T1).
    """

    budget: float | None = None
    tries: int = 1
    failover_on: frozenset[int] = FAILOVER_ON
    ring_limit: float = INVITE_RING_LIMIT
    cancel_wait: float = 32.0


@dataclass(frozen=True, slots=True)
class Credentials:
    """Who answers digest challenges, and for which realms (RFC 3261 §22.1 protection
    spaces; ``*`` = any): a challenge for another realm is not answered."""

    username: str
    password: str | None
    realms: frozenset[str] = frozenset({ANY_REALM})


class Timer(StrEnum):
    BUDGET = "budget"  # the target's failover budget
    RING = "ring"  # an INVITE has rung long enough: CANCEL it
    CANCELLED = "cancelled"  # a CANCELled INVITE still has no final response


# Effects ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Send:
    """Start a transaction for ``spec`` towards ``target``; events about it carry ``attempt``."""

    target: Target
    spec: RequestSpec
    attempt: int


@dataclass(frozen=True, slots=True)
class Arm:
    timer: Timer
    delay: float


@dataclass(frozen=True, slots=True)
class Disarm:
    timer: Timer


@dataclass(frozen=True, slots=True)
class Abandon:
    """Stop the transaction in flight (retransmissions, timers): the walk has moved on."""

    attempt: int


@dataclass(frozen=True, slots=True)
class Cancel:
    """Send CANCEL for the ringing INVITE of ``attempt`` (RFC 3261 §9.1)."""

    attempt: int


@dataclass(frozen=True, slots=True)
class MarkDown:
    target: Target
    failure: Failure
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class MarkUp:
    target: Target


@dataclass(frozen=True, slots=True)
class Done:
    """The walk is over. ``auth_error`` set: the credentials were refused (raise, no failover)."""

    outcome: Outcome
    auth_error: str | None = None


Effect = Send | Arm | Disarm | Abandon | Cancel | MarkDown | MarkUp | Done


class Walker:
    """One request along the try list. Call ``start`` once, then feed events until ``Done``."""

    def __init__(
        self,
        spec: RequestSpec,
        candidates: Sequence[Target],
        *,
        failover: Failover,
        steering: Steering | None = None,
        rules: Rules | None = None,
        credentials: Credentials | None = None,
        cancel_after: float | None = None,
        aor: str = "",
    ) -> None:
        self.spec = spec
        self.candidates = list(candidates)
        self.failover = failover
        self.steering = steering or Steering()
        self.rules = rules or Rules()
        self.credentials = credentials
        self.cancel_after = cancel_after
        self.aor = aor
        self.outcome = Outcome(spec.method, None, None)
        self.order: list[Target] = []
        self.done = False
        self.attempt = 0  # id of the transaction in flight (events for older ones are stale)
        self._index = -1
        self._tries = 0  # unanswered tries of the current target
        self._authenticated = False  # the current target has had its one digest answer
        self._stale_answers = 0  # answers to stale=true challenges of the current target
        self._current: Attempt | None = None
        self._ringing = False  # an INVITE in flight rang: its RING timer is armed
        self._alive = False  # the target in flight sent a provisional response
        self._to_wall = 0.0  # wall time minus event time: stamps ``Attempt.at``

    @property
    def target(self) -> Target | None:
        return self.order[self._index] if 0 <= self._index < len(self.order) else None

    # -- events ------------------------------------------------------------------------------

    def start(self, now: float, *, wall: float | None = None) -> list[Effect]:
        """Compute the try order (policy + down-memory) and send to the first target.

        ``now`` (and every later event's) is monotonic time; ``wall``, the wall time at
        ``now``, only stamps the attempts (``Attempt.at``; without it, ``at`` is ``now``)."""
        self._to_wall = 0.0 if wall is None else wall - now
        self.order = self.failover.order(self.candidates, now, self.steering)
        return self._next(now)

    def provisional(self, attempt: int, now: float) -> list[Effect]:
        """A 1xx: the target is alive, so its failover budget no longer applies."""
        if self._stale(attempt) or self._alive:
            return []
        self._alive = True
        effects: list[Effect] = [Disarm(Timer.BUDGET)]
        if self.spec.method == "INVITE":
            self._ringing = True
            ring = self.cancel_after if self.cancel_after is not None else self.rules.ring_limit
            effects.append(Arm(Timer.RING, ring))
        return effects

    def final(self, attempt: int, response: Response, now: float) -> list[Effect]:
        """A final response from the target in flight."""
        if self._stale(attempt):
            return []
        target = self._target()
        code = response.code
        self._record(now, status=code)
        effects: list[Effect] = [Disarm(Timer.BUDGET), Disarm(Timer.RING), Disarm(Timer.CANCELLED)]
        if not 200 <= code <= 699:
            self._note(f"malformed status {code}")
            return effects + self._failed(target, Failure.MALFORMED, now)
        if code in (401, 407):
            return effects + self._challenged(target, response, now)
        if code in self.rules.failover_on:
            after = retry_after(response) if code == 503 else None
            if code == 503:
                self._note("503 Retry-After " + (f"{after:g}s" if after is not None else "none"))
            self._tries = self.rules.tries  # an answer, not silence: no second try here
            return effects + self._failed(target, Failure.UNAVAILABLE, now, after)
        self.outcome.response = response
        self.outcome.target = target
        return [*effects, MarkUp(target), *self._finish()]

    def timer(self, timer: Timer, now: float) -> list[Effect]:
        """One of the walker's own timers fired (the driver armed it on our ``Arm``)."""
        if self.done or self._current is None:
            return []
        if timer == Timer.BUDGET and not self._alive:
            return self._gave_up(NO_ANSWER, now)
        if timer == Timer.RING and self._ringing:
            return [Cancel(self.attempt), Arm(Timer.CANCELLED, self.rules.cancel_wait)]
        if timer == Timer.CANCELLED:
            return self._gave_up("no final response after CANCEL within 64*T1", now)
        return []

    def timed_out(self, attempt: int, now: float) -> list[Effect]:
        """The transaction's own Timer B/F fired (RFC 3261 §8.1.3.1: as a 408)."""
        if self._stale(attempt):
            return []
        self._record(now, error=NO_ANSWER)
        return self._disarm_all() + self._failed(self._target(), Failure.TIMEOUT, now)

    def transport_error(self, attempt: int, reason: str, now: float) -> list[Effect]:
        """The flow failed: refused, reset, a rejected certificate (§8.1.3.1: as a 503)."""
        if self._stale(attempt):
            return []
        self._record(now, error=reason)
        self._tries = self.rules.tries  # retrying a refused port at once is pointless
        return self._disarm_all() + self._failed(self._target(), Failure.TRANSPORT, now)

    def malformed(self, attempt: int, reason: str, now: float) -> list[Effect]:
        """The target answered with something that is not a usable response."""
        if self._stale(attempt):
            return []
        self._record(now, error=failure_text(Failure.MALFORMED, reason))
        self._tries = self.rules.tries
        return [
            *self._disarm_all(),
            Abandon(attempt),
            *self._failed(self._target(), Failure.MALFORMED, now),
        ]

    # -- the rules ---------------------------------------------------------------------------

    def _challenged(self, target: Target, response: Response, now: float) -> list[Effect]:
        """401/407: answer once per target; a second refusal ends the walk (wrong password)."""
        creds = self.credentials
        if creds is None or creds.password is None:
            return self._auth_failed(
                f"{target.hostport} requires authentication ({response.code}) "
                "and no password was given"
            )
        header = "WWW-Authenticate" if response.code == 401 else "Proxy-Authenticate"
        try:
            offered = parse_challenges(response.headers.getlist(header))
            ours = [c for c in offered if realm_allowed(_realm(c.parameters), creds.realms)]
            if offered and not ours:
                realms = ", ".join(sorted({repr(_realm(c.parameters)) for c in offered}))
                mine = ", ".join(sorted(creds.realms))
                return self._refused(
                    target,
                    f"challenged for realm {realms}, not one the credentials are for "
                    f"({mine}): password not sent",
                    now,
                )
            challenge = pick_challenge(ours)
            stale = challenge.parameters.get("stale", "").lower() == "true"
            if self._authenticated and not stale:
                return self._auth_failed(
                    f"authentication failed for {creds.username} at {target.hostport} "
                    f"({response.code} {response.phrase}): check the user name and password"
                )
            if self._authenticated:  # stale: a fresh nonce, answered at most MAX_STALE times
                if self._stale_answers >= MAX_STALE:
                    return self._refused(
                        target,
                        f"the nonce was stale {MAX_STALE + 1} times in a row "
                        f"(at most {MAX_STALE} retries)",
                        now,
                    )
                self._stale_answers += 1
            answer = digest_credentials(
                challenge,
                method=self.spec.method,
                uri=str(self.spec.uri),
                username=creds.username,
                password=creds.password,
            )
        except (AuthError, ValueError, KeyError) as exc:  # a challenge we cannot use
            self._note(f"unusable challenge: {exc}")
            return self._failed(target, Failure.MALFORMED, now)
        name = "Authorization" if response.code == 401 else "Proxy-Authorization"
        self.spec.headers = [h for h in self.spec.headers if h[0] != name] + [(name, str(answer))]
        self.spec.cseq += 1
        self._authenticated = True
        return self._send(now)

    def _refused(self, target: Target, reason: str, now: float) -> list[Effect]:
        """An authentication failure at this target only (a challenge we will not answer):
        noted on its attempt, the target fails and the walk goes on."""
        self._note(f"authentication failed: {reason}")
        self._tries = self.rules.tries  # an answer, not silence: no second try here
        return self._failed(target, Failure.AUTH, now)

    def _failed(
        self, target: Target, failure: Failure, now: float, after: float | None = None
    ) -> list[Effect]:
        """This try failed: another try of the same target if it has tries left (silence
        only), else mark it down and go on to the next target."""
        self._tries += 1
        if self._tries < self.rules.tries:
            return self._send(now)
        return [MarkDown(target, failure, after), *self._next(now)]

    def _gave_up(self, reason: str, now: float) -> list[Effect]:
        attempt = self.attempt
        self._record(now, error=reason)
        return [
            *self._disarm_all(),
            Abandon(attempt),
            *self._failed(self._target(), Failure.TIMEOUT, now),
        ]

    def _next(self, now: float) -> list[Effect]:
        self._index += 1
        self._tries = 0
        self._authenticated = False
        self._stale_answers = 0
        self.spec.headers = [
            h for h in self.spec.headers if h[0] not in ("Authorization", "Proxy-Authorization")
        ]
        if self._index >= len(self.order):
            return self._exhausted()
        return self._send(now)

    def _send(self, now: float) -> list[Effect]:
        target = self._target()
        self.attempt += 1
        self._ringing = self._alive = False
        self._current = Attempt(target, at=now + self._to_wall)
        effects: list[Effect] = [Send(target, self.spec, self.attempt)]
        if self.rules.budget is not None:
            effects.append(Arm(Timer.BUDGET, self.rules.budget))
        return effects

    def _exhausted(self) -> list[Effect]:
        method = self.spec.method
        if self.outcome.attempts:
            last = {a.target: a for a in self.outcome.attempts}  # per target, in try order
            detail = "; ".join(f"{t.transport}:{t.hostport} {_result(a)}" for t, a in last.items())
            self.outcome.error = f"no server answered {method} for {self.aor}: {detail}"
        else:
            self.outcome.error = f"no target to send {method} to"
        return self._finish()

    def _auth_failed(self, message: str) -> list[Effect]:
        self.outcome.error = message
        return self._finish(message)

    def _finish(self, auth_error: str | None = None) -> list[Effect]:
        self.done = True
        self._current = None
        return [Done(self.outcome, auth_error)]

    # -- bookkeeping -------------------------------------------------------------------------

    def _stale(self, attempt: int) -> bool:
        return self.done or attempt != self.attempt or self._current is None

    def _target(self) -> Target:
        target = self.target
        assert target is not None  # only called while a target is in flight
        return target

    def _record(self, now: float, *, status: int | None = None, error: str | None = None) -> None:
        """Close the attempt in flight with what came back."""
        current = self._current
        if current is None:
            return
        current.status, current.error = status, error
        current.ms = max(0.0, (now + self._to_wall - current.at) * 1000)
        self.outcome.attempts.append(current)
        self._current = None

    def _note(self, text: str) -> None:
        if self.outcome.attempts:
            last = self.outcome.attempts[-1]
            last.error = text if last.error is None else f"{last.error}; {text}"

    def _disarm_all(self) -> list[Effect]:
        self._ringing = self._alive = False
        return [Disarm(Timer.BUDGET), Disarm(Timer.RING), Disarm(Timer.CANCELLED)]


def _realm(params: Mapping[str, str]) -> str:
    """A challenge's realm (none given reads as the empty realm, which only ``*`` allows)."""
    return params.get("realm", "")


def _result(attempt: Attempt) -> str:
    """What an attempt came to, in a few words: the status, why, or both."""
    if attempt.status is not None and attempt.error:
        return f"{attempt.status} ({attempt.error})"
    return str(attempt.status) if attempt.status is not None else attempt.error or "no answer"

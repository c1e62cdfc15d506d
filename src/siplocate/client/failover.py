"""Which target a request tries next (RFC 3263 §4.3), and what the client remembers about failures.

Pure logic, no I/O: the client asks ``Failover.order`` for the try list of each request
and reports back with ``succeeded``/``failed``. The policies are named after what the
Grandstream guide calls them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import BadInput
from ..target import Target


class Policy(StrEnum):
    """How a client walks the target list across requests."""

    DEFAULT = "default"  # every request starts at the top of the list
    STICKY_TTL = "sticky-ttl"  # keep the last working target until the DNS TTL runs out
    STICKY = "sticky"  # keep the last working target until it fails
    AFFINITY = "affinity"  # the server that holds the registration, while it answers
    STATIC = "static"  # configured primary + backups, no DNS; walked like default
    CONFIGURED_IP = "configured-ip"  # Grandstream "Use Configured IP": a backup keeps N uses

    @property
    def configured(self) -> bool:
        """Configured addresses, no DNS."""
        return self in (Policy.STATIC, Policy.CONFIGURED_IP)

    @classmethod
    def parse(cls, text: str) -> Policy:
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise BadInput(f"unknown policy {text!r} (known: {known})") from None


class Failback(StrEnum):
    """When a registration returns to a higher-ranked target that is healthy again."""

    REFRESH = "refresh"  # at the next refresh (the refresh walks the list from the top)
    PROBE = "probe"  # as soon as the health monitor sees it answer
    NEVER = "never"  # stay on the current registrar until it fails

    @classmethod
    def parse(cls, text: str) -> Failback:
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(p.value for p in cls)
            raise BadInput(f"unknown failback mode {text!r} (known: {known})") from None


TargetKey = tuple[str, str, int]


def key(target: Target) -> TargetKey:
    """Identity of a target for the down-memory: the flow, not the name that led to it."""
    return (target.transport.value, target.address, target.port)


class Failure(StrEnum):
    """Why a target was skipped: the RFC 3263 §4.3 triggers."""

    TIMEOUT = "timeout"
    TRANSPORT = "transport"
    UNAVAILABLE = "503"
    MALFORMED = "malformed"  # the target answered something that is not usable SIP
    AUTH = "auth"  # its digest challenge may not be answered (foreign realm, stale loop)


@dataclass
class DownMemory:
    """Targets known to be down, each until a monotonic time (``math.inf`` = until told
    otherwise): a step of the wall clock neither revives a dead server nor holds a live one."""

    until: dict[TargetKey, float] = field(default_factory=dict)

    def mark_down(self, target: Target, until: float) -> None:
        self.until[key(target)] = max(until, self.until.get(key(target), 0.0))

    def mark_up(self, target: Target) -> None:
        self.until.pop(key(target), None)

    def is_down(self, target: Target, now: float) -> bool:
        until = self.until.get(key(target))
        if until is None:
            return False
        if until <= now:
            del self.until[key(target)]
            return False
        return True


def try_order(
    targets: Iterable[Target],
    memory: DownMemory,
    now: float,
    first: Target | None = None,
) -> list[Target]:
    """The try list: ``first`` (if up), then the other up targets in list order, then the
    down ones in list order, so a client with every target down still tries them all.
    """
    items = list(dict.fromkeys(targets))
    up = [t for t in items if not memory.is_down(t, now)]
    down = [t for t in items if t not in up]
    head = [first] if first is not None and first in up else []
    return head + [t for t in up if t not in head] + down


@dataclass(frozen=True, slots=True)
class Steering:
    """What one request asks of the try order, grouped (the policy decides the rest).

    ``prefer``: this target first if it is up (a dialog's server); ``only``: exactly these
    targets, in this order (removing a binding from the registrar that holds it);
    ``from_top``: ignore stickiness (a registration refresh that fails back).
    """

    prefer: Target | None = None
    only: Sequence[Target] | None = None
    from_top: bool = False


FirstRule = Callable[["Failover", float], "Target | None"]


def _top(f: Failover, now: float) -> Target | None:
    return None


def _sticky(f: Failover, now: float) -> Target | None:
    return f.current


def _sticky_ttl(f: Failover, now: float) -> Target | None:
    return f.current if now < f.current_until else None


def _affinity(f: Failover, now: float) -> Target | None:
    return f.registrar


def _configured_ip(f: Failover, now: float) -> Target | None:
    """Grandstream: once moved to a backup, stay for ``backup_uses`` answered requests, then
    the primary first again (it gets its tries; silence moves on to the backup again)."""
    return f.current if f.uses < f.backup_uses else None


#: Which target a policy puts first when the request does not say: one small rule per
#: policy, so a new policy (affinity, configured IPs with N tries, ...) is one more entry.
FIRST: dict[Policy, FirstRule] = {
    Policy.DEFAULT: _top,
    Policy.STICKY_TTL: _sticky_ttl,
    Policy.STICKY: _sticky,
    Policy.AFFINITY: _affinity,
    Policy.STATIC: _top,
    Policy.CONFIGURED_IP: _configured_ip,
}


@dataclass
class Failover:
    """Per-client failover state shared by all requests: policy, down-memory, sticky target.

    Every ``now`` is monotonic seconds (the walker's event time); ``mark``/``observed``/
    ``down_now`` read ``clock`` themselves and take Unix times only at their boundary."""

    policy: Policy = Policy.DEFAULT
    down_for: float = 30.0  # how long a timeout/transport error/503 keeps a target down
    memory: DownMemory = field(default_factory=DownMemory)
    current: Target | None = None  # last target that answered
    current_until: float = math.inf  # sticky-ttl: when the DNS answer behind it expires
    registrar: Target | None = None  # affinity: where the registration is held (None: nowhere)
    backup_uses: int = 3  # configured-ip: answered requests on a backup before the primary
    uses: int = 0  # answered requests in a row by ``current``
    clock: Clock = field(default=SYSTEM_CLOCK, repr=False)  # for the verdicts below

    def order(
        self, targets: Iterable[Target], now: float, steering: Steering | None = None
    ) -> list[Target]:
        """Try list for one request: ``steering`` first, then the policy, then down-memory."""
        steer = steering or Steering()
        if steer.only is not None:
            return list(dict.fromkeys(steer.only))
        first = steer.prefer
        if self.policy is Policy.CONFIGURED_IP:
            # The guide's walk, exactly: the configured order (no down-memory), a backup
            # first while it has uses left; its rule is the failback rule, so from_top too.
            first = first or _configured_ip(self, now)
            items = list(dict.fromkeys(targets))
            return ([first] if first in items else []) + [t for t in items if t != first]
        if first is None and not steer.from_top:
            first = FIRST[self.policy](self, now)
        return try_order(targets, self.memory, now, first)

    def is_down(self, target: Target, now: float) -> bool:
        return self.memory.is_down(target, now)

    def succeeded(self, target: Target, now: float, expires: float | None = None) -> None:
        """``target`` answered: it is up, and the sticky policies keep it."""
        self.memory.mark_up(target)
        self.uses = self.uses + 1 if target == self.current else 1
        self.current = target
        self.current_until = math.inf if expires is None else expires

    def observed_up(self, target: Target) -> None:
        """A health check saw ``target`` answer: up again, without making it the sticky one."""
        self.memory.mark_up(target)

    def failed(
        self,
        target: Target,
        now: float,
        failure: Failure,
        retry_after: float | None = None,
        until: float | None = None,
    ) -> float:
        """``target`` failed: mark it down until ``until`` (default: Retry-After for a 503,
        else ``down_for``); returns the until time."""
        if until is None:
            until = now + (retry_after if retry_after is not None else self.down_for)
        self.memory.mark_down(target, until)
        if self.current == target:
            self.current = None
        return until

    # -- the client's verdicts, on its clock: down-memory runs on monotonic time -------------

    def monotonic(self, unix: float | None) -> float | None:
        """A Unix time (the end of a down period, a DNS answer's expiry) on the monotonic
        clock: a later step of the wall clock neither revives nor prolongs anything."""
        if unix is None or math.isinf(unix):
            return unix
        return unix - self.clock.wall() + self.clock.monotonic()

    def mark(
        self,
        target: Target,
        up: bool,
        *,
        failure: Failure = Failure.TIMEOUT,
        retry_after: float | None = None,
        until: float | None = None,
        expires: float | None = None,
    ) -> None:
        """A request's verdict now: up (``expires``: Unix time its DNS answer runs out) or
        down (``until``: Unix time, ``math.inf`` until seen up; else Retry-After/down_for)."""
        now = self.clock.monotonic()
        if up:
            self.succeeded(target, now, self.monotonic(expires))
        else:
            self.failed(target, now, failure, retry_after, self.monotonic(until))

    def observed(self, target: Target, up: bool) -> None:
        """A health probe's verdict: up (not made sticky), or down until seen up again."""
        if up:
            self.observed_up(target)
        else:
            self.failed(target, self.clock.monotonic(), Failure.TIMEOUT, until=math.inf)

    def down_now(self, target: Target) -> bool:
        return self.is_down(target, self.clock.monotonic())

    # -- registrar affinity -------------------------------------------------------------------

    def resolved(self, targets: Sequence[Target]) -> Target | None:
        """A fresh try list: a registrar that left it is forgotten and returned (whoever
        keeps the registration must move), else None."""
        held = self.registrar
        if held is None or held in targets:
            return None
        self.registrar = None
        return held

    def registered(self, target: Target | None) -> None:
        """A plain registration is held by ``target`` now (None: nowhere)."""
        self.registrar = target

    def unregistered(self, target: Target | None) -> None:
        """The binding at ``target`` was removed: affinity no longer points there."""
        if self.registrar == target:
            self.registrar = None


#: RFC 2439's unit: what one flap adds to a target's penalty; thresholds are in the same unit.
FLAP_PENALTY = 1000.0
#: Targets whose flap history is kept at once (the oldest is forgotten past it): a long
#: ``--follow`` run under changing DNS answers must not grow it without limit.
DAMPING_TARGETS = 256


@dataclass
class FlapHistory:
    """What damping remembers of one target: its penalty as of ``at``, whether failback to
    it is suppressed, its answers in a row and the last verdict (None: never heard of)."""

    penalty: float = 0.0
    at: float = 0.0
    suppressed: bool = False
    streak: int = 0
    up: bool | None = None


@dataclass
class Damping:
    """Damped failback, RFC 2439 route-flap damping applied to registrars; pure, ``now`` is
    the caller's monotonic seconds.

    A *flap* is a target that had answered failing (a probe or a request: up -> down). Each
    flap adds ``penalty`` to the target's figure; the figure halves every ``half_life``
    seconds and never exceeds the ceiling ``reuse * 2 ** (max_suppress / half_life)``, so a
    target is never held longer than ``max_suppress`` after its last flap. A flap that takes
    the figure to ``suppress`` or above suppresses failback to the target until the figure
    decays below ``reuse`` (the hysteresis keeps it from toggling at one threshold). Apart
    from that, failback also waits for ``probes`` answers in a row, like Kamailio
    dispatcher's ``ds_inactive_threshold``. Failover is never damped (no counterpart to its
    ``ds_probing_threshold``, failures before a destination is taken out).

    ``Damping()`` (``penalty=0``) is undamped: back at the first answer. ``for_probes``
    gives the recommended settings, in probe intervals, and says why.
    """

    penalty: float = 0.0
    suppress: float = FLAP_PENALTY
    reuse: float = FLAP_PENALTY / 4
    half_life: float = 5.0
    max_suppress: float = 15.0
    probes: int = 1
    history: dict[TargetKey, FlapHistory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.probes < 1:
            raise BadInput(f"failback needs at least 1 healthy probe, not {self.probes}")
        if not 0 <= self.penalty < math.inf:
            raise BadInput(f"the flap penalty must be 0 or more, not {self.penalty}")
        if not 0 < self.half_life < math.inf:
            raise BadInput(f"the damping half-life must be above 0 seconds, not {self.half_life}")
        if not 0 < self.reuse < self.suppress < math.inf:
            raise BadInput(
                f"damping needs 0 < reuse < suppress (reuse {self.reuse}, suppress "
                f"{self.suppress}): failback is allowed again below the lower one"
            )
        if not self.ceiling >= self.suppress:
            raise BadInput(
                f"a max-suppress of {self.max_suppress} s caps the penalty at "
                f"{self.ceiling:.0f}, below suppress {self.suppress:g}: nothing would be damped"
            )

    @classmethod
    def for_probes(
        cls, interval: float, probes: int = 3, half_life: float | None = None
    ) -> Damping:
        """The recommended damping for health probes every ``interval`` seconds: the
        half-life 5 intervals unless given, ``reuse`` two half-lives below one penalty, the
        max-suppress 2.5 half-lives.

        In probe intervals: one flap suppresses failback (``suppress`` = one penalty: a
        registrar that stopped answering is one failure too many to trust at once) for two
        half-lives = 10 intervals; flaps that follow add up to the ceiling (1.41 penalties,
        two flaps within 1.75 half-lives), which holds 12.5 intervals after the last flap.
        A primary down longer than that comes back after ``probes`` answers in a row.

        The trade-off: the client sees only the probes. A primary that flaps faster than
        they come is heard silent on few of them (bench_failback: on ~1 probe in 8 for
        0.5 s phases under 1 s probes) and can answer 9 probes in a row between two
        silences; only a hold longer than that run avoids a failback while it flaps, and
        the same hold then delays the failback of a primary that stays up right after a
        silence. These defaults take no failback while it flaps (bench_failback, 10 s of
        flapping, 10 seeds, two runs: 0, against 14 and 12 undamped): the failback comes
        10-12.5 intervals after the last silence heard, a median 6.5-8.9 and at most 12
        intervals after the primary stays up, not "a few"; a half-life of 3 intervals (one
        flap holds 6) gave 3.9 and 6.2 but 2 failbacks while flapping. The max-suppress was
        3 half-lives (15 intervals); 2.5 cuts that tail and still lets flaps add up.
        """
        half = 5 * interval if half_life is None else half_life
        return cls(
            penalty=FLAP_PENALTY,
            suppress=FLAP_PENALTY,
            reuse=FLAP_PENALTY / 4,
            half_life=half,
            max_suppress=2.5 * half,
            probes=probes,
        )

    @property
    def damped(self) -> bool:
        return self.penalty > 0 or self.probes > 1

    @property
    def ceiling(self) -> float:
        """The highest penalty kept (RFC 2439): it decays below ``reuse`` in ``max_suppress``."""
        return self.reuse * 2 ** min(self.max_suppress / self.half_life, 1000.0)

    def _decayed(self, h: FlapHistory, now: float) -> float:
        return h.penalty * 2 ** (-max(0.0, now - h.at) / self.half_life)

    def penalty_at(self, target: Target, now: float) -> float:
        """``target``'s penalty at ``now``: what its flaps add, halved every half-life."""
        h = self.history.get(key(target))
        return 0.0 if h is None else self._decayed(h, now)

    def saw(self, target: Target, up: bool, now: float) -> None:
        """One verdict (a probe or a request): an answer lengthens the streak; silence after
        an answer is a flap, which adds the penalty and may suppress failback."""
        k = key(target)
        h = self.history.pop(k, None) or FlapHistory(at=now)
        self.history[k] = h  # the most recently heard of last: the oldest is forgotten first
        if len(self.history) > DAMPING_TARGETS:
            del self.history[next(iter(self.history))]
        if up:
            h.streak += 1
        else:
            if h.up and self.penalty > 0:
                held = self._suppressed(h, now)
                h.penalty = min(self._decayed(h, now) + self.penalty, self.ceiling)
                h.at = now
                h.suppressed = held or h.penalty >= self.suppress
            h.streak = 0
        h.up = up

    def _suppressed(self, h: FlapHistory, now: float) -> bool:
        return h.suppressed and self._decayed(h, now) >= self.reuse

    def suppressed(self, target: Target, now: float) -> bool:
        """Is failback to ``target`` suppressed: it went above ``suppress`` and has not yet
        decayed below ``reuse``?"""
        h = self.history.get(key(target))
        return h is not None and self._suppressed(h, now)

    def reusable_at(self, target: Target, now: float) -> float:
        """When the suppression of ``target`` ends if it flaps no more (``now`` if it is not
        suppressed): when its penalty decays below ``reuse``."""
        h = self.history.get(key(target))
        if h is None or not self._suppressed(h, now):
            return now
        return h.at + self.half_life * math.log2(h.penalty / self.reuse)

    def may_fail_back(self, target: Target, now: float) -> bool:
        """Has ``target`` answered ``probes`` times in a row, and is it not suppressed?"""
        h = self.history.get(key(target))
        streak = 0 if h is None else h.streak
        return streak >= self.probes and not self.suppressed(target, now)


#: RFC 3263 §4.3: a 503 means try the next target; every other final answer is the answer.
FAILOVER_ON: frozenset[int] = frozenset({503})


def is_failover_response(code: int, failover_on: frozenset[int] = FAILOVER_ON) -> bool:
    """Does this final response send the request to the next target?"""
    return code in failover_on


def parse_failover_on(text: str) -> frozenset[int]:
    """``408,5xx,486`` -> the final responses that send a request to the next target (a
    class ``Nxx`` stands for all hundred codes; no answer always fails over)."""
    codes: set[int] = set()
    for item in (part.strip().lower() for part in text.split(",")):
        if len(item) == 3 and item.endswith("xx") and item[0] in "3456":
            codes.update(range(int(item[0]) * 100, int(item[0]) * 100 + 100))
        elif len(item) == 3 and item.isascii() and item.isdigit() and "300" <= item <= "699":
            codes.add(int(item))
        else:
            raise BadInput(
                f"failover response {item!r}: expected a final code 300-699 or a class "
                "3xx-6xx (e.g. 408,5xx,486)"
            )
    return frozenset(codes)

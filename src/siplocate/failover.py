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

from .errors import BadInput
from .target import Target


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
    """Targets known to be down, each until a time (``math.inf`` = until told otherwise)."""

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
    """Per-client failover state shared by all requests: policy, down-memory, sticky target."""

    policy: Policy = Policy.DEFAULT
    down_for: float = 30.0  # how long a timeout/transport error/503 keeps a target down
    memory: DownMemory = field(default_factory=DownMemory)
    current: Target | None = None  # last target that answered
    current_until: float = math.inf  # sticky-ttl: when the DNS answer behind it expires
    registrar: Target | None = None  # affinity: where the registration is held (None: nowhere)
    backup_uses: int = 3  # configured-ip: answered requests on a backup before the primary
    uses: int = 0  # answered requests in a row by ``current``

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


@dataclass
class Damping:
    """Damped failback: return to a higher-ranked target only once it answered ``probes``
    health probes in a row, and never sooner than ``hold_down`` seconds after the last
    failback, so a flapping primary does not drag its clients back and forth.

    ``probes=1, hold_down=0`` is undamped: fail back at the first answer.
    """

    probes: int = 1
    hold_down: float = 0.0
    streak: dict[TargetKey, int] = field(default_factory=dict)
    last_failback: float = -math.inf

    def __post_init__(self) -> None:
        if self.probes < 1:
            raise BadInput(f"failback needs at least 1 healthy probe, not {self.probes}")
        if not self.hold_down >= 0:
            raise BadInput(
                f"the failback hold-down must be 0 or more seconds, not {self.hold_down}"
            )

    @property
    def damped(self) -> bool:
        return self.probes > 1 or self.hold_down > 0

    def saw(self, target: Target, up: bool) -> None:
        """One health probe's verdict: an answer lengthens the streak, silence ends it."""
        k = key(target)
        self.streak[k] = self.streak.get(k, 0) + 1 if up else 0

    def may_fail_back(self, target: Target, now: float) -> bool:
        """Is ``target`` healthy for long enough, and the hold-down over?"""
        steady = self.streak.get(key(target), 0) >= self.probes
        return steady and now - self.last_failback >= self.hold_down

    def failed_back(self, now: float) -> None:
        self.last_failback = now


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

"""Which target a request tries next (RFC 3263 §4.3), and what the client remembers about failures.

Pure logic, no I/O: the client asks ``Failover.order`` for the try list of each request
and reports back with ``succeeded``/``failed``. The policies are named after what the
Grandstream guide calls them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from .errors import BadInput
from .target import Target


class Policy(StrEnum):
    """How a client walks the target list across requests."""

    DEFAULT = "default"  # every request starts at the top of the list
    STICKY_TTL = "sticky-ttl"  # keep the last working target until the DNS TTL runs out
    STICKY = "sticky"  # keep the last working target until it fails
    STATIC = "static"  # configured primary + backups, no DNS; walked like default

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


@dataclass
class Failover:
    """Per-client failover state shared by all requests: policy, down-memory, sticky target."""

    policy: Policy = Policy.DEFAULT
    down_for: float = 30.0  # how long a timeout/transport error/503 keeps a target down
    memory: DownMemory = field(default_factory=DownMemory)
    current: Target | None = None  # last target that answered
    current_until: float = math.inf  # sticky-ttl: when the DNS answer behind it expires

    def order(
        self,
        targets: Iterable[Target],
        now: float,
        prefer: Target | None = None,
        from_top: bool = False,
    ) -> list[Target]:
        """Try list for one request. ``prefer`` (a dialog's server) beats the policy;
        ``from_top`` ignores stickiness (a registration refresh that fails back).
        """
        first = prefer
        keep = not from_top and (
            self.policy == Policy.STICKY
            or (self.policy == Policy.STICKY_TTL and now < self.current_until)
        )
        if first is None and keep:
            first = self.current
        return try_order(targets, self.memory, now, first)

    def succeeded(self, target: Target, now: float, expires: float | None = None) -> None:
        """``target`` answered: it is up, and the sticky policies keep it."""
        self.memory.mark_up(target)
        self.current = target
        self.current_until = math.inf if expires is None else expires

    def failed(
        self, target: Target, now: float, failure: Failure, retry_after: float | None = None
    ) -> float:
        """``target`` failed: mark it down (Retry-After wins for 503); returns the until time."""
        until = now + (retry_after if retry_after is not None else self.down_for)
        self.memory.mark_down(target, until)
        if self.current == target:
            self.current = None
        return until


def is_failover_response(code: int) -> bool:
    """RFC 3263 §4.3: a 503 means try the next target; every other final answer is the answer."""
    return code == 503

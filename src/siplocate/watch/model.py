"""The watcher's pure core: what is known about each domain and target, and which events a
new resolution, probe result or lint run gives rise to. No I/O, time passed in.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..resolution import Resolution
from ..target import Target
from ..zone.findings import Finding
from .events import Event
from .history import History
from .impact import BADGES, Impact, Level, TargetKey, classify, impact, target_key, tiers

__all__ = ["DomainView", "Level", "TargetHealth", "TargetKey", "chain_lines", "target_key"]


def target_dict(t: Target) -> dict[str, object]:
    return {"transport": t.transport.value, "host": t.host, "address": t.address, "port": t.port}


def target_label(t: Target) -> str:
    address = f"[{t.address}]" if ":" in t.address else t.address
    return f"{t.transport.value}:{t.host} {address}:{t.port}"


class TargetHealth:
    """One target's current answer to OPTIONS and its history."""

    __slots__ = (
        "error",
        "failures",
        "history",
        "last",
        "metrics",
        "probes",
        "rtt",
        "since",
        "status",
        "target",
        "tier",
        "up",
    )

    def __init__(self, target: Target) -> None:
        self.target = target
        self.tier = 0  # SRV priority rank in its transport branch (0: tried first)
        self.up: bool | None = None  # None until the first probe
        self.status: int | None = None
        self.error: str | None = None
        self.rtt: float | None = None  # seconds, last answered probe
        self.last = 0.0  # wall time of the last probe
        self.since = 0.0  # wall time of the last up/down change
        self.probes = 0
        self.failures = 0
        self.history = History()
        self.metrics: object = None  # the metric children, cached by the metrics layer

    def record(
        self, at: float, up: bool, status: int | None, error: str | None, rtt: float
    ) -> bool:
        """One probe result; True when the target changed between up and down."""
        changed = self.up is not up
        if changed:
            self.since = at
        self.up, self.status, self.error, self.last = up, status, error, at
        self.rtt = rtt if up else None
        self.probes += 1
        if not up:
            self.failures += 1
        self.history.add(at, rtt if up else None)
        return changed

    def labels(self) -> dict[str, object]:
        """The target as events and the page name it: where it is and its tier."""
        return {**target_dict(self.target), "tier": self.tier}

    def as_dict(self, spark: int = 60) -> dict[str, object]:
        return {
            **self.labels(),
            "up": self.up,
            "status": self.status,
            "error": self.error,
            "rtt_ms": None if self.rtt is None else round(self.rtt * 1000, 2),
            "since": self.since or None,
            "probes": self.probes,
            "failures": self.failures,
            "spark": [
                None if r is None else round(r * 1000, 2) for _, r in self.history.recent(spark)
            ],
        }


def chain_lines(res: Resolution) -> list[str]:
    """The chain as comparable lines (NAPTR, SRV, address), to spot record-set changes."""
    lines: set[str] = set()
    for b in res.branches:
        if b.naptr is not None:
            n = b.naptr
            lines.add(f'NAPTR {n.order} {n.preference} "{n.flags}" "{n.service}" {n.replacement}')
        for h in b.hosts:
            if b.srv_name is not None:
                lines.add(f"SRV {b.srv_name} {h.priority} {h.weight} {h.port} {h.name}")
            for a in h.addresses:
                lines.add(f"ADDR {h.name} {a}")
            if not h.addresses:
                lines.add(f"ADDR {h.name} (none)")
        if b.not_offered:
            lines.add(f"SRV {b.srv_name} .")
    return sorted(lines)


class DomainView:
    """Everything known about one watched domain."""

    def __init__(self, domain: str) -> None:
        self.domain = domain
        self.resolution: Resolution | None = None
        self.lines: list[str] = []
        self.seen = False  # DNS has answered at least once (records, or that there are none)
        self.targets: dict[TargetKey, TargetHealth] = {}
        self.findings: list[Finding] = []
        self.dns_error: str | None = None
        self.stale = False  # the last resolution used answers served stale
        self.resolved_at = 0.0
        self.resolve_seconds = 0.0
        self.next_resolve = 0.0
        self.level = Level.UNKNOWN
        self.rounds = 0
        self.metrics: object = None  # the metric children, cached by the metrics layer

    # -- inputs ----------------------------------------------------------------------------

    def resolved(
        self, res: Resolution, at: float, seconds: float, stale: bool
    ) -> tuple[list[Event], list[TargetHealth]]:
        """A new resolution: events for changed records and DNS recovery, and the targets
        that are no longer in it (for the caller to forget)."""
        events: list[Event] = []
        lines = chain_lines(res)
        if self.seen and lines != self.lines:
            added = sorted(set(lines) - set(self.lines))
            removed = sorted(set(self.lines) - set(lines))
            events.append(
                Event(
                    at,
                    "records_changed",
                    self.domain,
                    f"{self.domain}: records changed (+{len(added)} -{len(removed)})",
                    detail={"added": added, "removed": removed},
                )
            )
        if self.dns_error is not None or (self.stale and not stale):
            events.append(
                Event(at, "dns_recovered", self.domain, f"{self.domain}: DNS answers again")
            )
        if stale and not self.stale:
            events.append(
                Event(
                    at,
                    "dns_stale",
                    self.domain,
                    f"{self.domain}: DNS unreachable, serving expired answers (RFC 8767)",
                )
            )
        self.resolution, self.lines, self.seen = res, lines, True
        self.dns_error, self.stale = None, stale
        self.resolved_at, self.resolve_seconds = at, seconds
        keep: dict[TargetKey, TargetHealth] = {}
        rank = tiers(res)
        for t in res.targets:
            k = target_key(t)
            keep[k] = self.targets.get(k) or TargetHealth(t)
            keep[k].tier = rank.get(k, 0)
        gone = [h for k, h in self.targets.items() if k not in keep]
        self.targets = keep
        return events, gone

    def vanished(self, at: float, reason: str) -> tuple[list[Event], list[TargetHealth]]:
        """DNS answered that there is nothing usable: the records went away (an event when
        there were some), nothing is left to probe, the domain is down."""
        events: list[Event] = []
        if self.seen and self.lines:
            events.append(
                Event(
                    at,
                    "records_changed",
                    self.domain,
                    f"{self.domain}: records changed (+0 -{len(self.lines)})",
                    detail={"added": [], "removed": self.lines},
                )
            )
        events += self.dns_failed(at, reason)
        gone = list(self.targets.values())
        self.targets.clear()
        self.resolution, self.lines, self.seen = None, [], True
        return events, gone

    def dns_failed(self, at: float, error: str) -> list[Event]:
        """DNS gave nothing, not even stale answers: the domain is down for new clients."""
        first = self.dns_error is None
        self.dns_error = error
        if not first:
            return []
        return [Event(at, "dns_failure", self.domain, f"{self.domain}: DNS failed: {error}")]

    def probed(
        self,
        health: TargetHealth,
        at: float,
        up: bool,
        status: int | None,
        error: str | None,
        rtt: float,
    ) -> list[Event]:
        """One probe result: events when the target went down or came back."""
        was = health.up
        if not health.record(at, up, status, error, rtt):
            return []
        t = health.target
        if up:
            if was is None:
                return []  # first sight of a healthy target: nothing happened
            return [
                Event(
                    at,
                    "target_up",
                    self.domain,
                    f"{target_label(t)} answers again ({status}, {rtt * 1000:.1f} ms)",
                    health.labels(),
                    {"status": status, "rtt_ms": round(rtt * 1000, 2)},
                )
            ]
        why = error or (f"answered {status}" if status is not None else "no answer")
        events = [
            Event(
                at,
                "target_down",
                self.domain,
                f"{target_label(t)} is down: {why}",
                health.labels(),
                {"status": status, "error": error},
            )
        ]
        if health.tier == 0:
            nxt = self.next_up(target_key(t))
            where = f"next: {target_label(nxt.target)}" if nxt else "no other target answers"
            if nxt is not None and nxt.target.transport is not t.transport:
                where += f"; no other {t.transport.value.upper()} target answers"
            events.append(
                Event(
                    at,
                    "failover",
                    self.domain,
                    f"clients of {target_label(t)} would fail over ({where})",
                    health.labels(),
                    {"next": nxt.labels() if nxt else None},
                )
            )
        return events

    def linted(self, at: float, findings: list[Finding]) -> list[Event]:
        """New lint results: an event per finding that appeared or went away."""
        before = set(self.findings)
        now = set(findings)
        events = [
            Event(
                at,
                "lint_finding",
                self.domain,
                f"{self.domain}: {f.severity.value} {f.code}: {f.message}",
                detail=f.as_dict(),
            )
            for f in findings
            if f not in before
        ]
        events += [
            Event(
                at,
                "lint_cleared",
                self.domain,
                f"{self.domain}: resolved {f.code}: {f.message}",
                detail=f.as_dict(),
            )
            for f in self.findings
            if f not in now
        ]
        self.findings = findings
        return events

    def round_done(self, at: float) -> list[Event]:
        """After a probe round: the level, and an event when it changed."""
        self.rounds += 1
        return self.update_level(at)

    def update_level(self, at: float) -> list[Event]:
        """Classify again; an event when the level changed."""
        level = self.classify()
        if level == self.level:
            return []
        before, self.level = self.level, level
        if before is Level.UNKNOWN and level is Level.UP:
            return []
        return [
            Event(
                at,
                "domain_state",
                self.domain,
                f"{self.domain} is {BADGES[level]} (was {BADGES[before]})",
                detail={"state": level.value, "previous": before.value},
            )
        ]

    # -- derived ---------------------------------------------------------------------------

    def classify(self) -> Level:
        if self.resolution is None or self.dns_error is not None:
            return Level.DOWN
        return classify(
            {k: h.up for k, h in self.targets.items()},
            {k: h.tier for k, h in self.targets.items()},
        )

    def impact(self) -> Impact:
        """The level, server and target counts and the sentence the page shows."""
        health = {k: h.up for k, h in self.targets.items()}
        return impact(self.resolution, health, self.dns_error)

    def first_tier(self) -> set[TargetKey]:
        """The targets clients try first: the lowest SRV priority of each branch (a client
        that speaks only TCP starts at the TCP branch's first tier)."""
        return {k for k, h in self.targets.items() if h.tier == 0}

    def next_up(self, after: TargetKey) -> TargetHealth | None:
        """Where clients of ``after`` go next: the first answering target in try order over
        the same transport (a client that speaks only that transport has no other), else
        the first answering one over any transport."""
        if self.resolution is None:
            return None
        answering = [
            h
            for t in self.resolution.targets
            if target_key(t) != after
            and (h := self.targets.get(target_key(t))) is not None
            and h.up
        ]
        same = [h for h in answering if h.target.transport.value == after[0]]
        return next(iter(same or answering), None)

    def summary(self) -> dict[str, object]:
        impact = self.impact()
        return {
            "domain": self.domain,
            "state": self.level.value,
            "targets": impact.targets,
            "targets_up": impact.targets_up,
            "servers": impact.servers,
            "servers_up": impact.servers_up,
            "impact": impact.text,
            "dns": {
                "error": self.dns_error,
                "stale": self.stale,
                "resolved_at": self.resolved_at or None,
                "resolve_ms": round(self.resolve_seconds * 1000, 2),
                "next_resolve": self.next_resolve or None,
                "expires": None if self.resolution is None else self.resolution.expires,
            },
            "findings": [f.as_dict() for f in self.findings],
        }

    def as_dict(self) -> dict[str, object]:
        targets, res = self.targets, self.resolution
        return {**self.summary(), "tree": tree(res, targets), "try_order": try_order(res, targets)}


def tree(res: Resolution | None, targets: dict[TargetKey, TargetHealth]) -> list[dict[str, object]]:
    """NAPTR -> SRV -> host -> address, each address with its health, for the page."""
    if res is None:
        return []
    shares = {(s.transport.value, s.host, s.port): s for s in res.shares()}
    out: list[dict[str, object]] = []
    for b in res.branches:
        hosts = []
        for h in b.hosts:
            s = shares.get((b.transport.value, h.name, h.port))
            hosts.append(
                {
                    "name": h.name,
                    "port": h.port,
                    "priority": h.priority,
                    "weight": h.weight,
                    "share": None if s is None else round(s.share, 4),
                    "first_tier": bool(s and s.first_tier),
                    "tier": next((r for r, g in enumerate(b.groups) if h in g), None),
                    "notes": list(h.notes),
                    "targets": [
                        targets[target_key(t)].as_dict()
                        if target_key(t) in targets
                        else {**target_dict(t), "up": None}
                        for t in h.targets
                    ],
                }
            )
        out.append(
            {
                "transport": b.transport.value,
                "via": b.via.value,
                "naptr": None if b.naptr is None else str(b.naptr),
                "srv": b.srv_name,
                "not_offered": b.not_offered,
                "hosts": hosts,
            }
        )
    return out


def try_order(
    res: Resolution | None, targets: dict[TargetKey, TargetHealth]
) -> list[dict[str, object]]:
    """The order clients walk, each with its health; ``lands`` marks where they end up."""
    if res is None:
        return []
    out: list[dict[str, object]] = []
    landed = False
    for t in res.targets:
        h = targets.get(target_key(t))
        up = None if h is None else h.up
        lands = bool(up) and not landed
        landed = landed or lands
        out.append({**target_dict(t), "up": up, "lands": lands})
    return out


def stale_used(trace: Iterable[object]) -> int:
    """How many answers in a trace were served stale (Origin.STALE)."""
    return sum(1 for e in trace if getattr(e, "source", None) == "stale")

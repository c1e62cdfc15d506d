"""What a domain's target health means to its clients, in RFC 3263 terms: which SRV priority
tier each target is in, the domain's level, and one sentence saying who is affected.

Pure: a resolution and each target's last answer in, words and numbers out. The tier of a
target is the rank of its SRV priority within its transport branch (0: the tier clients try
first; an address fallback without SRV is tier 0), the label ``tier`` of the metrics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from ..resolution import Branch, Resolution
from ..target import Target

TargetKey = tuple[str, str, int]  # (transport, address, port): what a probe reaches
Health = Mapping[TargetKey, bool | None]  # a target's last answer; None: not probed yet


class Level(StrEnum):
    """A domain's health as its clients would feel it."""

    UP = "up"  # every target answers
    DEGRADED = "degraded"  # a first-tier target is down: its clients fail over
    BACKUP_DOWN = "backup_down"  # only targets behind the first tier are down: no client impact
    DOWN = "down"  # no target answers, or DNS fails
    UNKNOWN = "unknown"  # resolved but not probed yet


#: The badge the page shows for each level.
BADGES = {
    Level.UP: "up",
    Level.DEGRADED: "degraded",
    Level.BACKUP_DOWN: "backup down",
    Level.DOWN: "down",
    Level.UNKNOWN: "unknown",
}


def target_key(t: Target) -> TargetKey:
    return (t.transport.value, t.address, t.port)


def tiers(res: Resolution) -> dict[TargetKey, int]:
    """``Resolution.tiers()`` keyed as the watch model keys targets (0 = tried first)."""
    return {(t.value, address, port): rank for (t, address, port), rank in res.tiers().items()}


def classify(health: Health, tier: Mapping[TargetKey, int]) -> Level:
    """The level from probed targets (the caller handles DNS failure first)."""
    probed = {k: up for k, up in health.items() if up is not None}
    if not probed:
        return Level.UNKNOWN
    if not any(probed.values()):
        return Level.DOWN
    down = [k for k, up in probed.items() if not up]
    if not down:
        return Level.UP
    return Level.DEGRADED if any(tier.get(k, 0) == 0 for k in down) else Level.BACKUP_DOWN


@dataclass(frozen=True, slots=True)
class Impact:
    """The domain's level, its server and target counts, and the sentence for the page."""

    level: Level
    text: str
    servers: int  # distinct host names the records lead to
    servers_up: int  # of them, those with at least one target answering
    targets: int  # transport x address x port
    targets_up: int

    def as_dict(self) -> dict[str, object]:
        return {
            "level": self.level.value,
            "badge": BADGES[self.level],
            "text": self.text,
            "servers": self.servers,
            "servers_up": self.servers_up,
            "targets": self.targets,
            "targets_up": self.targets_up,
        }


def impact(res: Resolution | None, health: Health, dns_error: str | None = None) -> Impact:
    """Who is affected, from the clients' side: share of first attempts that start on a dead
    server (RFC 2782 weights within the first tier), whether a backup tier catches them."""
    hosts: dict[str, list[bool | None]] = {}
    for t in [] if res is None else res.targets:
        hosts.setdefault(t.host, []).append(health.get(target_key(t)))
    servers_up = sum(1 for ups in hosts.values() if any(ups))
    targets_up = sum(1 for up in health.values() if up)
    counts = (len(hosts), servers_up, len(health), targets_up)
    if res is None or dns_error is not None:
        text = (
            f"DNS fails ({dns_error}): clients that look the domain up now find no server"
            if dns_error
            else "no usable records: clients find no server"
        )
        return Impact(Level.DOWN, text, *counts)
    level = classify(health, tiers(res))
    servers = _servers(len(hosts))
    if level is Level.UNKNOWN:
        text = f"{servers} found, not probed yet"
    elif level is Level.UP:
        text = f"all {servers} answer: no client impact"
    elif level is Level.DOWN:
        text = f"all {servers} down: every new registration fails"
    else:
        text = _partial(res, health)
    return Impact(level, text, *counts)


def _partial(res: Resolution, health: Health) -> str:
    """Some targets down: one phrase per affected transport branch (one for all of them
    when they read the same, the usual case of a server down on every transport)."""
    shares = {(s.transport.value, s.host, s.port): s.share for s in res.shares()}
    plain = [_branch_phrase(b, health, shares, "") for b in res.branches if b.groups]
    if plain and None not in plain and len(set(plain)) == 1:
        return str(plain[0])
    out: list[str] = []
    for b in res.branches:
        phrase = _branch_phrase(b, health, shares, b.transport.value.upper())
        if phrase is not None and phrase not in out:
            out.append(phrase)
    return "; ".join(out)


def _branch_phrase(
    b: Branch, health: Health, shares: Mapping[tuple[str, str, int], float], transport: str
) -> str | None:
    """One transport branch's impact (``transport`` named when several differ), or None
    when all its targets answer."""
    if not b.groups:
        return None
    first, backups = b.groups[0], [h for g in b.groups[1:] for h in g]
    down = [h for h in first if all(health.get(target_key(t)) is False for t in h.targets)]
    partly = [
        h
        for h in first
        if h not in down and any(health.get(target_key(t)) is False for t in h.targets)
    ]
    # a client starts on the host's first address: dead there means a timeout first
    dead_start = sum(
        shares.get((b.transport.value, h.name, h.port), 0.0)
        for h in first
        if health.get(target_key(h.targets[0])) is False
    )
    backup_down = [h for h in backups if all(health.get(target_key(t)) is False for t in h.targets)]
    backup_up = any(health.get(target_key(t)) for h in backups for t in h.targets)
    tag, new = (f"{transport}: ", f"new {transport} ") if transport else ("", "new ")
    n, nb = len(first), len(backups)
    if not down and not partly:
        if not backup_down:
            return None
        if len(backup_down) == nb:
            return f"{tag}backup tier down: no client impact while the primary answers"
        return (
            f"{tag}backup tier: {len(backup_down)} of {nb} servers down: "
            "no client impact while the primary answers"
        )
    if len(down) == n:
        if backup_up:
            return (
                f"{tag}primary tier down ({_servers(n)}): every {new}registration starts on a "
                "dead server and fails over to the backup tier after the client's timeout"
            )
        return f"{tag}all {_servers(n + nb)} down: every {new}registration fails"
    count = f"{len(down)} of {n} servers down" + (f", {len(partly)} partly" if partly else "")
    return (
        f"{tag}primary tier: {count}: {_percent(dead_start)} of {new}registrations start on a "
        "dead server and fail over after the client's timeout"
    )


def _servers(n: int) -> str:
    return f"{n} server{'s' if n != 1 else ''}"


def _percent(share: float) -> str:
    if 0 < share < 0.005:
        return "<1%"
    return f"{round(share * 100)}%"

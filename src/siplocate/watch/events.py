"""What the watcher tells operators: one Event shape, fanned out to stdout, webhook and page."""

from __future__ import annotations

import json
import sys
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO

#: Event kinds, stable for scripts and alert rules.
KINDS = (
    "target_down",  # a target stopped answering OPTIONS
    "target_up",  # a target answers again (or for the first time after being down)
    "failover",  # a first-tier target is down: clients would fail over
    "domain_state",  # the domain's level changed (up / degraded / down)
    "records_changed",  # the NAPTR/SRV/address chain differs from the last resolution
    "lint_finding",  # a lint finding appeared
    "lint_cleared",  # a lint finding went away
    "dns_failure",  # DNS could not be asked and nothing could be served stale
    "dns_stale",  # DNS unreachable: answers are being served stale (RFC 8767)
    "dns_recovered",  # fresh DNS answers again
)


@dataclass(frozen=True, slots=True)
class Event:
    """One thing that happened, at wall time ``ts``, to ``domain`` (and maybe one target)."""

    ts: float
    kind: str
    domain: str
    message: str
    target: dict[str, object] | None = None
    detail: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The public JSON shape (README: "Event shape")."""
        return {
            "time": datetime.fromtimestamp(self.ts, UTC).isoformat(timespec="milliseconds"),
            "ts": round(self.ts, 3),
            "kind": self.kind,
            "domain": self.domain,
            "target": self.target,
            "message": self.message,
            "detail": self.detail,
        }


Sink = Callable[[Event], None]


class EventLog:
    """The recent events (bounded) plus the sinks every new event goes to."""

    def __init__(self, keep: int = 500) -> None:
        self.recent: deque[Event] = deque(maxlen=keep)
        self.sinks: list[Sink] = []
        self.count = 0

    def emit(self, event: Event) -> None:
        self.recent.append(event)
        self.count += 1
        for sink in self.sinks:
            sink(event)

    def last(self, n: int, domain: str | None = None) -> list[Event]:
        """The newest ``n`` events (of ``domain`` when given), newest first."""
        out: list[Event] = []
        for ev in reversed(self.recent):
            if domain is None or ev.domain == domain:
                out.append(ev)
                if len(out) >= n:
                    break
        return out


def json_lines(stream: IO[str] | None = None) -> Sink:
    """A sink writing each event as one JSON line (stdout by default), flushed at once."""

    broken = False

    def write(event: Event) -> None:
        nonlocal broken
        if broken:
            return
        out = stream or sys.stdout
        try:
            out.write(json.dumps(event.as_dict(), separators=(",", ":")) + "\n")
            out.flush()
        except OSError:  # e.g. `siplocate watch ... | head`: stop writing, keep watching
            broken = True

    return write

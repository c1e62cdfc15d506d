"""``zone apply``: make a live zone match a plan with one signed, prerequisite-guarded UPDATE."""

from __future__ import annotations

from dataclasses import dataclass, field

import dns.name
import dns.rdatatype

from .drain import DRAIN_PRIORITY, Drain, read_state
from .plan import Plan
from .update import Change, Server, diff


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What apply found and did: the zone, the changes, and whether they were sent."""

    zone: dns.name.Name
    changes: list[Change]
    applied: bool
    drains: list[Drain] = field(default_factory=list)  # drains recorded in the zone

    def undone_drains(self) -> list[Drain]:
        """Recorded drains whose host this apply gives a priority other than 65535 again."""
        out = []
        for d in self.drains:
            for ch in self.changes:
                if (
                    ch.name == d.srv_name
                    and ch.rdtype == dns.rdatatype.SRV
                    and ch.new
                    and any(r.target == d.host and r.priority != DRAIN_PRIORITY for r in ch.new)
                ):
                    out.append(d)
                    break
        return out

    def diff_text(self) -> str:
        """The changes as a unified diff (live -> plan); empty when nothing differs."""
        if not self.changes:
            return ""
        lines = [f"--- live {self.zone}", "+++ plan"]
        for ch in self.changes:
            lines.append(f"@@ {ch.name} {dns.rdatatype.to_text(ch.rdtype)} @@")
            lines += ch.lines()
        return "\n".join(lines) + "\n"


def plan_changes(plan: Plan, server: Server) -> tuple[dns.name.Name, list[Change]]:
    """Read the live RRsets the plan manages and compute the changes (sends nothing)."""
    zone = server.find_zone(plan.domain)
    keys = plan.managed_keys()
    live = server.read(zone, keys)
    return zone, diff(live, plan.records(), keys)


def apply_plan(plan: Plan, server: Server, *, dry_run: bool = False) -> ApplyResult:
    """Diff the plan against the server and, unless ``dry_run``, apply it in one UPDATE.

    The drains recorded in the zone come back on the result: the plan does not know about
    them, so an apply that touches a drained host's SRV records puts it back in rotation.
    """
    zone, changes = plan_changes(plan, server)
    drains = read_state(server, plan.domain).drains
    if not dry_run and changes:
        server.update(zone, changes)
    return ApplyResult(zone, changes, bool(changes) and not dry_run, drains)

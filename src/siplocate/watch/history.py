"""Bounded per-target history: the last probes for sparklines, hourly roll-ups for a week.

Memory per target is fixed (a few kilobytes) however long the watcher runs.
"""

from __future__ import annotations

import math
from array import array

RECENT = 120  # probes kept one by one (10 min at a 5 s interval)
HOURS = 168  # hourly buckets kept: one week


class History:
    """RTT samples (seconds; NaN for a failed probe) in a ring, plus hourly buckets."""

    __slots__ = ("_at", "_b_fail", "_b_hour", "_b_max", "_b_n", "_b_sum", "_next", "_rtt", "count")

    def __init__(self) -> None:
        self._at = array("d", [0.0]) * RECENT
        self._rtt = array("f", [math.nan]) * RECENT
        self._next = 0
        self.count = 0  # samples ever recorded
        self._b_hour = array("q", [-1]) * HOURS  # hour number each bucket holds
        self._b_n = array("I", [0]) * HOURS
        self._b_fail = array("I", [0]) * HOURS
        self._b_sum = array("d", [0.0]) * HOURS
        self._b_max = array("f", [0.0]) * HOURS

    def add(self, at: float, rtt: float | None) -> None:
        """Record one probe at wall time ``at``: its RTT, or None when it failed."""
        i = self._next
        self._at[i] = at
        self._rtt[i] = math.nan if rtt is None else rtt
        self._next = (i + 1) % RECENT
        self.count += 1
        hour = int(at // 3600)
        b = hour % HOURS
        if self._b_hour[b] != hour:
            self._b_hour[b] = hour
            self._b_n[b] = self._b_fail[b] = 0
            self._b_sum[b] = 0.0
            self._b_max[b] = 0.0
        self._b_n[b] += 1
        if rtt is None:
            self._b_fail[b] += 1
        else:
            self._b_sum[b] += rtt
            if rtt > self._b_max[b]:
                self._b_max[b] = rtt

    def recent(self, n: int = RECENT) -> list[tuple[float, float | None]]:
        """The last ``n`` samples, oldest first, as (time, rtt or None)."""
        n = min(n, RECENT, self.count)
        out: list[tuple[float, float | None]] = []
        for k in range(n, 0, -1):
            i = (self._next - k) % RECENT
            rtt = self._rtt[i]
            out.append((self._at[i], None if math.isnan(rtt) else float(rtt)))
        return out

    def hourly(self) -> list[dict[str, float | int]]:
        """The hourly buckets still held, oldest first: probes, failures, mean and max RTT."""
        rows = []
        for b in range(HOURS):
            hour = self._b_hour[b]
            if hour < 0:
                continue
            n, fail = self._b_n[b], self._b_fail[b]
            ok = n - fail
            rows.append(
                {
                    "hour": hour * 3600,
                    "probes": n,
                    "failures": fail,
                    "mean_rtt": self._b_sum[b] / ok if ok else 0.0,
                    "max_rtt": float(self._b_max[b]),
                }
            )
        rows.sort(key=lambda r: r["hour"])
        return rows

"""The watcher's clock is siplocate's one clock (``siplocate/clock.py``), re-exported here."""

from __future__ import annotations

from ..clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "SystemClock"]

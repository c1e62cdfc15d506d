"""``siplocate watch``: a long-running monitor of SIP domains as their clients see them.

The pure core (``model``) turns resolutions, OPTIONS probes and lint runs into state and
events; ``monitor.Watcher`` drives it with an injected clock; ``web`` serves the status page,
``/metrics`` and ``/probe``; ``webhook`` delivers events.
"""

from __future__ import annotations

from .clock import Clock, ManualClock, SystemClock
from .config import WatchConfig
from .events import Event, EventLog
from .model import DomainView, Level, TargetHealth
from .monitor import Watcher
from .probe import Prober, ProbeResult, SipProber

__all__ = [
    "Clock",
    "DomainView",
    "Event",
    "EventLog",
    "Level",
    "ManualClock",
    "ProbeResult",
    "Prober",
    "SipProber",
    "SystemClock",
    "TargetHealth",
    "WatchConfig",
    "Watcher",
]

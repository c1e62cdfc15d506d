"""Kept so ``from siplocate.health import HealthMonitor`` still works; the module lives in
``siplocate.client.health``."""

from __future__ import annotations

from .client.health import HealthMonitor, answered

__all__ = ["HealthMonitor", "answered"]

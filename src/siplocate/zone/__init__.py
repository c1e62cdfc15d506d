"""Manage the DNS side of a SIP service: plans, rendering, linting, RFC 2136 updates, drains.

Names are imported on first use (PEP 562), so linting does not load TOML plans or updates.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .lint import (
        CODES,
        Finding,
        Severity,
        Snapshot,
        gather,
        lint_snapshot,
        lint_zone_files,
        lint_zones,
    )
    from .plan import Plan, RecordMap, Server, load_plan, plan_from_dict
    from .render import render_bind, render_json, render_nsupdate

_LAZY = {
    **dict.fromkeys(
        ["CODES", "Finding", "Severity", "Snapshot", "gather", "lint_snapshot",
         "lint_zone_files", "lint_zones"],
        "lint",
    ),
    **dict.fromkeys(["Plan", "RecordMap", "Server", "load_plan", "plan_from_dict"], "plan"),
    **dict.fromkeys(["render_bind", "render_json", "render_nsupdate"], "render"),
}  # fmt: skip


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "CODES",
    "Finding",
    "Plan",
    "RecordMap",
    "Server",
    "Severity",
    "Snapshot",
    "gather",
    "lint_snapshot",
    "lint_zone_files",
    "lint_zones",
    "load_plan",
    "plan_from_dict",
    "render_bind",
    "render_json",
    "render_nsupdate",
]

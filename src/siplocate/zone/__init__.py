"""Manage the DNS side of a SIP service: plans, rendering, linting, RFC 2136 updates, drains."""

from __future__ import annotations

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

"""DNS sources behind one protocol: live servers, zone files, and a cache in front of either."""

from __future__ import annotations

from pathlib import Path

from ..errors import BadInput
from ..limits import DEFAULT_LIMITS, Limits
from .cache import CachingSource
from .live import LiveSource
from .source import Answer, DnsSource, Origin
from .zonefile import ZoneSource, load_zone


def make_source(
    nameservers: list[str] | None = None,
    zones: list[Path] | list[str] | None = None,
    *,
    timeout: float = 1.5,
    limits: Limits = DEFAULT_LIMITS,
) -> DnsSource:
    """Zone files when given (offline), else the nameservers (default: /etc/resolv.conf)."""
    if zones and nameservers:
        raise BadInput("give either zone files or nameservers, not both")
    if zones:
        return ZoneSource(list(zones))
    return LiveSource(nameservers, timeout=timeout, limits=limits)


__all__ = [
    "Answer",
    "CachingSource",
    "DnsSource",
    "LiveSource",
    "Origin",
    "ZoneSource",
    "load_zone",
    "make_source",
]

"""DNS sources behind one protocol: live servers, zone files, and a cache in front of either."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import BadInput
from ..limits import DEFAULT_LIMITS, Limits
from .source import Answer, DnsSource, Origin

if TYPE_CHECKING:
    from .cache import CachingSource
    from .live import LiveSource
    from .zonefile import ZoneSource, load_zone

# Imported on first use (PEP 562): the live source loads dnspython's query machinery, which
# offline commands (zone files) never need.
_LAZY = {
    "CachingSource": "cache",
    "LiveSource": "live",
    "ZoneSource": "zonefile",
    "load_zone": "zonefile",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def make_source(
    nameservers: list[str] | None = None,
    zones: list[Path] | list[str] | None = None,
    *,
    timeout: float = 1.5,
    limits: Limits = DEFAULT_LIMITS,
    **live: Any,
) -> DnsSource:
    """Zone files when given (offline), else the nameservers (default: /etc/resolv.conf);
    ``live``: further LiveSource options (``port``, ``on_timeout``)."""
    if zones and nameservers:
        raise BadInput("give either zone files or nameservers, not both")
    if zones:
        from .zonefile import ZoneSource

        return ZoneSource(list(zones))
    from .live import LiveSource

    return LiveSource(nameservers, timeout=timeout, limits=limits, **live)


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

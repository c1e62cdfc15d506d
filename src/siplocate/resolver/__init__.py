"""RFC 3263 and RFC 2782: from a SIP URI to the ordered targets a client tries.

``rfc3263`` is the walk as a pure machine, ``rfc2782`` the SRV ordering, ``rules`` the
NAPTR/SRV rules shared with ``compare`` and ``zone lint``, and ``resolver`` the asyncio
driver (``Resolver``) with its cache. The public names load on first use (PEP 562), so
importing the pure parts does not load asyncio's DNS machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .resolver import Observation, Resolver, locate, locate_sync
    from .rules import DnsMode

_LAZY = {
    "Observation": "resolver",
    "Resolver": "resolver",
    "locate": "resolver",
    "locate_sync": "resolver",
    "DnsMode": "rules",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = ["DnsMode", "Observation", "Resolver", "locate", "locate_sync"]

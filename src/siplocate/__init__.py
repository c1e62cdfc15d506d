"""siplocate: SIP server discovery over DNS (RFC 3263, RFC 2782), made correct, fast and visible.

The public names are imported on first use (PEP 562), so ``import siplocate`` and the
command's ``--help`` do not load the SIP client, ssl or dnspython's query machinery.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import BadInput, DnsError, NotFound, OperationFailed, SiplocateError
from .limits import Limits

if TYPE_CHECKING:
    from .client import Dialog, Outcome, Registration, SipClient
    from .client.failover import Failback, Policy
    from .client.health import HealthMonitor
    from .resolution import Branch, Host, Resolution
    from .resolver import Resolver, locate, locate_sync
    from .target import SipTarget, SipUri, Target, Transport, Via

#: public name -> the module that defines it
_LAZY = {
    "Dialog": "client",
    "Outcome": "client",
    "Registration": "client",
    "SipClient": "client",
    "Failback": "client",
    "Policy": "client",
    "HealthMonitor": "client",
    "Resolver": "resolver",
    "locate": "resolver",
    "locate_sync": "resolver",
    "Branch": "resolution",
    "Host": "resolution",
    "Resolution": "resolution",
    "SipTarget": "target",
    "SipUri": "target",
    "Target": "target",
    "Transport": "target",
    "Via": "target",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'siplocate' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # the next access is a plain attribute
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BadInput",
    "Branch",
    "Dialog",
    "DnsError",
    "Failback",
    "HealthMonitor",
    "Host",
    "Limits",
    "NotFound",
    "OperationFailed",
    "Outcome",
    "Policy",
    "Registration",
    "Resolution",
    "Resolver",
    "SipClient",
    "SipTarget",
    "SipUri",
    "SiplocateError",
    "Target",
    "Transport",
    "Via",
    "locate",
    "locate_sync",
]
__version__ = "0.1.0"

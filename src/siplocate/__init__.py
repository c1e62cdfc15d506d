"""siplocate: SIP server discovery over DNS (RFC 3263, RFC 2782), made correct, fast and visible."""

from .client import Dialog, Outcome, Registration, SipClient
from .errors import BadInput, DnsError, NotFound, OperationFailed, SiplocateError
from .failover import Failback, Policy
from .health import HealthMonitor
from .limits import Limits
from .locate import Resolver, locate, locate_sync
from .resolution import Branch, Host, Resolution
from .target import SipTarget, SipUri, Target, Transport, Via

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

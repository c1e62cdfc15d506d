"""siplocate: SIP server discovery over DNS (RFC 3263, RFC 2782), made correct, fast and visible."""

from .errors import BadInput, DnsError, NotFound, OperationFailed, SiplocateError
from .target import SipTarget, Target, Transport, Via

__all__ = [
    "BadInput",
    "DnsError",
    "NotFound",
    "OperationFailed",
    "SipTarget",
    "SiplocateError",
    "Target",
    "Transport",
    "Via",
]
__version__ = "0.1.0"

"""The SIP client side: ``SipClient`` and what walks, keeps and answers requests beside it.

- ``sipclient``: ``SipClient``, configuration plus one method per request kind;
  ``config`` checks its settings, ``specs`` builds its requests;
- ``walker``: the pure request walker (RFC 3263 §4.3 failover across targets);
- ``effects``: the one runner that carries out any sans-I/O machine's effects and timers;
  ``transactions`` runs client transactions and walks with it, ``wire`` opens the flows
  and routes what arrives on them;
- ``failover``: who is down, for how long, and the policies and damping over that;
- ``flows``: one connection per target, shared by every request;
- ``registration`` / ``outbound``: staying registered (RFC 3261 §10, RFC 5626 flows);
- ``dialog`` / ``answering``: dialogs, and requests sent to the client;
- ``health``: OPTIONS probes that tell the failover state what answers.
"""

from __future__ import annotations

from ..resolver.static import StaticResolution
from .answering import Incoming, InviteHandler
from .dialog import Dialog
from .failover import Failback, Policy, Steering
from .health import HealthMonitor
from .registration import Binding, RegEvent, Registration
from .shared_health import RedisHealth
from .sipclient import INVITE_RING_LIMIT, SipClient
from .walker import Attempt, Outcome

__all__ = [
    "INVITE_RING_LIMIT",
    "Attempt",
    "Binding",
    "Dialog",
    "Failback",
    "HealthMonitor",
    "Incoming",
    "InviteHandler",
    "Outcome",
    "Policy",
    "RedisHealth",
    "RegEvent",
    "Registration",
    "SipClient",
    "StaticResolution",
    "Steering",
]

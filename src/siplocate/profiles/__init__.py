"""What each kind of SIP client does with a domain's DNS: DNS modes and client profiles.

``DnsMode`` (the Grandstream "DNS Mode" setting, which every client effectively has) is
what the resolver itself uses; nothing heavier is imported here, so the resolver stays light.
"""

from __future__ import annotations

from .modes import DnsMode

__all__ = ["DnsMode"]

"""DNS modes: how far down RFC 3263's NAPTR -> SRV -> A/AAAA chain a client starts.

Named after the Grandstream "DNS Mode" setting (seeds/000: A Record, SRV, NAPTR/SRV, Use
Configured IP); every other client has one of these built in (CLIENTS.md).
"""

from __future__ import annotations

from enum import StrEnum

from ..errors import BadInput


class DnsMode(StrEnum):
    """Where a client starts locating a server for a SIP domain."""

    NAPTR = "naptr"  # RFC 3263: NAPTR, then SRV, then A/AAAA (siplocate's default)
    SRV = "srv"  # NAPTR never asked: SRV for the client's transports, then A/AAAA
    A = "a"  # A/AAAA of the domain itself on the default port: no NAPTR, no SRV
    STATIC = "static"  # configured addresses, no DNS at all

    @classmethod
    def parse(cls, text: str) -> DnsMode:
        """Mode from a user-supplied name (case-insensitive); BadInput naming the known ones."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(m.value for m in cls)
            raise BadInput(f"unknown DNS mode {text!r} (known: {known})") from None

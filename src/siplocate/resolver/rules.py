"""The NAPTR/SRV rules of RFC 3263, written once: the walk (``rfc3263.py``), ``compare``
(client profiles) and ``zone lint`` import them from here.

Pure functions over decoded records and the transport table of ``target.py``: which NAPTR
a client can use and why not, how NAPTRs rank, the SRV names and their fallback order, the
default transport, the IPv6/IPv4 interleave, and where a lookup starts (``DnsMode``).
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

import dns.exception
import dns.name
import dns.rdtypes.IN.NAPTR

from ..errors import BadInput, NotFound
from ..resolution import Naptr
from ..target import (
    SERVICE_TRANSPORT,
    SRV_FALLBACK_ORDER,
    SRV_PREFIX_TRANSPORT,
    TRANSPORTS,
    SipTarget,
    Target,
    Transport,
    Via,
    is_ip,
)


class DnsMode(StrEnum):
    """Where a client starts locating a server for a SIP domain.

    Named after the Grandstream "DNS Mode" setting (seeds/000: A Record, SRV, NAPTR/SRV, Use
    Configured IP); every other client has one of these built in (CLIENTS.md).
    """

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


def text(name: dns.name.Name) -> str:
    """A name as shown to people: no final dot, the root as '.'."""
    return name.to_text(omit_final_dot=True) or "."


# -- NAPTR ----------------------------------------------------------------------------------


def decode_naptr(rdata: object) -> Naptr:
    """A NAPTR rdata with its text fields decoded (UnicodeDecodeError if they are not text,
    AttributeError if it is no NAPTR of class IN)."""
    rd: dns.rdtypes.IN.NAPTR.NAPTR = rdata  # type: ignore[assignment]
    return Naptr(
        rd.order,
        rd.preference,
        rd.flags.decode(),
        rd.service.decode(),
        rd.regexp.decode(),
        text(rd.replacement),
        rd.replacement,
    )


def service_transport(service: str) -> Transport | None:
    """The transport a NAPTR service field names (case-insensitive), or None."""
    return SERVICE_TRANSPORT.get(service.upper())


def naptr_rank(rec: Naptr) -> tuple[int, int, int]:
    """Order, then preference; ties go to TLS, TCP, UDP (RFC 3263's own fallback order), so
    the result does not depend on the order a server happened to list the records in."""
    transport = service_transport(rec.service)
    rank = SRV_FALLBACK_ORDER.index(transport) if transport in SRV_FALLBACK_ORDER else 3
    return rec.order, rec.preference, rank


def naptr_unusable(rec: Naptr, secure: bool, transports: Sequence[Transport]) -> str | None:
    """Why a client speaking ``transports`` cannot use this NAPTR (RFC 3263 §4.1, RFC 3404
    flags), or None when it can; ``secure``: the URI is sips:."""
    service = rec.service.upper()
    transport = SERVICE_TRANSPORT.get(service)
    flags = rec.flags.lower()
    if not service.startswith(("SIP+", "SIPS+")):
        return "not a SIP service"
    if transport is None:
        return f"unknown SIP service {rec.service!r}"
    if secure and not transport.secure:
        return "sips: URI keeps only SIPS services"
    if transport not in transports:
        return f"this client does not support {transport}"
    if flags not in ("s", "a", ""):
        return f"flags {rec.flags!r} are not S, A or empty (RFC 3404: unknown flags)"
    if rec.replacement in (".", ""):
        return "no replacement (regexp-only), unusable for SIP"
    return None


# -- SRV ------------------------------------------------------------------------------------

#: SRV owner prefix labels per transport, e.g. (b"_sip", b"_udp"), from the transport table.
SRV_LABELS = {t: tuple(p.encode() for p in i.srv_prefix.split(".")) for t, i in TRANSPORTS.items()}


def srv_name(transport: Transport, domain: dns.name.Name) -> dns.name.Name | None:
    """``_sip._udp.<domain>`` etc., or None when that would exceed 255 octets."""
    try:
        return dns.name.Name(SRV_LABELS[transport] + domain.labels)
    except dns.exception.DNSException:
        return None


def srv_transport(name: dns.name.Name) -> Transport | None:
    """The transport an SRV owner name's ``_service._proto`` labels say, or None."""
    if len(name.labels) < 2:
        return None
    prefix = b".".join(name.labels[:2]).decode(errors="replace").lower()
    return SRV_PREFIX_TRANSPORT.get(prefix)


def fallback_transports(transports: Sequence[Transport], secure: bool) -> list[Transport]:
    """RFC 3263 §4.1 without NAPTR: the SRV transports to ask, in fallback order (TLS, TCP,
    UDP), kept to what the client speaks and, for sips:, to secure ones."""
    return [t for t in SRV_FALLBACK_ORDER if t in transports and (t.secure or not secure)]


# -- transports and addresses ---------------------------------------------------------------


def default_transport(
    given: Transport | None, secure: bool, transports: Sequence[Transport], uri: object = ""
) -> tuple[Transport, str | None]:
    """The URI's transport, else UDP for sip and TLS for sips (RFC 3263 §4.1), or the next
    this client speaks; with a note when it is not the first choice. NotFound when the
    client speaks none that fits (``uri`` names the target in that message)."""
    if given is not None:
        if given not in transports:
            raise NotFound(
                f"{uri} asks for transport {given}, which this client does not "
                f"support ({', '.join(t.value for t in transports)})"
            )
        return given, None
    preferred = (Transport.TLS,) if secure else (Transport.UDP, Transport.TCP, Transport.TLS)
    for t in preferred:
        if t in transports:
            note = None if t is preferred[0] else f"this client lacks {preferred[0]}: using {t}"
            return t, note
    raise NotFound(f"{uri} needs a secure transport and this client supports none")


def interleave(six: Sequence[str], four: Sequence[str]) -> list[str]:
    """IPv6 and IPv4 addresses alternated, IPv6 first (RFC 8305 §4)."""
    merged: list[str] = []
    for i in range(max(len(six), len(four))):
        merged.extend(x[i] for x in (six, four) if i < len(x))
    return merged


def static_target(server: str, transport: Transport) -> Target:
    """``ADDRESS[:PORT][;transport=T]`` (IP literal only: static means no DNS) -> Target."""
    parsed = SipTarget.parse(server)
    if not is_ip(parsed.host):
        raise BadInput(
            f"static server {server!r} must be an IP address (the static policy uses no DNS)"
        )
    t = parsed.transport or transport
    port = parsed.port or t.default_port
    return Target(t, parsed.host, port, parsed.host, via=Via.LITERAL)

"""The data that flows everywhere: transports, parsed SIP targets and resolved targets.

Every fact about a transport (NAPTR service, SRV name, default port, whether it is
secure) lives in the ``TRANSPORTS`` table below and nowhere else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from sipmessage import URI

from .errors import BadInput


class Transport(StrEnum):
    """A SIP transport, spelled as in the ``transport=`` URI parameter."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    SCTP = "sctp"
    TLS_SCTP = "tls-sctp"
    WS = "ws"
    WSS = "wss"

    @property
    def info(self) -> TransportInfo:
        return TRANSPORTS[self]

    @property
    def secure(self) -> bool:
        return TRANSPORTS[self].secure

    @property
    def default_port(self) -> int:
        return TRANSPORTS[self].default_port

    @classmethod
    def parse(cls, text: str) -> Transport:
        """Transport from a user-supplied name (case-insensitive); BadInput if unknown."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            known = ", ".join(t.value for t in cls)
            raise BadInput(f"unknown transport {text!r} (known: {known})") from None


@dataclass(frozen=True, slots=True)
class TransportInfo:
    """What RFC 3263 and friends say about one transport."""

    transport: Transport
    naptr_service: str  # RFC 3263 / RFC 7118 NAPTR service field
    srv_prefix: str  # RFC 3263 §4.1 SRV owner prefix, e.g. "_sip._udp"
    default_port: int
    secure: bool


TRANSPORTS: dict[Transport, TransportInfo] = {
    info.transport: info
    for info in (
        TransportInfo(Transport.UDP, "SIP+D2U", "_sip._udp", 5060, False),
        TransportInfo(Transport.TCP, "SIP+D2T", "_sip._tcp", 5060, False),
        TransportInfo(Transport.TLS, "SIPS+D2T", "_sips._tcp", 5061, True),
        TransportInfo(Transport.SCTP, "SIP+D2S", "_sip._sctp", 5060, False),
        TransportInfo(Transport.TLS_SCTP, "SIPS+D2S", "_sips._sctp", 5061, True),
        TransportInfo(Transport.WS, "SIP+D2W", "_sip._ws", 80, False),
        TransportInfo(Transport.WSS, "SIPS+D2W", "_sips._ws", 443, True),
    )
}

#: NAPTR service field (upper-cased) -> transport.
SERVICE_TRANSPORT: dict[str, Transport] = {info.naptr_service: t for t, info in TRANSPORTS.items()}

#: SRV owner prefix -> transport.
SRV_PREFIX_TRANSPORT: dict[str, Transport] = {info.srv_prefix: t for t, info in TRANSPORTS.items()}

#: RFC 3263 §4.1: with no NAPTR, query these SRV names, in this order.
SRV_FALLBACK_ORDER: tuple[Transport, ...] = (Transport.TLS, Transport.TCP, Transport.UDP)

DEFAULT_TRANSPORTS: tuple[Transport, ...] = (Transport.UDP, Transport.TCP, Transport.TLS)


def parse_transports(
    value: str | Transport | tuple[str | Transport, ...] | list[str],
) -> tuple[Transport, ...]:
    """Transports from ``"udp,tcp"`` or a sequence; BadInput on unknown names or an empty set."""
    items = value.split(",") if isinstance(value, str) else list(value)
    result: list[Transport] = []
    for item in items:
        if isinstance(item, str) and not item.strip():
            continue
        t = item if isinstance(item, Transport) else Transport.parse(item)
        if t not in result:
            result.append(t)
    if not result:
        raise BadInput("no transports given")
    return tuple(result)


class Via(StrEnum):
    """How a target was found."""

    NAPTR = "naptr"  # NAPTR -> SRV (or NAPTR "a" flag) chain
    SRV = "srv"  # SRV without NAPTR
    A = "a"  # A/AAAA fallback with the default port
    LITERAL = "literal"  # numeric IP in the URI: no DNS at all


class Target(NamedTuple):
    """One entry of the target list a client walks, in order.

    ``host`` is the SRV target or host name without the trailing dot, or the IP literal.
    ``priority``/``weight`` are the SRV values (None when no SRV was involved).
    """

    transport: Transport
    host: str
    port: int
    address: str
    priority: int | None = None
    weight: int | None = None
    via: Via = Via.SRV

    def as_dict(self) -> dict[str, object]:
        return {
            "transport": self.transport.value,
            "host": self.host,
            "port": self.port,
            "address": self.address,
            "priority": self.priority,
            "weight": self.weight,
            "via": self.via.value,
        }

    @property
    def hostport(self) -> str:
        """``address:port`` with IPv6 addresses in brackets."""
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else f"{self.address}:{self.port}"
        )


@dataclass(frozen=True, slots=True)
class SipUri:
    """A SIP/SIPS URI (or bare ``host[:port]``) parsed by ``sipmessage.URI``, plus the
    RFC 3263 reductions: lower-case host without trailing dot or brackets, the
    ``transport=`` and ``maddr=`` parameters, and sips + tcp meaning TLS.

    ``uri`` is the full parsed URI (user parameters, telephone-subscriber users, ...) for
    callers that need more than RFC 3263 does.
    """

    scheme: str  # "sip" or "sips"
    host: str  # lower-case host name without trailing dot, or IP literal without brackets
    user: str | None = None
    port: int | None = None
    transport: Transport | None = None
    maddr: str | None = None
    text: str = ""
    uri: URI | None = field(default=None, compare=False, repr=False)

    @property
    def secure(self) -> bool:
        return self.scheme == "sips"

    @property
    def lookup_host(self) -> str:
        """RFC 3263 §4: maddr, when present, replaces the host for resolution."""
        return self.maddr or self.host

    @property
    def is_numeric(self) -> bool:
        return is_ip(self.lookup_host)

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse ``sip:user@host:port;params``, ``sips:...`` or a bare ``host[:port]``.

        Raises BadInput naming what is wrong.
        """
        raw = text.strip()
        if not raw:
            raise BadInput("empty SIP target")
        if any(c.isspace() for c in raw):
            raise BadInput(f"SIP target {text!r} contains whitespace")
        if raw.startswith("<") and raw.endswith(">"):
            raw = raw[1:-1]
        scheme, sep, rest = raw.partition(":")
        if sep and scheme.lower() in ("sip", "sips"):
            scheme = scheme.lower()
        elif sep and not raw.startswith("[") and not _is_number(rest.split(";")[0]):
            if "." in scheme or "@" in scheme:
                raise BadInput(f"invalid port {rest.split(';')[0]!r} in {text!r}")
            raise BadInput(f"unsupported URI scheme {scheme!r} in {text!r}: use sip: or sips:")
        else:
            scheme, rest = "sip", raw
        rest = rest.split("?", 1)[0]  # headers play no part in locating the server
        try:
            uri = URI.parse(f"{scheme}:{rest}")
        except ValueError:
            _diagnose(rest, text)  # raises BadInput naming the problem
            raise BadInput(f"{text!r} is not a valid SIP URI (RFC 3261 §25)") from None
        host = _normalise_host(uri.host.strip("[]"), text)
        if uri.port is not None and not 0 < uri.port < 65536:
            raise BadInput(f"port {uri.port} out of range 1-65535 in {text!r}")
        params = {k.lower(): v for k, v in uri.parameters.items()}
        transport_text = params.get("transport")
        transport = Transport.parse(transport_text) if transport_text else None
        maddr = params.get("maddr")
        if maddr is not None:
            maddr = _normalise_host(maddr.strip("[]"), text)
        if scheme == "sips" and transport is not None and not transport.secure:
            # RFC 3261 §26.2.2: sips with transport=tcp means TLS over TCP.
            transport = Transport.TLS if transport == Transport.TCP else transport
            if not transport.secure:
                raise BadInput(f"sips: URI cannot use insecure transport {transport} in {text!r}")
        return cls(scheme, host, uri.user, uri.port, transport, maddr, text.strip(), uri)

    def __str__(self) -> str:
        return self.text or f"{self.scheme}:{self.host}"


SipTarget = SipUri  # the earlier name, kept while callers move to SipUri


def _diagnose(rest: str, text: str) -> None:
    """Raise BadInput saying what is wrong with a URI sipmessage refused (best effort)."""
    userinfo, at, hostpart = rest.rpartition("@")
    if at and not userinfo:
        raise BadInput(f"empty user part in {text!r}")
    hostport, *params = hostpart.split(";")
    _split_hostport(hostport, text)
    for param in params:
        name, _, value = param.partition("=")
        if name.lower() in ("transport", "maddr") and not value:
            raise BadInput(f"empty {name.lower()}= parameter in {text!r}")
        if name.lower() == "transport":
            Transport.parse(value)


def _is_number(text: str) -> bool:
    """ASCII digits only: '²' and '٣' are digits to ``str.isdigit`` but no port to ``int``."""
    return text.isascii() and text.isdigit()


def is_ip(host: str) -> bool:
    """True if ``host`` is an IPv4 or IPv6 literal (without brackets)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _split_hostport(hostport: str, text: str) -> tuple[str, int | None]:
    if not hostport:
        raise BadInput(f"missing host in {text!r}")
    port_text: str | None = None
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise BadInput(f"unterminated IPv6 literal in {text!r}")
        host = hostport[1:end]
        tail = hostport[end + 1 :]
        if tail:
            if not tail.startswith(":"):
                raise BadInput(f"unexpected {tail!r} after IPv6 literal in {text!r}")
            port_text = tail[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise BadInput(f"invalid IPv6 literal [{host}] in {text!r}") from None
    else:
        if hostport.count(":") > 1:
            raise BadInput(f"IPv6 literal must be in brackets, e.g. sip:[{hostport}], in {text!r}")
        host, sep, port_text_raw = hostport.partition(":")
        port_text = port_text_raw if sep else None
    port: int | None = None
    if port_text is not None:
        if not _is_number(port_text):
            raise BadInput(f"invalid port {port_text!r} in {text!r}")
        port = int(port_text)
        if not 0 < port < 65536:
            raise BadInput(f"port {port} out of range 1-65535 in {text!r}")
    return _normalise_host(host, text), port


def _normalise_host(host: str, text: str) -> str:
    if is_ip(host):
        return str(ipaddress.ip_address(host))
    name = host.lower().removesuffix(".")  # one trailing dot: the root; two: an empty label
    if not name:
        raise BadInput(f"missing host in {text!r}")
    if len(name) > 253:
        raise BadInput(f"host name longer than 253 characters in {text!r}")
    for label in name.split("."):
        if not label:
            raise BadInput(f"empty label in host {host!r} in {text!r}")
        if len(label) > 63:
            raise BadInput(f"label {label[:20]!r}... longer than 63 characters in {text!r}")
        if not all(c.isalnum() or c in "-_" for c in label):
            raise BadInput(f"invalid character in host {host!r} in {text!r}")
        if label.startswith("-") or label.endswith("-"):
            raise BadInput(f"label {label!r} starts or ends with '-' in {text!r}")
    if name.replace(".", "").isdigit():
        raise BadInput(f"invalid IPv4 address {host!r} in {text!r}")
    return name

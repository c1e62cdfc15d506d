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
    #: Its ``transport=`` value; a secure one goes in a sips: URI (RFC 3261 §26.2.2: sips +
    #: tcp is TLS; RFC 4168: sips + sctp; RFC 7118: sips + ws is WSS).
    uri_param: str


TRANSPORTS: dict[Transport, TransportInfo] = {
    info.transport: info
    for info in (
        TransportInfo(Transport.UDP, "SIP+D2U", "_sip._udp", 5060, False, "udp"),
        TransportInfo(Transport.TCP, "SIP+D2T", "_sip._tcp", 5060, False, "tcp"),
        TransportInfo(Transport.TLS, "SIPS+D2T", "_sips._tcp", 5061, True, "tcp"),
        TransportInfo(Transport.SCTP, "SIP+D2S", "_sip._sctp", 5060, False, "sctp"),
        TransportInfo(Transport.TLS_SCTP, "SIPS+D2S", "_sips._sctp", 5061, True, "sctp"),
        TransportInfo(Transport.WS, "SIP+D2W", "_sip._ws", 80, False, "ws"),
        TransportInfo(Transport.WSS, "SIPS+D2W", "_sips._ws", 443, True, "ws"),
    )
}

#: NAPTR service field (upper-cased) -> transport.
SERVICE_TRANSPORT: dict[str, Transport] = {info.naptr_service: t for t, info in TRANSPORTS.items()}

#: SRV owner prefix -> transport.
SRV_PREFIX_TRANSPORT: dict[str, Transport] = {info.srv_prefix: t for t, info in TRANSPORTS.items()}

#: ``transport=`` value of a sips: URI -> the secure transport it means (tcp -> TLS, ...).
SIPS_PARAM_TRANSPORT: dict[str, Transport] = {
    info.uri_param: t for t, info in TRANSPORTS.items() if info.secure
}

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

    @property
    def uri(self) -> str:
        """This target as a URI to hand another SIP stack: ``sip:ADDRESS:PORT;transport=udp``;
        ``sips:`` for the secure transports (TLS is ``sips:...;transport=tcp``)."""
        info = self.transport.info
        return f"{'sips' if info.secure else 'sip'}:{self.hostport};transport={info.uri_param}"

    def __str__(self) -> str:
        """``udp 192.0.2.10:5060 (sip1.example.com)``: transport, where to send, the name."""
        name = f" ({self.host})" if self.host != self.address else ""
        return f"{self.transport.value} {self.hostport}{name}"


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
    #: How the input was read when it was rewritten (A-labels, an SRV owner name), else "".
    note: str = field(default="", compare=False)

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
        srv = _srv_owner(rest, text)
        if srv is not None:
            return srv
        ascii_rest = _with_a_labels(rest, text)
        try:
            uri = URI.parse(f"{scheme}:{ascii_rest}")
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
            # RFC 3261 §26.2.2 (and RFC 4168, RFC 7118): sips with transport=tcp means TLS
            # over TCP; sctp and ws their secure forms.
            secure = SIPS_PARAM_TRANSPORT.get(transport.info.uri_param)
            if secure is None:
                raise BadInput(f"sips: URI cannot use insecure transport {transport} in {text!r}")
            transport = secure
        note = f"A-label {host}" if ascii_rest != rest else ""
        return cls(scheme, host, uri.user, uri.port, transport, maddr, text.strip(), uri, note)

    @property
    def canonical(self) -> str:
        """The URI as siplocate reads it: A-labels, only what RFC 3263 looks at."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        text = f"{self.scheme}:" + (f"{self.user}@" if self.user else "") + host
        text += f":{self.port}" if self.port is not None else ""
        text += f";transport={self.transport.info.uri_param}" if self.transport else ""
        return text + (f";maddr={self.maddr}" if self.maddr else "")

    @property
    def shown(self) -> str:
        """The input as given, and beside it how it was read when that differs."""
        return f"{self} ({self.note})" if self.note else str(self)

    def __str__(self) -> str:
        return self.text or f"{self.scheme}:{self.host}"


SipTarget = SipUri  # the earlier name, kept while callers move to SipUri


def to_a_label(name: str, where: str = "") -> str:
    """A domain as DNS asks it: U-labels to A-labels (IDNA 2008 with the UTS #46 mapping, so
    ``Bücher。test`` is ``xn--bcher-kva.test``); ASCII names are returned unchanged (labels
    such as ``_sip`` stay). BadInput (``where``: e.g. " in 'sip:...'") when one cannot be."""
    if name.isascii():
        return name
    import idna

    try:
        mapped = idna.uts46_remap(name, std3_rules=False, transitional=False)
        labels = [
            label if label.isascii() else idna.alabel(label).decode("ascii")
            for label in mapped.split(".")
        ]
    except (idna.IDNAError, UnicodeError) as exc:
        raise BadInput(f"{name!r}{where} is not a valid internationalised name: {exc}") from None
    return ".".join(labels)


def _with_a_labels(rest: str, text: str) -> str:
    """The URI text after the scheme with its host and maddr in A-labels."""
    if rest.isascii():
        return rest
    userinfo, at, hostpart = rest.rpartition("@")
    hostport, *params = hostpart.split(";")
    if not hostport.startswith("["):
        host, colon, port = hostport.partition(":")
        hostport = to_a_label(host, f" in {text!r}") + colon + port
    for i, param in enumerate(params):
        name, eq, value = param.partition("=")
        if name.lower() == "maddr":
            params[i] = name + eq + to_a_label(value, f" in {text!r}")
    return userinfo + at + ";".join([hostport, *params])


def _srv_owner(rest: str, text: str) -> SipUri | None:
    """``_sip._udp.example.com``: an SRV owner name read as the URI that leads to it (RFC 3263
    §4.2: ``sip:example.com;transport=udp`` asks exactly that SRV name); None otherwise."""
    labels = rest.split(".")
    if len(labels) < 3 or not all(p.startswith("_") for p in labels[:2]):
        return None
    prefix = ".".join(labels[:2]).lower()
    transport = SRV_PREFIX_TRANSPORT.get(prefix)
    if transport is None:
        known = ", ".join(SRV_PREFIX_TRANSPORT)
        raise BadInput(f"{prefix} in {text!r} is not a SIP SRV service (known: {known})")
    if any(c in rest for c in "@:;[]"):
        raise BadInput(f"{text!r}: an SRV owner name is a bare name, without user, port or params")
    domain = ".".join(labels[2:])
    host = _normalise_host(to_a_label(domain, f" in {text!r}"), text)
    info = transport.info
    scheme = "sips" if info.secure else "sip"
    canonical = f"{scheme}:{host};transport={info.uri_param}"
    note = f"SRV owner name: read as {canonical}, RFC 3263 §4.2"
    return SipUri(
        scheme, host, None, None, transport, None, text.strip(), URI.parse(canonical), note
    )


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

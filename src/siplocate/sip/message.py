"""Building, parsing and framing SIP messages on top of sipmessage (RFC 3261 §7, §8.1, §18.3).

Pure functions: no sockets, no clocks. Identifiers (branch, tag, Call-ID) come from
``secrets`` so they are unique across clients and restarts.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sipmessage import URI, Address, CSeq, Headers, Message, Request, Response, Via

from ..target import Transport

#: RFC 3261 §8.1.1.7: every branch a compliant client creates starts with this cookie.
MAGIC_COOKIE = "z9hG4bK"
USER_AGENT = "siplocate"
MAX_MESSAGE = 65535  # largest message we accept on a stream before giving up on the peer


class MessageError(ValueError):
    """Bytes that are not a SIP message we can use."""


def new_branch() -> str:
    return MAGIC_COOKIE + secrets.token_hex(8)


def new_tag() -> str:
    return secrets.token_hex(6)


def new_call_id() -> str:
    return secrets.token_hex(12)


def via_transport(transport: Transport) -> str:
    """The Via sent-protocol transport token (RFC 3261 §18.1.1 / §20.42)."""
    return transport.value.upper()


@dataclass
class RequestSpec:
    """Everything the core needs to build one request; the transport fills in Via/Contact.

    Kept separate from the wire message so the same request can be re-issued to another
    target (a new transaction with a new branch) during failover.
    """

    method: str
    uri: URI
    from_addr: Address
    to_addr: Address
    call_id: str
    cseq: int
    contact_user: str | None = None
    contact_params: str = ""  # after the Contact's <URI>, e.g. RFC 5626 reg-id and instance
    expires: int | None = None
    route: list[Address] = field(default_factory=list)
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str | None = None


def build_request(
    spec: RequestSpec,
    *,
    transport: Transport,
    local: tuple[str, int],
    branch: str | None = None,
) -> Request:
    """The wire request for ``spec`` sent over ``transport`` from ``local`` (RFC 3261 §8.1.1)."""
    req = Request(spec.method, spec.uri, spec.body)
    host, port = local
    vhost = f"[{host}]" if ":" in host else host
    req.headers.add(
        "Via",
        f"SIP/2.0/{via_transport(transport)} {vhost}:{port};branch={branch or new_branch()};rport",
    )
    req.headers.add("Max-Forwards", "70")
    req.headers.add("From", str(spec.from_addr))
    req.headers.add("To", str(spec.to_addr))
    req.headers.add("Call-ID", spec.call_id)
    req.headers.add("CSeq", f"{spec.cseq} {spec.method}")
    for route in spec.route:
        req.headers.add("Route", str(route))
    if spec.contact_user is not None:
        params = "" if transport == Transport.UDP else f";transport={transport.value}"
        req.headers.add(
            "Contact", f"<sip:{spec.contact_user}@{vhost}:{port}{params}>{spec.contact_params}"
        )
    if spec.expires is not None:
        req.headers.add("Expires", str(spec.expires))
    for name, value in spec.headers:
        req.headers.add(name, value)
    req.headers.add("User-Agent", USER_AGENT)
    if spec.content_type is not None:
        req.headers.add("Content-Type", spec.content_type)
    req.headers.add("Content-Length", str(len(spec.body)))
    return req


def branch_of(message: Message) -> str | None:
    """The branch parameter of the top Via: the key that matches a response to its transaction."""
    value = message.headers.get("Via")
    if value is None:
        return None
    try:
        via = Via.parse_many(value)[0]
    except (ValueError, IndexError):
        return None
    branch = via.parameters.get("branch")
    return branch if isinstance(branch, str) else None


def cseq_method(message: Message) -> str | None:
    try:
        return message.cseq.method
    except (KeyError, ValueError):
        return None


def build_ack(request: Request, response: Response) -> Request:
    """ACK for a non-2xx final response to INVITE (RFC 3261 §17.1.1.3): same branch and hop."""
    return _same_hop(request, "ACK", to=response.headers["To"])


def build_cancel(request: Request) -> Request:
    """CANCEL for a pending INVITE (RFC 3261 §9.1): same Request-URI, Via, Call-ID, CSeq number."""
    return _same_hop(request, "CANCEL", to=request.headers["To"])


def _same_hop(request: Request, method: str, to: str) -> Request:
    """A request that travels exactly like ``request`` (top Via, routes, CSeq number)."""
    hop = Request(method, request.uri)
    hop.headers.add("Via", request.headers.getlist("Via")[0])
    hop.headers.add("Max-Forwards", "70")
    hop.headers.add("From", request.headers["From"])
    hop.headers.add("To", to)
    hop.headers.add("Call-ID", request.headers["Call-ID"])
    hop.headers.add("CSeq", f"{request.cseq.sequence} {method}")
    for route in request.headers.getlist("Route"):
        hop.headers.add("Route", route)
    hop.headers.add("Content-Length", "0")
    return hop


def parse_message(data: bytes, *, datagram: bool = False) -> Request | Response:
    """Parse one datagram or framed stream message; MessageError naming the problem.

    A response's status code must be three digits from 100 to 699 (RFC 3261 §7.2,
    §21). For a ``datagram`` the Content-Length, when present, must fit what arrived:
    longer bodies are cut to it, shorter ones discard the message (§18.3).
    """
    if datagram:
        data = _datagram_body(data)
    if data.startswith(b"SIP/2.0 "):
        code = data[8:12]
        if not (code[:3].isdigit() and code[:1] in b"123456" and code[3:4] in (b" ", b"")):
            raise MessageError(f"bad status code {bytes(code[:3])!r}")
    try:
        msg = Message.parse(data)
        for name in ("Via", "CSeq", "Call-ID", "From", "To"):
            if msg.headers.get(name) is None:
                raise MessageError(f"SIP message without {name} header")
        CSeq.parse(msg.headers["CSeq"])
    except (ValueError, UnicodeDecodeError, KeyError) as exc:
        raise MessageError(f"unparseable SIP message: {exc}") from None
    return msg


def _datagram_body(data: bytes) -> bytes:
    """RFC 3261 §18.3 for UDP: honour Content-Length against the bytes that arrived."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        raise MessageError("SIP message without an empty line after the headers")
    try:
        length = _content_length(data[:end])
    except MessageError as exc:
        if "without Content-Length" in str(exc):
            return data  # optional on UDP: the body is the rest of the datagram
        raise
    body = len(data) - (end + 4)
    if length > body:
        raise MessageError(f"Content-Length {length} but only {body} body bytes arrived")
    return data[: end + 4 + length]


def loose_key(data: bytes) -> tuple[str, str] | None:
    """(top Via branch, CSeq method) read leniently from bytes that failed to parse, so an
    unusable response can still fail the transaction it answers; None if not found."""
    head = data.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    branch = method = None
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name in ("via", "v") and branch is None:
            for param in value.split(",")[0].split(";")[1:]:
                k, _, v = param.partition("=")
                if k.strip().lower() == "branch":
                    branch = v.strip()
        elif name == "cseq" and method is None:
            parts = value.split()
            method = parts[1] if len(parts) == 2 else None
    return (branch, method) if branch and method else None


def _ascii_int(text: str) -> int | None:
    """A delta-seconds value (RFC 3261 §25.1: ASCII digits, below 2**32), else None: "²" and
    "٣" are digits to ``str.isdigit`` and a 400-digit number is no lifetime."""
    text = text.strip()
    if not (text and text.isascii() and text.isdigit() and len(text) <= 10):
        return None
    value = int(text)
    return value if value < 2**32 else None


def retry_after(response: Response) -> float | None:
    """Seconds from a Retry-After header (RFC 3261 §20.33), ignoring comments and params."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    seconds = _ascii_int(value.split(";")[0].split("(")[0])
    return float(seconds) if seconds is not None else None


def header_expires(
    response: Response, contact_user: str | None = None, reg_id: int | None = None
) -> int | None:
    """Granted registration lifetime: our Contact's ``expires`` param, else the Expires header.
    With ``reg_id`` (RFC 5626: one binding per flow) only the Contact of that flow counts."""
    for value in response.headers.getlist("Contact"):
        try:
            contacts = Address.parse_many(value)
        except (ValueError, IndexError, KeyError):
            continue
        for contact in contacts:
            exp = contact.parameters.get("expires")
            seconds = _ascii_int(exp) if isinstance(exp, str) else None
            if seconds is None or (contact_user is not None and contact.uri.user != contact_user):
                continue
            if reg_id is None or contact.parameters.get("reg-id") == str(reg_id):
                return seconds
    header = response.headers.get("Expires")
    return _ascii_int(header) if header is not None else None


class StreamFramer:
    """Split a TCP/TLS byte stream into SIP messages using Content-Length (RFC 3261 §18.3)."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self.crlfs = 0  # CRLFs seen between messages: RFC 5626 pongs (and pings)

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out: list[bytes] = []
        while True:
            # RFC 5626 keep-alives and stray CRLFs between messages are counted and skipped.
            while self._buf[:2] == b"\r\n":
                del self._buf[:2]
                self.crlfs += 1
            end = self._buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buf) > MAX_MESSAGE:
                    raise MessageError("stream message header too large")
                return out
            length = _content_length(bytes(self._buf[:end]))
            total = end + 4 + length
            if total > MAX_MESSAGE:
                raise MessageError("stream message too large")
            if len(self._buf) < total:
                return out
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            text = value.strip()
            if not text.isdigit() or len(text) > 9:
                raise MessageError(f"bad Content-Length {text!r}")
            return int(text)
    raise MessageError("stream message without Content-Length")


__all__ = [
    "URI",
    "Address",
    "Headers",
    "MessageError",
    "Request",
    "RequestSpec",
    "Response",
    "StreamFramer",
    "branch_of",
    "build_ack",
    "build_cancel",
    "build_request",
    "header_expires",
    "loose_key",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "retry_after",
]

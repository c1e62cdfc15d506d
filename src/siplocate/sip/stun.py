"""The few lines of STUN (RFC 5389) that RFC 5626 §4.4.2 needs: a Binding request sent on a
UDP flow as its keep-alive, and the mapped address read from the answer (a change of it
means the NAT binding changed, so the flow failed). Pure functions: no sockets."""

from __future__ import annotations

import ipaddress
import secrets
import struct

MAGIC_COOKIE = 0x2112A442
BINDING_REQUEST = 0x0001
BINDING_SUCCESS = 0x0101
MAPPED_ADDRESS = 0x0001
XOR_MAPPED_ADDRESS = 0x0020
HEADER = struct.Struct("!HHI12s")


def binding_request() -> tuple[bytes, bytes]:
    """A Binding request without attributes, and its transaction ID."""
    tid = secrets.token_bytes(12)
    return HEADER.pack(BINDING_REQUEST, 0, MAGIC_COOKIE, tid), tid


def is_stun(data: bytes) -> bool:
    """STUN and SIP share the socket (RFC 5626 §4.4.2): STUN starts with two zero bits and
    carries the magic cookie; a SIP message starts with a letter."""
    return len(data) >= HEADER.size and data[0] < 0x40 and data[4:8] == b"\x21\x12\xa4\x42"


def transaction_id(data: bytes) -> bytes | None:
    return data[8:20] if is_stun(data) else None


def mapped_address(data: bytes) -> tuple[str, int] | None:
    """The (XOR-)MAPPED-ADDRESS of a Binding success response, or None if it has none or
    is malformed (bounded by the message's own length field)."""
    if not is_stun(data):
        return None
    kind, length, _, tid = HEADER.unpack_from(data)
    if kind != BINDING_SUCCESS or HEADER.size + length > len(data):
        return None
    end = HEADER.size + length
    at = HEADER.size
    plain: tuple[str, int] | None = None
    while at + 4 <= end:
        attr, size = struct.unpack_from("!HH", data, at)
        value = data[at + 4 : at + 4 + size]
        at += 4 + size + (-size % 4)  # attributes are padded to 4 bytes
        if len(value) < size or attr not in (XOR_MAPPED_ADDRESS, MAPPED_ADDRESS) or size < 8:
            continue
        family, port = value[1], struct.unpack_from("!H", value, 2)[0]
        raw = value[4:]
        if attr == XOR_MAPPED_ADDRESS:
            port ^= MAGIC_COOKIE >> 16
            key = struct.pack("!I", MAGIC_COOKIE) + tid
            raw = bytes(b ^ k for b, k in zip(raw, key, strict=False))
        if family == 1 and len(raw) >= 4:
            address = str(ipaddress.IPv4Address(raw[:4]))
        elif family == 2 and len(raw) >= 16:
            address = str(ipaddress.IPv6Address(raw[:16]))
        else:
            continue
        if attr == XOR_MAPPED_ADDRESS:
            return address, port
        plain = (address, port)
    return plain

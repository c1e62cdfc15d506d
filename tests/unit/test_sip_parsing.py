"""Hostile responses: malformed headers are ignored, malformed messages are rejected with a
reason (RFC 3261 §7.2 status codes, §18.3 Content-Length on UDP), never a crash."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sipmessage import Response

from siplocate.sip.message import (
    MessageError,
    header_expires,
    loose_key,
    parse_message,
    retry_after,
)

HEAD = (
    "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKabc;rport\r\n"
    "From: <sip:alice@client.test>;tag=1\r\nTo: <sip:alice@client.test>;tag=2\r\n"
    "Call-ID: cid\r\nCSeq: 2 REGISTER\r\n"
)


def raw(status: str = "200 OK", extra: str = "", body: str = "") -> bytes:
    return f"SIP/2.0 {status}\r\n{HEAD}{extra}\r\n{body}".encode()


def with_header(name: str, value: str) -> Response:
    r = Response(code=200, phrase="OK")
    r.headers.add(name, value)
    return r


@pytest.mark.parametrize("value", ["²", "٣", "1²", "-5", "1.5", "", " ", "9" * 400])
def test_malformed_retry_after_and_expires_are_ignored(value: str) -> None:
    assert retry_after(with_header("Retry-After", value)) is None
    assert header_expires(with_header("Expires", value)) is None


def test_unicode_digits_are_not_numbers() -> None:
    assert retry_after(with_header("Retry-After", "²")) is None
    assert header_expires(with_header("Expires", "²")) is None
    assert header_expires(with_header("Contact", "<sip:alice@h>;expires=²")) is None
    assert header_expires(with_header("Contact", "<<<garbage")) is None
    assert retry_after(with_header("Retry-After", "120 (in a while);duration=60")) == 120.0
    assert header_expires(with_header("Expires", " 60 ")) == 60


@pytest.mark.parametrize("status", ["099 Odd", "700 Odd", "000 Zero", "2000 OK", "20 OK", "²00 OK"])
def test_status_codes_outside_100_699_are_malformed(status: str) -> None:
    with pytest.raises(MessageError, match="status code"):
        parse_message(raw(status))


def test_status_codes_at_the_edges_parse() -> None:
    assert parse_message(raw("100 Trying")).code == 100  # type: ignore[union-attr]
    assert parse_message(raw("699 Custom")).code == 699  # type: ignore[union-attr]


@pytest.mark.parametrize("length", ["99999", "-5", "abc", "²", "1" * 12])
def test_udp_content_length_must_fit_the_datagram(length: str) -> None:
    data = raw(extra=f"Content-Length: {length}\r\n", body="hello")
    with pytest.raises(MessageError):
        parse_message(data, datagram=True)


def test_udp_body_is_cut_to_content_length_and_length_is_optional() -> None:
    msg = parse_message(raw(extra="Content-Length: 2\r\n", body="hello"), datagram=True)
    assert msg.body == b"he"
    assert parse_message(raw(body="hello"), datagram=True).body == b"hello"
    assert parse_message(raw(extra="l: 5\r\n", body="hello"), datagram=True).body == b"hello"
    with pytest.raises(MessageError, match="empty line"):
        parse_message(b"SIP/2.0 200 OK\r\nVia: x", datagram=True)


def test_loose_key_finds_the_transaction_of_an_unparseable_response() -> None:
    assert loose_key(raw("099 Odd")) == ("z9hG4bKabc", "REGISTER")
    assert loose_key(b"garbage") is None
    assert loose_key(b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;rport\r\nCSeq: 1 X\r\n\r\n") is None


@given(st.binary(max_size=600), st.booleans())
def test_any_bytes_parse_or_raise_message_error(data: bytes, datagram: bool) -> None:
    try:
        msg = parse_message(data, datagram=datagram)
    except MessageError as exc:
        assert str(exc)  # says what is wrong
        return
    assert msg.headers.get("CSeq") is not None


HEADER = st.sampled_from(
    ["Retry-After", "Expires", "Contact", "Content-Length", "CSeq", "Via", "To", "l", "v"]
)


@given(
    st.lists(
        st.tuples(HEADER, st.text(max_size=30).filter(lambda t: "\r" not in t and "\n" not in t)),
        max_size=6,
    ),
    st.integers(0, 999),
    st.booleans(),
)
def test_hostile_headers_are_rejected_or_ignored_never_raised(
    headers: list[tuple[str, str]], code: int, datagram: bool
) -> None:
    extra = "".join(f"{name}: {value}\r\n" for name, value in headers)
    try:
        msg = parse_message(raw(f"{code:03d} X", extra), datagram=datagram)
    except MessageError:
        return
    assert isinstance(msg, Response) and 100 <= msg.code <= 699
    seconds = retry_after(msg)
    assert seconds is None or 0 <= seconds < 2**32
    lifetime = header_expires(msg, "alice")
    assert lifetime is None or 0 <= lifetime < 2**32
    loose_key(bytes(msg))

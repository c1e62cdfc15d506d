"""Building and framing SIP messages: what goes on the wire and how streams are split."""

from __future__ import annotations

import itertools

from hypothesis import given
from hypothesis import strategies as st
from sipmessage import URI, Address, Response

from siplocate.sip.message import (
    MAGIC_COOKIE,
    MessageError,
    RequestSpec,
    StreamFramer,
    branch_of,
    build_cancel,
    build_request,
    header_expires,
    parse_message,
    retry_after,
)
from siplocate.target import Transport


def spec() -> RequestSpec:
    return RequestSpec(
        method="REGISTER",
        uri=URI.parse("sip:example.test"),
        from_addr=Address.parse("<sip:alice@example.test>;tag=1"),
        to_addr=Address.parse("<sip:alice@example.test>"),
        call_id="cid",
        cseq=3,
        contact_user="alice",
        expires=60,
    )


def test_build_request_over_tcp_has_via_contact_and_length() -> None:
    req = build_request(spec(), transport=Transport.TCP, local=("127.0.0.1", 40000))
    via = req.headers["Via"]
    assert via.startswith("SIP/2.0/TCP 127.0.0.1:40000;branch=" + MAGIC_COOKIE)
    assert via.endswith(";rport")
    assert req.headers["Contact"] == "<sip:alice@127.0.0.1:40000;transport=tcp>"
    assert req.headers["CSeq"] == "3 REGISTER" and req.headers["Expires"] == "60"
    wire = bytes(req)
    assert wire.startswith(b"REGISTER sip:example.test SIP/2.0\r\n")
    assert wire.endswith(b"Content-Length: 0\r\n\r\n")
    again = parse_message(wire)
    assert branch_of(again) == branch_of(req)


def test_every_request_gets_a_fresh_branch_and_ipv6_is_bracketed() -> None:
    a = build_request(spec(), transport=Transport.UDP, local=("::1", 5060))
    b = build_request(spec(), transport=Transport.UDP, local=("::1", 5060))
    assert branch_of(a) != branch_of(b)
    assert "SIP/2.0/UDP [::1]:5060" in a.headers["Via"]
    assert a.headers["Contact"] == "<sip:alice@[::1]:5060>"


def test_cancel_matches_the_invite_hop() -> None:
    s = spec()
    s.method = "INVITE"
    invite = build_request(s, transport=Transport.UDP, local=("127.0.0.1", 1))
    cancel = build_cancel(invite)
    assert branch_of(cancel) == branch_of(invite)
    assert cancel.headers["CSeq"] == "3 CANCEL" and cancel.uri == invite.uri


def test_retry_after_and_expires() -> None:
    r = Response(503, "Service Unavailable")
    assert retry_after(r) is None
    r.headers.add("Retry-After", "18000;duration=3600 (maintenance)")
    assert retry_after(r) == 18000
    ok = Response(200, "OK")
    ok.headers.add("Contact", "<sip:bob@10.0.0.1>;expires=30, <sip:alice@10.0.0.2>;expires=45")
    ok.headers.add("Expires", "99")
    assert header_expires(ok, "alice") == 45
    assert header_expires(ok, "carol") == 99


def test_parse_rejects_garbage() -> None:
    for data in (b"hello", b"SIP/2.0 200 OK\r\n\r\n", b"\xff\xfe\r\n\r\n"):
        try:
            parse_message(data)
        except MessageError:
            continue
        raise AssertionError(f"accepted {data!r}")


MSG = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bKx\r\nContent-Length: 5\r\n\r\nhello"


@given(cuts=st.lists(st.integers(0, 3 * len(MSG) + 4), max_size=6))
def test_framer_reassembles_messages_however_the_stream_is_cut(cuts: list[int]) -> None:
    stream = MSG + b"\r\n\r\n" + MSG + MSG  # with a double-CRLF keep-alive in between
    points = sorted({0, len(stream), *(c for c in cuts if c <= len(stream))})
    framer = StreamFramer()
    out: list[bytes] = []
    for a, b in itertools.pairwise(points):
        out += framer.feed(stream[a:b])
    assert out == [MSG, MSG, MSG]


def test_framer_refuses_a_stream_without_content_length() -> None:
    framer = StreamFramer()
    try:
        framer.feed(b"SIP/2.0 200 OK\r\nVia: x\r\n\r\n")
    except MessageError as exc:
        assert "Content-Length" in str(exc)
    else:
        raise AssertionError("no error")

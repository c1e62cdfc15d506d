"""Client configuration that needs no server: static targets, durations, passwords, options."""

from __future__ import annotations

from pathlib import Path

import pytest

from siplocate.cli.client import parse_duration, read_password
from siplocate.client import SipClient
from siplocate.client.failover import Policy
from siplocate.errors import BadInput
from siplocate.resolver.rules import static_target
from siplocate.target import Transport, Via


def test_static_targets_are_ip_literals_with_default_ports() -> None:
    t = static_target("192.0.2.1", Transport.UDP)
    assert (t.transport, t.address, t.port, t.via) == (
        Transport.UDP,
        "192.0.2.1",
        5060,
        Via.LITERAL,
    )
    t = static_target("[2001:db8::1]:5070;transport=tls", Transport.UDP)
    assert (t.transport, t.address, t.port) == (Transport.TLS, "2001:db8::1", 5070)
    assert static_target("192.0.2.1;transport=tls", Transport.UDP).port == 5061
    with pytest.raises(BadInput, match="must be an IP address"):
        static_target("pbx.example.com", Transport.UDP)


async def test_static_client_resolves_without_dns() -> None:
    client = SipClient("sip:alice@example.com", static=["192.0.2.1", "192.0.2.2:5080"])
    assert client.policy is Policy.STATIC
    targets, expires = await client.targets()
    assert [t.hostport for t in targets] == ["192.0.2.1:5060", "192.0.2.2:5080"]
    assert expires is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"policy": "static"}, "at least one server address"),
        ({"transports": "udp,sctp", "static": ["192.0.2.1"]}, "udp, tcp and tls only"),
        ({"failover_after": 0, "static": ["192.0.2.1"]}, "positive"),
        ({"policy": "nearest"}, "unknown policy"),
    ],
)
def test_bad_client_options_are_bad_input(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(BadInput, match=message):
        SipClient("sip:alice@example.com", **kwargs)  # type: ignore[arg-type]


async def test_register_needs_a_user_part() -> None:
    client = SipClient("example.com", static=["192.0.2.1"])
    with pytest.raises(BadInput, match="user part"):
        await client.register(60)


@pytest.mark.parametrize(
    ("text", "seconds"), [("2s", 2.0), ("500ms", 0.5), ("1.5", 1.5), (" 3S ", 3.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--x") == seconds


@pytest.mark.parametrize("text", ["", "soon", "0", "-1s", "nan", "inf"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(BadInput, match="--x"):
        parse_duration(text, "--x")


def test_password_file(tmp_path: Path) -> None:
    p = tmp_path / "pw"
    p.write_text("s3cret with spaces\nignored\n")
    assert read_password(p) == "s3cret with spaces"
    p.write_text("")
    with pytest.raises(BadInput, match="empty"):
        read_password(p)
    with pytest.raises(BadInput, match="No such file"):
        read_password(tmp_path / "missing")
    assert read_password(None) is None


def test_unusable_ca_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="CA file"):
        SipClient("sip:a@example.com", static=["192.0.2.1"], ca_file=tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    with pytest.raises(BadInput, match="CA file"):
        SipClient("sip:a@example.com", static=["192.0.2.1"], ca_file=junk)


def test_password_file_mode_warning_comes_from_the_key_files_rule(tmp_path: Path) -> None:
    from siplocate.localfile import exposed

    pw = tmp_path / "pw"
    pw.write_text("secret\n")
    pw.chmod(0o600)
    assert exposed(pw, "password file", "x") is None
    for mode in (0o640, 0o604, 0o620):
        pw.chmod(mode)
        warning = exposed(pw, "password file", "anyone who reads it can register as you")
        assert warning is not None and f"(mode {mode:o})" in warning
        assert warning.endswith(f"; chmod 600 {pw}")
    assert read_password(pw) == "secret"  # a warning, not a refusal


def test_realms_default_to_any_and_an_empty_realm_is_bad_input() -> None:
    assert SipClient("sip:alice@client.test", static=["127.0.0.2"]).realms == frozenset({"*"})
    c = SipClient("sip:alice@client.test", static=["127.0.0.2"], realms=["a.test", "b.test"])
    assert c.realms == frozenset({"a.test", "b.test"})
    with pytest.raises(BadInput, match="cannot be empty"):
        SipClient("sip:alice@client.test", static=["127.0.0.2"], realms=[""])


def test_verbose_shows_time_direction_peer_and_never_raw_control_bytes() -> None:
    from siplocate.cli.client import wire_text
    from siplocate.sip.transport import Connection
    from siplocate.target import Target

    conn = Connection(Target(Transport.UDP, "h", 5060, "2001:db8::2"), print, print)
    conn.local = ("2001:db8::1", 40000)
    hostile = b"SIP/2.0 200 OK\r\nServer: \x1b]0;owned\x07\x9b2J\xff\r\n\r\n"
    text = wire_text("received", hostile, conn, 0.25)
    head, *lines = text.split("\n")
    assert head.endswith(
        f"received {len(hostile)} bytes from udp [2001:db8::2]:5060 (local [2001:db8::1]:40000)"
    )
    assert head.split()[0].endswith(".250")
    assert lines[:2] == ["SIP/2.0 200 OK", "Server: \\x1b]0;owned\\x07\\x9b2J\\xff"]
    assert not any(ord(c) < 32 and c != "\n" for c in text)
    assert "(CRLF keep-alive)" in wire_text("sent", b"\r\n\r\n", conn, 0.0)

"""Client configuration that needs no server: static targets, durations, passwords, options."""

from __future__ import annotations

from pathlib import Path

import pytest

from siplocate.cli.client import parse_duration, read_password
from siplocate.client import SipClient, static_target
from siplocate.errors import BadInput
from siplocate.failover import Policy
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

"""A hostile primary (a scripted UDP responder) in front of a real Kamailio backup: a
malformed answer fails that target, and the good backup takes the registration."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.client import SipClient
from siplocate.sip.transaction import Timers
from tests.fixtures.badsip import BadResponder
from tests.fixtures.kamailio import CLIENT_DOMAIN, PASSWORD, ClientDns, Kamailio
from tests.fixtures.servers import require_binary

pytestmark = pytest.mark.integration
AOR = f"sip:alice@{CLIENT_DOMAIN}"


@pytest.fixture(scope="module")
def backup(client_dns: ClientDns) -> Iterator[Kamailio]:
    address, port = client_dns.addresses[1]
    server = Kamailio(address, kamailio=require_binary("kamailio", "kamailio"), port=port)
    server.start()
    yield server
    server.stop()


def bad_primary(dns: ClientDns, status: str, *extra: str, body: str = "") -> BadResponder:
    address, port = dns.addresses[0]
    return BadResponder(address, port, status, list(extra), body).start()


def client(dns: ClientDns, budget: float = 2.0) -> SipClient:
    return SipClient(
        AOR,
        password=PASSWORD,
        resolver=Resolver(nameservers=[dns.nameserver], transports=("udp",)),
        transports=("udp",),
        failover_after=budget,
        timers=Timers(t1=0.1),
    )


@pytest.mark.parametrize(
    ("status", "extra", "body", "first"),
    [
        ("503 Service Unavailable", ["Retry-After: ²"], "", "503"),
        ("099 Odd", [], "", "malformed response: bad status code"),
        ("700 Odd", [], "", "malformed response: bad status code"),
        ("200 OK", ["Content-Length: 99999"], "", "malformed response: Content-Length"),
        ("200 OK", ["Content-Length: -5"], "", "malformed response: bad Content-Length"),
        ("200 OK", ["Content-Length: 2"], "", "malformed response: Content-Length"),
    ],
)
async def test_malformed_primary_answer_fails_over_to_the_backup_at_once(
    client_dns: ClientDns, backup: Kamailio, status: str, extra: list[str], body: str, first: str
) -> None:
    bad = bad_primary(client_dns, status, *extra, body=body)
    try:
        async with client(client_dns) as c:
            outcome = await c.register(60)
    finally:
        bad.stop()
    assert bad.received >= 1
    assert outcome.ok, outcome.describe()
    assert outcome.target is not None and outcome.target.address == backup.address
    a = outcome.attempts[0]
    assert a.target.address == "127.0.0.2"
    assert first in f"{a.status} {a.error}"
    assert a.ms < 1000  # the bad answer failed the target: no waiting for the 2 s budget


@pytest.mark.parametrize(
    "extra",
    [
        ["Expires: ²", "Contact: <sip:alice@127.0.0.1:5060>;expires=²"],
        ["Expires: 99999999999999999999", "Contact: <<<not an address"],
    ],
)
async def test_malformed_lifetime_in_a_200_is_ignored(
    client_dns: ClientDns, backup: Kamailio, extra: list[str]
) -> None:
    bad = bad_primary(client_dns, "200 OK", *extra)
    try:
        async with client(client_dns) as c:
            outcome = await c.register(60)
            assert outcome.ok and outcome.target is not None
            assert outcome.target.address == "127.0.0.2"
            assert c.granted == 60  # what we asked for: the server's value was unreadable
    finally:
        bad.stop()


def test_register_once_json_with_a_bad_retry_after_registers_on_the_backup(
    client_dns: ClientDns, backup: Kamailio, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    bad = bad_primary(client_dns, "503 Service Unavailable", "Retry-After: ²")
    try:
        result = CliRunner().invoke(
            app,
            ["register", AOR, "--password-file", str(pw), "--once", "--json",
             "-n", client_dns.nameserver, "-t", "udp", "--t1", "100ms"],
        )  # fmt: skip
    finally:
        bad.stop()
    assert result.exit_code == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["registered"]["address"] == backup.address
    assert [a["status"] for a in data["attempts"]] == [503, 401, 200]

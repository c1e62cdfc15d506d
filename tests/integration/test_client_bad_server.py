"""A hostile primary (a scripted UDP responder) in front of a real Kamailio backup: a
malformed answer fails that target, and the good backup takes the registration."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.client import Registration, SipClient
from siplocate.client.walker import MAX_STALE
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


def client(dns: ClientDns, budget: float = 2.0, realms: list[str] | None = None) -> SipClient:
    return SipClient(
        AOR,
        realms=realms,
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
    pw.chmod(0o600)
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


# Hostile digest challenges (issue 17) -------------------------------------------------------

STALE = 'WWW-Authenticate: Digest realm="victim.test", nonce="n", qop="auth", stale=true'
ATTACKER = 'WWW-Authenticate: Digest realm="attacker", nonce="00112233", algorithm=MD5'


def register_static(
    bad: BadResponder, tmp_path: Path, *extra: str, mode: int = 0o600
) -> subprocess.CompletedProcess[str]:
    """``register --once`` against the hostile server alone, in a child bounded by a timeout
    (an unbounded loop fails the test instead of hanging it)."""
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(mode)
    return subprocess.run(
        [sys.executable, "-m", "siplocate", "register", "sip:alice@victim.test",
         "--password-file", str(pw), "--once", "--policy", "static",
         "--sip-server", f"{bad.address}:{bad.port}", "-t", "udp", "--t1", "100ms", *extra],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip


def test_register_once_against_a_stale_forever_server_exits_after_a_bounded_number_of_tries(
    client_dns: ClientDns, tmp_path: Path
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", STALE)
    try:
        result = register_static(bad, tmp_path)
    finally:
        bad.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert bad.received == 2 + MAX_STALE  # the first try, the first answer, 3 stale retries
    err = result.stderr.strip()
    assert "\n" not in err and "Traceback" not in err
    assert "authentication failed: the nonce was stale 4 times in a row" in err


async def test_a_stale_forever_primary_fails_and_the_backup_takes_the_registration(
    client_dns: ClientDns, backup: Kamailio
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", STALE)
    try:
        async with client(client_dns) as c:
            outcome = await c.register(60)
    finally:
        bad.stop()
    assert bad.received == 2 + MAX_STALE
    assert outcome.ok and outcome.target is not None
    assert outcome.target.address == backup.address
    noted = [a.error or "" for a in outcome.attempts if a.target.address == bad.address]
    assert "authentication failed" in noted[-1]


async def test_follow_against_a_stale_forever_server_sends_a_bounded_number_per_round(
    client_dns: ClientDns,
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", STALE)
    c = SipClient(
        "sip:alice@victim.test",
        password=PASSWORD,
        static=[f"{bad.address}:{bad.port}"],
        transports=("udp",),
        failover_after=1.0,
        timers=Timers(t1=0.1),
    )
    try:
        async with c:
            reg = Registration(c, expires=60, retry_interval=0.2)
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(1.5, stop.set)
            await asyncio.wait_for(reg.run(stop), 10)
            events = reg.events
    finally:
        bad.stop()
    lost = [e for e in events if e.event == "lost"]
    assert lost and all("authentication failed" in e.detail for e in lost)
    assert bad.received <= (2 + MAX_STALE) * len(lost)


def test_register_does_not_answer_a_challenge_for_a_realm_not_configured(
    client_dns: ClientDns, tmp_path: Path
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", ATTACKER)
    try:
        result = register_static(bad, tmp_path, "--realm", "victim.test")
    finally:
        bad.stop()
    assert result.returncode == 1, result.stdout + result.stderr
    assert bad.received == 1 and bad.authorized == 0  # the password hash never left
    err = result.stderr.strip()
    assert "\n" not in err and "realm 'attacker'" in err and "password not sent" in err


def test_without_realm_any_realm_is_answered_as_before(
    client_dns: ClientDns, tmp_path: Path
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", ATTACKER)
    try:
        result = register_static(bad, tmp_path)
    finally:
        bad.stop()
    assert result.returncode == 1  # a second 401 after our answer: wrong password
    assert bad.authorized == 1


async def test_a_foreign_realm_primary_is_skipped_and_the_backup_of_our_realm_registers(
    client_dns: ClientDns, backup: Kamailio
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", ATTACKER)
    try:
        async with client(client_dns, realms=[CLIENT_DOMAIN]) as c:
            outcome = await c.register(60)
    finally:
        bad.stop()
    assert bad.received == 1 and bad.authorized == 0
    assert outcome.ok and outcome.target is not None
    assert outcome.target.address == backup.address  # Kamailio challenges for client.test


def test_password_file_readable_by_others_is_warned_about(
    client_dns: ClientDns, tmp_path: Path
) -> None:
    bad = bad_primary(client_dns, "401 Unauthorized", ATTACKER)
    try:
        quiet = register_static(bad, tmp_path, "--realm", "victim.test")
        loose = register_static(bad, tmp_path, "--realm", "victim.test", mode=0o644)
    finally:
        bad.stop()
    pw = tmp_path / "pw"
    assert "warning" not in quiet.stderr  # mode 600: nothing to say
    assert loose.stderr.startswith(
        f"siplocate: warning: password file {pw} is readable by group/others (mode 644): "
    )
    assert f"chmod 600 {pw}" in loose.stderr and loose.returncode == 1


def test_options_with_realm_skips_a_foreign_realm_and_gets_the_backups_answer(
    client_dns: ClientDns, backup: Kamailio, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    pw.chmod(0o600)
    bad = bad_primary(client_dns, "401 Unauthorized", ATTACKER)
    try:
        result = CliRunner().invoke(
            app,
            ["options", AOR, "--password-file", str(pw), "--realm", CLIENT_DOMAIN, "--json",
             "-n", client_dns.nameserver, "-t", "udp", "--t1", "100ms"],
        )  # fmt: skip
    finally:
        bad.stop()
    assert result.exit_code == 0, result.stdout + result.stderr
    assert bad.received == 1 and bad.authorized == 0
    data = json.loads(result.stdout)
    assert data["answer"]["address"] == backup.address
    assert "challenged for realm 'attacker'" in data["attempts"][0]["error"]

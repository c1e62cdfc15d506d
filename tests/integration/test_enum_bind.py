"""ENUM and ISN lookups against BIND9 serving an e164.arpa test zone with several NAPTRs."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import pytest
from typer.testing import CliRunner

from siplocate import Resolver, Transport
from siplocate.cli import app
from siplocate.dns import LiveSource
from siplocate.enum import enum_lookup
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES, start_bind
from tests.fixtures.bind import BindServer

pytestmark = pytest.mark.integration
runner = CliRunner()
ZONES = [
    TEST_ZONES / "manage" / "enum-e164.arpa.zone",
    TEST_ZONES / "manage" / "enum-freenum.test.zone",
]


@pytest.fixture(scope="module")
def enum_bind() -> Iterator[BindServer]:
    server = start_bind([*ZONES, EXAMPLE_ZONES / "freeswitch.test.zone"])
    yield server
    server.stop()


def test_e164_lookup_over_live_dns(enum_bind: BindServer) -> None:
    source = LiveSource([enum_bind.nameserver])
    result = asyncio.run(enum_lookup(source, "+44 1632 960083"))
    assert str(result.domain) == "3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa."
    assert result.uris == [
        "sips:01632960083@example.test",
        "sip:info@example.test",
        "sip:441632960083@legacy.example.test",
    ]
    assert [(r.order, r.preference) for r in result.records] == [(10, 50), (10, 100), (20, 10)]


def test_non_terminal_and_isn_over_live_dns(enum_bind: BindServer) -> None:
    source = LiveSource([enum_bind.nameserver])
    assert asyncio.run(enum_lookup(source, "+3120123")).uris == ["sip:3120123@nl.example.test"]
    isn = asyncio.run(enum_lookup(source, "123*543", isn_root="freenum.test"))
    assert str(isn.domain) == "3.2.1.543.freenum.test."
    assert isn.uris == ["sip:123@isn.example.test"]


def test_cli_enum_prints_uris_for_resolve(enum_bind: BindServer) -> None:
    result = runner.invoke(app, ["enum", "+441632960083", "-n", enum_bind.nameserver])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "sips:01632960083@example.test"
    as_json = runner.invoke(app, ["enum", "+441632960083", "-n", enum_bind.nameserver, "--json"])
    data = json.loads(as_json.stdout)
    assert data["records"][0]["uri"] == "sips:01632960083@example.test"
    assert any("not E2U+sip" in s["reason"] for s in data["skipped"])


def test_cli_enum_errors(enum_bind: BindServer) -> None:
    none = runner.invoke(app, ["enum", "+999", "-n", enum_bind.nameserver])
    assert none.exit_code == 1 and "no NAPTR" in none.output
    bad = runner.invoke(app, ["enum", "12345", "-n", enum_bind.nameserver])
    assert bad.exit_code == 2 and "E.164" in bad.output
    refused = runner.invoke(app, ["enum", "+49301", "-n", enum_bind.nameserver])
    assert refused.exit_code == 1 and "RE2" in refused.output


def test_enum_result_goes_straight_into_resolve(enum_bind: BindServer) -> None:
    async def number_to_targets() -> list[str]:
        found = await enum_lookup(LiveSource([enum_bind.nameserver]), "+1 555 0100")
        resolver = Resolver([enum_bind.nameserver], transports="udp,tcp,tls")
        resolution = await resolver.locate(found.uris[0], seed=1)
        return [f"{t.transport}:{t.host}" for t in resolution.targets]

    targets = asyncio.run(number_to_targets())
    assert targets[0].startswith(f"{Transport.TLS}:sip")  # NAPTR 50: TLS first


def test_cli_enum_takes_dig_spellings(enum_bind: BindServer) -> None:
    """`enum NUMBER @SERVER -p PORT` (issue 18) asks the same server as -n ADDRESS:PORT."""
    by_n = runner.invoke(app, ["enum", "+441632960083", "-n", enum_bind.nameserver])
    by_at = runner.invoke(app, ["enum", "@127.0.0.1", "+441632960083", "-p", str(enum_bind.port)])
    assert by_at.exit_code == by_n.exit_code == 0, by_at.output
    assert by_at.stdout == by_n.stdout and by_at.stdout.startswith("sips:01632960083@")

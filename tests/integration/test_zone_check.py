"""`check` (live lint through BIND9) and the `zone render|lint` commands end to end."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import EXAMPLE_ZONES, ROOT, start_bind
from tests.fixtures.bind import BindServer
from tests.fixtures.zones import HEAD, many_srv

pytestmark = pytest.mark.integration
runner = CliRunner()
BROKEN = EXAMPLE_ZONES / "broken"


@pytest.fixture(scope="module")
def broken_bind() -> Iterator[BindServer]:
    """BIND serving the seeds' broken zones (those that load) and the good examples."""
    zones = [
        BROKEN / "freeswitch-dtu.zone",
        BROKEN / "freeswitch-se.zone",
        BROKEN / "yealink-server1-twice.zone",
        BROKEN / "grandstream-no-a-record.zone",
        EXAMPLE_ZONES / "onsip.test.zone",
        EXAMPLE_ZONES / "sipdomain.test.zone",
        EXAMPLE_ZONES / "elsewhere.test.zone",
    ]
    server = start_bind(zones)
    yield server
    server.stop()


def check(server: BindServer, target: str) -> tuple[int, list[dict[str, object]]]:
    result = runner.invoke(app, ["check", target, "-n", server.nameserver, "--json"])
    return result.exit_code, json.loads(result.stdout)  # stderr may carry ;; timed-out tries


def test_live_check_finds_the_same_mistakes_as_offline_lint(broken_bind: BindServer) -> None:
    for zone, domain in [
        ("freeswitch-dtu.zone", "freeswitch-dtu.test"),
        ("freeswitch-se.zone", "freeswitch-se.test"),
        ("yealink-server1-twice.zone", "example.test"),
        ("grandstream-no-a-record.zone", "grandstream-noa.test"),
    ]:
        code, live = check(broken_bind, domain)
        offline = runner.invoke(app, ["zone", "lint", str(BROKEN / zone), "--json"])
        # Offline findings also say where (file, line); the verdicts are the same.
        where = {"file", "line"}
        same = [{k: v for k, v in f.items() if k not in where} for f in json.loads(offline.stdout)]
        key = lambda f: (f["severity"], f["name"], f["code"], f["records"])  # noqa: E731
        assert sorted(live, key=key) == sorted(same, key=key), zone
        assert code == offline.exit_code


def test_live_check_exit_codes_and_fields(broken_bind: BindServer) -> None:
    code, findings = check(broken_bind, "sip:alice@freeswitch-dtu.test")
    assert code == 1
    typo = next(f for f in findings if f["code"] == "naptr-unknown-service")
    assert set(typo) == {"code", "severity", "name", "records", "message"}
    assert typo["severity"] == "error" and "SIP+DTU" in str(typo["records"])
    code, findings = check(broken_bind, "onsip.test")
    assert code == 0 and findings == []
    # Off-site targets are looked up live, so nothing is left unchecked.
    code, findings = check(broken_bind, "sipdomain.test")
    assert code == 0 and "srv-target-unchecked" not in {f["code"] for f in findings}


def test_live_check_of_a_domain_without_sip_records(broken_bind: BindServer) -> None:
    code, findings = check(broken_bind, "elsewhere.test")
    assert code == 1 and [f["code"] for f in findings] == ["no-sip-records"]


def test_check_bad_input() -> None:
    result = runner.invoke(app, ["check", "sip:alice@192.0.2.1", "-n", "127.0.0.1:1"])
    assert result.exit_code == 2 and "IP address" in result.output


def test_zone_lint_cli_human_output_and_exit_codes() -> None:
    bad = runner.invoke(app, ["zone", "lint", str(BROKEN / "dooxswitch-missing-weight.zone")])
    assert bad.exit_code == 1
    assert "srv-missing-field" in bad.output and "dooxswitch-missing-weight.zone:11" in bad.output
    good = runner.invoke(app, ["zone", "lint", str(EXAMPLE_ZONES / "onsip.test.zone")])
    assert good.exit_code == 0 and "no findings" in good.output
    missing = runner.invoke(app, ["zone", "lint", "/nonexistent.zone"])
    assert missing.exit_code == 2 and "cannot read" in missing.output


def test_zone_render_cli() -> None:
    plan = ROOT / "examples" / "plans" / "freeswitch.toml"
    bind_out = runner.invoke(app, ["zone", "render", str(plan)])
    assert bind_out.exit_code == 0 and "$ORIGIN freeswitch.test." in bind_out.output
    as_json = runner.invoke(app, ["zone", "render", str(plan), "--format", "json"])
    assert json.loads(as_json.stdout)[0]["type"] == "NAPTR"
    wrong = runner.invoke(app, ["zone", "render", str(plan), "--format", "yaml"])
    assert wrong.exit_code == 2 and "unknown format" in wrong.output


def test_help_teaches() -> None:
    for args in (["zone", "--help"], ["zone", "apply", "--help"], ["drain", "--help"]):
        result = subprocess.run(
            [sys.executable, "-c", "from siplocate.cli import main; main()", *args],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        assert "Usage" in result.stdout
        if args != ["zone", "--help"]:
            assert "Example" in result.stdout


def test_live_check_follows_a_cname_target_into_another_zone(tmp_path: Path) -> None:
    head = "$TTL 300\n@ IN SOA ns1 h 1 3600 600 604800 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"
    one = tmp_path / "one.test.zone"
    one.write_text(
        "$ORIGIN one.test.\n" + head + "@ IN A 192.0.2.1\n"
        "_sip._udp IN SRV 0 1 5060 alias\n_sip._udp IN SRV 0 1 5060 b\n"
        "alias IN CNAME real.two.test.\nb IN A 192.0.2.2\n"
    )
    two = tmp_path / "two.test.zone"
    two.write_text("$ORIGIN two.test.\n" + head + "real IN A 192.0.2.3\n")
    server = start_bind([one, two])
    try:
        code, findings = check(server, "one.test")
    finally:
        server.stop()
    assert code == 0
    assert {f["code"] for f in findings} == {"srv-target-cname"}


@pytest.mark.parametrize("count", [34, 50])
def test_live_check_of_a_big_srv_rrset_gives_no_false_error(tmp_path: Path, count: int) -> None:
    """Issue 18: 34 (50) SRV records, every target with an A record. The 32-record bound is
    one info finding, never `srv-target-no-address`; `check` prints the same one line per
    finding as `zone lint` (same codes, same --json)."""
    path = tmp_path / "t.test.zone"
    path.write_text(HEAD + many_srv(count))
    server = start_bind([path])
    try:
        human = runner.invoke(app, ["check", "t.test", "-n", server.nameserver])
        code, live = check(server, "t.test")
    finally:
        server.stop()
    offline = runner.invoke(app, ["zone", "lint", str(path), "--json"])
    assert code == 0 and human.exit_code == 0 and offline.exit_code == 0, human.output
    strip = lambda f: {k: v for k, v in f.items() if k not in ("file", "line")}  # noqa: E731
    assert live == [strip(f) for f in json.loads(offline.stdout)]
    assert [f["code"] for f in live] == ["rrset-bound"]
    lines = human.stdout.splitlines()
    assert lines == [
        f"_sip._udp.t.test.: info rrset-bound {live[0]['message']}",
        "0 errors, 0 warnings, 1 info",
    ]
    assert f"only the 32 most preferred of {count} SRV records were checked" in lines[0]

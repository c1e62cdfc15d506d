"""``siplocate resolve`` end to end: human output, the JSON contract, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES
from tests.fixtures.bind import BindServer

runner = CliRunner()
AIRTIES = str(EXAMPLE_ZONES / "airties.test.zone")


def test_human_output_has_tree_try_order_and_load_split() -> None:
    result = runner.invoke(app, ["resolve", "sip:6903@airties.test", "--zone", AIRTIES])
    assert result.exit_code == 0, result.output
    out = result.output
    assert 'NAPTR 2 0 "s" "SIP+D2T" -> _sip._tcp.airties.test' in out
    assert "SRV 1 0 5060 uc2.airties.test" in out
    assert "Try order" in out and "Load split" in out
    lines = [ln for ln in out.splitlines() if ln.lstrip().startswith("1 ")]
    assert "203.0.113.27:5060" in lines[0] and "tcp" in lines[0]


def test_json_contract_against_live_bind(bind: BindServer) -> None:
    result = runner.invoke(
        app, ["resolve", "sipdomain.test", "-n", bind.nameserver, "--json", "--seed", "3"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stdout only: stderr may name timed-out tries
    assert set(data) == {"target", "targets", "trace", "expires"}
    first = data["targets"][0]
    assert set(first) == {"transport", "host", "port", "address", "priority", "weight", "via"}
    assert first["host"] in ("1x-load.sipdomain.test", "3x-load.sipdomain.test")
    assert [t["priority"] for t in data["targets"]] == sorted(
        t["priority"] for t in data["targets"]
    )
    assert data["trace"][0]["kind"] in ("query", "note")
    assert isinstance(data["expires"], float)


def test_seed_gives_the_same_order() -> None:
    args = [
        "resolve",
        "sipdomain.test",
        "--zone",
        str(EXAMPLE_ZONES / "sipdomain.test.zone"),
        "--zone",
        str(EXAMPLE_ZONES / "elsewhere.test.zone"),
        "--json",
        "--seed",
        "42",
    ]
    a = json.loads(runner.invoke(app, args).stdout)["targets"]
    b = json.loads(runner.invoke(app, args).stdout)["targets"]
    assert a == b


def test_nothing_usable_exits_1_with_one_line() -> None:
    result = runner.invoke(
        app, ["resolve", "sip:dot.cases.test", "--zone", str(TEST_ZONES / "cases.test.zone")]
    )
    assert result.exit_code == 1
    assert "not offered" in result.stderr
    assert "Traceback" not in result.output + result.stderr


def test_bad_input_exits_2() -> None:
    for args in (
        ["resolve", "tel:+1555"],
        ["resolve", "sip:a@b.test", "-t", "udp,bogus"],
        ["resolve", "x.test", "--zone", "/nonexistent.zone"],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.startswith("siplocate: error: ")
        assert len(result.stderr.strip().splitlines()) == 1


def test_console_script_runs() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "siplocate",
            "resolve",
            "sip:airties.test",
            "--zone",
            AIRTIES,
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["targets"][0]["address"] == "203.0.113.27"

"""Issue 18: dig habits (@SERVER, +short, -p), one meaning per flag, IDN and SRV owner names
on the command line, offline (zone files); the live side is tests/integration/test_cli_habits.py."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.cli.common import asked, dig_argv
from siplocate.cli.resolve import _wrap_name
from siplocate.dns.live import LiveSource, parse_nameserver
from tests.conftest import EXAMPLE_ZONES

runner = CliRunner()
AIRTIES = ["--zone", str(EXAMPLE_ZONES / "airties.test.zone")]
FREESWITCH = ["--zone", str(EXAMPLE_ZONES / "freeswitch.test.zone")]
IDN_ZONE = """$ORIGIN xn--bcher-kva.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
_sip._udp IN SRV 10 0 5060 sip
sip IN A 192.0.2.77
"""


def _group() -> object:
    import typer.main

    return typer.main.get_command(app)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["resolve", "@127.0.0.1", "ux.test"], ["resolve", "--nameserver", "127.0.0.1", "ux.test"]),
        (
            ["resolve", "ux.test", "@127.0.0.1#39300", "+short"],
            ["resolve", "ux.test", "--nameserver", "127.0.0.1#39300", "--short"],
        ),
        (["check", "x.test", "@::1#5300"], ["check", "x.test", "--nameserver", "::1#5300"]),
        (
            ["compare", "@::1", "x.test", "-p", "rfc3263"],
            ["compare", "--nameserver", "::1", "x.test", "-p", "rfc3263"],
        ),
        (["probe", "x.test", "@ns.test"], ["probe", "x.test", "--nameserver", "ns.test"]),
        (
            ["enum", "+441632960083", "@127.0.0.1"],
            ["enum", "+441632960083", "--nameserver", "127.0.0.1"],
        ),
        # an option's value is a value, even when it starts with @; `--` ends the options
        (["resolve", "x.test", "--hash-key", "@abc"], ["resolve", "x.test", "--hash-key", "@abc"]),
        (["resolve", "--", "@x"], ["resolve", "--", "@x"]),
        # not a lookup command: left to click
        (["register", "sip:a@x.test", "@1.2.3.4"], ["register", "sip:a@x.test", "@1.2.3.4"]),
        (["--version"], ["--version"]),
        (
            ["zone", "apply", "p.toml", "-s", "1.2.3.4"],
            ["zone", "apply", "p.toml", "-s", "1.2.3.4"],
        ),
    ],
)
def test_dig_argv_reads_dig_habits_as_options(argv: list[str], expected: list[str]) -> None:
    assert dig_argv(_group(), argv) == expected


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (
            ["resolve", "ux.test", "--server", "127.0.0.1:39300"],
            "static SIP servers are --sip-server (resolve, register, options)",
        ),
        (
            ["resolve", "ux.test", "--key", "sip-update.key"],
            "the Call-ID hash key of resolve is --hash-key",
        ),
        (
            ["check", "ux.test", "-s", "127.0.0.1"],
            "to ask a DNS server use -n/--nameserver or @SERVER",
        ),
        (["register", "sip:a@x.test", "--server", "192.0.2.1"], "--sip-server"),
        (["zone", "apply", "plan.toml", "-n", "127.0.0.1"], "the primary to update is -s/--server"),
        (["drain", "sip1", "--nameserver", "127.0.0.1"], "-s/--server"),
        (["check", "ux.test", "+short"], "+short/--short is for resolve"),
        (["resolve", "ux.test", "-p", "5300", *AIRTIES], "--zone asks none"),
        (["resolve", "airties.test", "--short", "--json", *AIRTIES], "not with --json"),
        (["resolve", "airties.test", "--sip-server", "192.0.2.1", *AIRTIES], "add --mode static"),
    ],
)
def test_a_flag_from_elsewhere_is_one_line_naming_the_right_flag(
    args: list[str], hint: str
) -> None:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and hint in result.stderr, result.stderr
    assert json.loads(result.stdout)["error"]["kind"] in ("bad-input", "usage")


def test_short_is_the_try_order_alone() -> None:
    full = json.loads(
        runner.invoke(
            app, ["resolve", "freeswitch.test", *FREESWITCH, "--seed", "4", "--json"]
        ).stdout
    )
    want = [
        f"{t['transport']} [{t['address']}]:{t['port']}" if ":" in t["address"]
        else f"{t['transport']} {t['address']}:{t['port']}"
        for t in full["targets"]
    ]  # fmt: skip
    for flag in ("--short", "+short"):
        result = runner.invoke(
            app, ["resolve", "freeswitch.test", *FREESWITCH, "--seed", "4", flag]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout.splitlines() == want and result.stderr == ""
    assert "tls [2001:db8:f5::11]:5061" in want  # IPv6 in brackets


@pytest.mark.parametrize(
    ("name", "transport", "read_as"),
    [
        ("_sip._udp.airties.test", "udp", "sip:airties.test;transport=udp"),
        ("_sip._tcp.airties.test", "tcp", "sip:airties.test;transport=tcp"),
        ("_sips._tcp.freeswitch.test", "tls", "sips:freeswitch.test;transport=tcp"),
    ],
)
def test_an_srv_owner_name_resolves_that_srv_name(name: str, transport: str, read_as: str) -> None:
    zones = [*AIRTIES, *FREESWITCH]
    data = json.loads(runner.invoke(app, ["resolve", name, *zones, "--json"]).stdout)
    assert data["target"] == name and data["read_as"] == read_as
    assert data["targets"] and {t["transport"] for t in data["targets"]} == {transport}
    srv = [q["name"] for q in data["trace"] if q["kind"] == "query" and q["type"] == "SRV"]
    assert srv and set(srv) == {name}  # that SRV name and no other; no NAPTR asked
    assert not [q for q in data["trace"] if q.get("type") == "NAPTR"]
    human = runner.invoke(app, ["resolve", name, *zones])
    assert (
        human.stdout.splitlines()[0]
        == f"{name}  (SRV owner name: read as {read_as}, RFC 3263 §4.2)"
    )
    short = runner.invoke(app, ["resolve", name, *zones, "--short"])
    assert f"read as {read_as}" in short.stderr  # said, but not on stdout


def test_u_labels_are_asked_as_a_labels(tmp_path: Path) -> None:
    zone = tmp_path / "xn--bcher-kva.test.zone"
    zone.write_text(IDN_ZONE)
    for target in ("sip:bob@b\u00fccher.test", "B\u00fccher.test", "xn--bcher-kva.test"):
        result = runner.invoke(app, ["resolve", target, "-z", str(zone)])
        assert result.exit_code == 0, result.output
        first = result.stdout.splitlines()[0]
        assert first.startswith(target)
        assert ("(A-label xn--bcher-kva.test)" in first) == (not target.isascii())
        assert "192.0.2.77:5060" in result.stdout
    data = json.loads(
        runner.invoke(
            app, ["resolve", "sip:bob@b\u00fccher.test", "-z", str(zone), "--json"]
        ).stdout
    )
    assert data["read_as"] == "sip:bob@xn--bcher-kva.test"
    check = runner.invoke(app, ["check", "b\u00fccher.test", "-z", str(zone)])
    assert "A-label xn--bcher-kva.test" in check.stderr and "Traceback" not in check.output


def test_offline_summary_says_from_zone_files() -> None:
    result = runner.invoke(app, ["resolve", "airties.test", *AIRTIES])
    last = result.stdout.splitlines()[-1]
    assert " DNS answers from zone files in " in last and "zone," not in last, last


def test_nameserver_port_and_where_from() -> None:
    assert parse_nameserver("127.0.0.1", 5300) == ("127.0.0.1", 5300)
    assert parse_nameserver("127.0.0.1#53", 5300) == ("127.0.0.1", 53)  # a port given wins
    assert parse_nameserver("[::1]", 5300) == ("::1", 5300)
    assert parse_nameserver("::1", 5300) == ("::1", 5300)
    given = LiveSource(["127.0.0.1", "::1#5353"], port=39300)
    assert asked(given) == "from 127.0.0.1:39300, [::1]:5353"
    if not Path("/etc/resolv.conf").is_file():
        pytest.skip("no /etc/resolv.conf here")
    system = LiveSource(None, port=39300)  # reads the file; nothing is sent
    assert asked(system).endswith(" (/etc/resolv.conf)") and ":39300" in asked(system)


@pytest.mark.parametrize("width", [8, 12, 20, 40])
def test_wrapped_names_keep_whole_labels(width: int) -> None:
    name = "offsite-failover2.elsewhere.test:5060"
    lines = _wrap_name(name, width).split("\n")
    assert "".join(lines) == name

    def labels(text: str) -> set[str]:
        return set(filter(None, text.replace(".", ".\n").split("\n")))

    for line in lines:  # each line is whole labels; over width only when one label is
        assert labels(line) <= labels(name)
        assert len(line) <= width or line in labels(name)


def test_shell_completion_is_on() -> None:
    env = {
        **os.environ,
        "_SIPLOCATE_COMPLETE": "complete_bash",
        "COMP_WORDS": "siplocate resolve --sh",
        "COMP_CWORD": "2",
    }
    out = subprocess.run(
        [str(Path(sys.executable).parent / "siplocate")],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert out.stdout.split() == ["--short"], out
    helped = runner.invoke(app, ["--help"])
    assert "--install-completion" in helped.stdout and "--show-completion" in helped.stdout

"""`check` against a real BIND9: DNS failures are DNS failures; `zone lint` agrees with
named-checkzone on which lines are bad."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import EXAMPLE_ZONES, start_bind
from tests.fixtures.bind import BindServer
from tests.fixtures.servers import free_port, require_binary

pytestmark = pytest.mark.integration
runner = CliRunner()

ZONE = """$ORIGIN drained.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 604800 300
  IN NS ns1
ns1 IN A 192.0.2.53
@ IN A 192.0.2.10
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 0 10 5060 sip2
_sip._udp IN SRV 65535 10 5060 sip1
@ IN NAPTR 20 0 "s" "SIP+D2T" "" _sip._tcp.[/z]
sip1 IN A 192.0.2.11
sip2 IN A 192.0.2.12
"""


@pytest.fixture(scope="module")
def bind(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BindServer]:
    path = tmp_path_factory.mktemp("zones") / "drained.test.zone"
    path.write_text(ZONE)
    server = start_bind([path, EXAMPLE_ZONES / "onsip.test.zone"])
    yield server
    server.stop()


def check(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["check", *args])
    return result.exit_code, result.output


def test_refused_is_a_dns_error_not_a_verdict(bind: BindServer) -> None:
    code, out = check("not-served.test", "-n", bind.nameserver)
    assert code == 1 and "REFUSED" in out
    assert "no-sip-records" not in out and "Fix" not in out
    code, out = check("not-served.test", "-n", bind.nameserver, "--json")
    error = json.loads(out[out.index("{") : out.rindex("}") + 1])["error"]
    assert error["exit_code"] == 1 and "REFUSED" in error["message"]


def test_nxdomain_is_reported_as_such(bind: BindServer) -> None:
    code, out = check("nothing-here.onsip.test", "-n", bind.nameserver)
    assert code == 1 and "NXDOMAIN" in out and "no-sip-records" not in out
    assert len([ln for ln in out.splitlines() if ln.strip()]) == 1


def test_nothing_listening_is_a_network_error() -> None:
    port = free_port("127.0.0.1")
    code, out = check("airties.test", "-n", f"127.0.0.1:{port}")
    assert code == 1 and "no-sip-records" not in out
    assert "refused" in out.lower() or "timed out" in out
    code, out = check("airties.test", "-n", f"127.0.0.1:{port}", "--json")
    assert "no-sip-records" not in out and '"error"' in out


def test_check_warns_about_a_drained_host_and_prints_names_as_text(bind: BindServer) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "siplocate", "check", "drained.test", "-n", bind.nameserver],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr, result.stderr
    # named's check-names refuses [/z] as a host name, not in a NAPTR replacement.
    assert result.returncode == 1, result.stdout + result.stderr
    assert "srv-drained" in result.stdout and "sip1.drained.test." in result.stdout
    assert "naptr-replacement-no-srv" in result.stdout
    assert "_sip._tcp.[/z].drained.test." in result.stdout


# --------------------------------------------------------------------------- named-checkzone


def named_checkzone_lines(origin: str, path: Path) -> list[int]:
    exe = require_binary("named-checkzone", "bind9-utils")  # a failure in CI, never a skip
    out = subprocess.run(
        [exe, "-w", str(path.parent), origin, path.name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return sorted({int(m) for m in re.findall(rf"{re.escape(path.name)}:(\d+):", out.stdout)})


@pytest.mark.parametrize(
    "body",
    [
        "c IN A 192.0.2.1 junk\nd IN A 1.2.3\ne IN MX 10\n",
        "_sip._udp SRV 0 5060 host.t.test.\n_sip._tcp SRV 0 0 5060 h\nbad IN AAAA 1::2::3\n",
        'n IN NAPTR 10 0 "s" "SIP+D2U"\nok IN TXT "x" ; \xe9\nq IN SRV 0 0 99999 h\n',
    ],
)
def test_bad_lines_match_named_checkzone(tmp_path: Path, body: str) -> None:
    head = "$ORIGIN t.test.\n$TTL 300\n@ IN SOA ns1 h 1 3600 600 604800 300\n  IN NS ns1\n"
    path = tmp_path / "t.zone"
    path.write_bytes((head + "ns1 IN A 192.0.2.53\nh IN A 192.0.2.1\n" + body).encode("latin-1"))
    expected = named_checkzone_lines("t.test", path)
    assert expected
    result = runner.invoke(app, ["zone", "lint", str(path), "--json"])
    ours = sorted(
        {
            f["line"]
            for f in json.loads(result.stdout)
            if f["code"] in {"zone-syntax", "srv-missing-field", "naptr-missing-field"}
        }
    )
    assert ours == expected


def test_dooxswitch_line_is_named_checkzones(tmp_path: Path) -> None:
    doox = EXAMPLE_ZONES / "broken" / "dooxswitch-missing-weight.zone"
    expected = named_checkzone_lines("tld", doox)
    result = runner.invoke(app, ["resolve", "tld", "-z", str(doox)])
    assert f"{doox}:{expected[0]}:" in result.output

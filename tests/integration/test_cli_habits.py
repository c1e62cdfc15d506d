"""Issue 18 against a real BIND9: dig's @SERVER, -p and +short ask the server they name; a
silent nameserver's timed-out tries are reported on stderr as they happen; the summary
names the nameservers asked."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.fixtures.bind import BindServer
from tests.fixtures.kamailio import ClientDns
from tests.fixtures.servers import has_ipv6_loopback, read_line

pytestmark = pytest.mark.integration
runner = CliRunner()


def _short(target: dict[str, object]) -> str:
    address = str(target["address"])
    where = f"[{address}]" if ":" in address else address
    return f"{target['transport']} {where}:{target['port']}"


def test_dig_spellings_ask_the_server_they_name(bind: BindServer) -> None:
    port = str(bind.port)
    seed = ["--seed", "5"]
    full = runner.invoke(app, ["resolve", "sipdomain.test", "-n", bind.nameserver, *seed, "--json"])
    want = [_short(t) for t in json.loads(full.stdout)["targets"]]
    spellings = [
        ["resolve", "@127.0.0.1", "sipdomain.test", "-p", port, "+short"],
        ["resolve", "sipdomain.test", f"@127.0.0.1#{port}", "--short"],
        ["resolve", "sipdomain.test", f"@127.0.0.1:{port}", "+short"],
        ["resolve", "sipdomain.test", "-n", "127.0.0.1", "-p", port, "--short"],
        ["resolve", "-p", port, "sipdomain.test", "--short", "@localhost"],
    ]
    if has_ipv6_loopback():
        spellings += [["resolve", "sipdomain.test", f"@::1#{port}", "--short"],
                      ["resolve", "sipdomain.test", "@::1", "-p", port, "--short"]]  # fmt: skip
    for args in spellings:
        result = runner.invoke(app, [*args, *seed])
        assert result.exit_code == 0, (args, result.output)
        assert result.stdout.splitlines() == want, args
    # without -p the port is 53, where this BIND is not: the port really is used
    wrong = runner.invoke(
        app, ["resolve", "sipdomain.test", "@127.0.0.1", "--timeout", "0.05", "+short"]
    )
    assert wrong.exit_code == 1 and wrong.stdout == ""


def test_check_and_compare_take_at_server(bind: BindServer) -> None:
    port = str(bind.port)
    by_n = runner.invoke(app, ["check", "sipdomain.test", "-n", bind.nameserver, "--json"])
    by_at = runner.invoke(app, ["check", "sipdomain.test", "@127.0.0.1", "-p", port, "--json"])
    assert (by_at.exit_code, by_at.stdout) == (by_n.exit_code, by_n.stdout)
    assert by_n.exit_code in (0, 1) and json.loads(by_n.stdout) is not None
    compare = runner.invoke(
        app, ["compare", f"@127.0.0.1#{port}", "sipdomain.test", "-p", "rfc3263"]
    )
    assert compare.exit_code == 0, compare.output
    assert f"from 127.0.0.1:{port}, one walk" in compare.stdout.splitlines()[-1]


def test_probe_takes_at_server_and_port(client_dns: ClientDns) -> None:
    """Nothing listens on the SIP ports: every probe fails, but the targets are the zone's."""
    args = ["probe", "client.test", "@127.0.0.1", "-p", str(client_dns.bind.port)]
    result = runner.invoke(app, [*args, "--timeout", "300ms", "-t", "udp", "--json"])
    assert result.exit_code == 1, result.output
    found = {(t["address"], t["port"]) for t in json.loads(result.stdout)["targets"]}
    assert found == set(client_dns.addresses)


def test_summary_names_the_nameservers_asked(bind: BindServer) -> None:
    result = runner.invoke(app, ["resolve", "airties.test", f"@{bind.nameserver}"])
    assert result.exit_code == 0, result.output
    last = result.stdout.splitlines()[-1]
    assert f" from 127.0.0.1:{bind.port} in " in last and "network" in last, last


def test_each_timed_out_try_is_reported_as_it_happens() -> None:
    """A bound UDP socket that never answers: dig-style lines on stderr while the lookup is
    still running, and stdout under --json stays the one JSON error object."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        args = ["resolve", "a.test", "@127.0.0.1", "-p", str(port), "--timeout", "1", "--json"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "siplocate", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            first = read_line(proc.stderr)  # type: ignore[arg-type]
            running = proc.poll() is None
            out, err = proc.communicate(timeout=60)
        finally:
            proc.kill()
            proc.wait()
    assert first.startswith(f";; 127.0.0.1:{port} timed out after "), first
    assert "(a.test. NAPTR, try 1 of 5)" in first or "try 1 of 5" in first
    assert running, "the first timeout was only reported when the lookup had ended"
    lines = [first.rstrip("\n"), *err.splitlines()]
    assert all(ln.startswith(";; ") for ln in lines[:-1]) and lines[-1].startswith(
        "siplocate: error:"
    )
    assert sum("try 5 of 5" in ln for ln in lines) >= 1
    assert json.loads(out)["error"]["kind"] == "dns-error"

"""Issue 9 part B: the admin commands behave like DNS tools (real BIND9 where a server is
involved): JSON errors, one-line usage errors, markup-free output, nameserver syntax, drains."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import EXAMPLE_ZONES, ROOT, start_bind
from tests.fixtures.bind import BindServer

pytestmark = pytest.mark.integration
runner = CliRunner()
ONSIP_PLAN = ROOT / "examples" / "plans" / "onsip.toml"
HOSTILE = r"""$ORIGIN hostile.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
@ IN NAPTR 20 0 "u" "E2U+sip" "!^.*$![/bold]!" .
_sip._udp IN SRV 0 1 5060 [/x]
_sip._udp IN SRV 0 1 5060 [bold]
[/x] IN A 192.0.2.1
[bold] IN A 192.0.2.2
"""
MARKUP = ("[/x]", "[bold]")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[BindServer, Path]]:
    """BIND serving names and a NAPTR regexp that are rich markup if anything interprets them."""
    folder = tmp_path_factory.mktemp("hostile")
    zone = folder / "hostile.test.zone"
    zone.write_text(HOSTILE)
    server = start_bind([zone], tsig=True, check_names=False)
    yield server, zone
    server.stop()


def test_dns_and_file_text_is_never_markup(
    hostile: tuple[BindServer, Path], tmp_path: Path
) -> None:
    """`[/x]` in an SRV target ended in a MarkupError traceback; `[bold]` vanished."""
    server, _ = hostile
    ns = ["-n", server.nameserver]
    resolved = runner.invoke(app, ["resolve", "hostile.test", *ns, "--trace"])
    assert resolved.exit_code == 0, resolved.output
    assert "[/x].hostile.test" in resolved.output and "[bold].hostile.test" in resolved.output
    assert "!^.*$![/bold]!" in resolved.output  # the regexp, in the DNS questions table
    checked = runner.invoke(app, ["check", "hostile.test", *ns])
    assert "Traceback" not in checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)
    named = tmp_path / "[bold]hostile.test.zone"
    named.write_text(HOSTILE)
    linted = runner.invoke(app, ["zone", "lint", str(named)])
    assert not isinstance(linted.exception, Exception) or isinstance(linted.exception, SystemExit)
    plan = tmp_path / "[bold]plan.toml"
    plan.write_text('domain = "hostile.test"\n[transports]\nudp = 1\n[[server]]\nhost = "[bold]"\n')
    rendered = runner.invoke(app, ["zone", "render", str(plan)])
    assert (
        rendered.exit_code == 2 and "[bold]plan.toml" in rendered.output
    )  # no addresses: bad input
    drained = runner.invoke(
        app, ["drain", "[bold]", "-d", "hostile.test", "-s", server.nameserver,
              "-k", str(server.key_file)],
    )  # fmt: skip
    assert drained.exit_code == 0, drained.output
    assert "[bold].hostile.test." in drained.output
    listed = runner.invoke(app, ["drain", "--list", "-d", "hostile.test", "-s", server.nameserver])
    assert "[bold].hostile.test." in listed.output
    good = tmp_path / "[bold]good.toml"
    good.write_text(
        'domain = "hostile.test"\n[transports]\nudp = 1\n'
        '[[server]]\nhost = "[bold]"\naddresses = ["192.0.2.2"]\n'
    )
    applied = runner.invoke(app, ["zone", "apply", str(good), "-s", server.nameserver, "--dry-run"])
    assert applied.exit_code == 0, applied.output
    assert "-_sip._udp.hostile.test. 300 IN SRV 0 1 5060 [/x].hostile.test." in applied.output
    enum_zone = tmp_path / "e164.test.zone"
    enum_zone.write_text(
        "$ORIGIN e164.test.\n$TTL 60\n@ SOA ns1 hm 1 1 1 1 1\n@ NS ns1\nns1 A 192.0.2.1\n"
        '0.0.1 NAPTR 10 10 "u" "E2U+sip" "!^.*$!sip:[bold]@b.test!" .\n'
        '0.0.1 NAPTR 20 10 "u" "E2U+sip" "!^.*$!sip:a@[/x].test!" .\n'
    )
    numbered = runner.invoke(app, ["enum", "+100", "--suffix", "e164.test", "-z", str(enum_zone)])
    assert "sip:[bold]@b.test" in numbered.output and "[/x]" in numbered.output
    for result in (resolved, checked, linted, rendered, drained, listed, applied, numbered):
        assert "MarkupError" not in repr(result.exception), result.output


def test_json_error_objects_for_every_failure(bind: BindServer, tmp_path: Path) -> None:
    """`--json` printed nothing on these failures."""
    refused = runner.invoke(app, ["resolve", "nosuch.example", "-n", bind.nameserver, "--json"])
    assert refused.exit_code == 1
    error = json.loads(refused.stdout)["error"]
    assert (
        error["kind"] == "dns-error" and error["exit_code"] == 1 and "REFUSED" in error["message"]
    )
    port = _closed_port()
    unreachable = runner.invoke(
        app, ["resolve", "a.test", "-n", f"127.0.0.1:{port}", "--json", "--timeout", "0.2"]
    )
    assert json.loads(unreachable.stdout)["error"]["kind"] == "dns-error"
    no_uri = runner.invoke(app, ["enum", "+15555550100", "-n", bind.nameserver, "--json"])
    assert no_uri.exit_code == 1 and json.loads(no_uri.stdout)["error"]["exit_code"] == 1
    usage = runner.invoke(app, ["resolve", "--json", "--no-such-option"])
    assert usage.exit_code == 2
    assert json.loads(usage.stdout)["error"]["kind"] == "usage"


def test_apply_badsig_is_a_json_error(tmp_path: Path) -> None:
    empty = tmp_path / "onsip.test.zone"
    empty.write_text(
        "$ORIGIN onsip.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 1209600 300\n"
        "@ IN NS ns1\nns1 IN A 198.51.100.53\n"
    )
    server = start_bind([empty], tsig=True)
    try:
        bad = tmp_path / "bad.conf"
        bad.write_text(
            'key "siplocate-test-key" { algorithm hmac-sha256; '
            'secret "d3JvbmctdGVzdC1zZWNyZXQtMzItYnl0ZXMhISEhIQ=="; };\n'
        )
        bad.chmod(0o600)
        args = ["zone", "apply", str(ONSIP_PLAN), "-s", server.nameserver, "-k", str(bad)]
        result = runner.invoke(app, [*args, "--json"])
        assert result.exit_code == 1
        assert "BADSIG" in json.loads(result.stdout)["error"]["message"]
        # A dry run without a key sends nothing unsigned: no warning about one.
        dry = runner.invoke(app, ["zone", "apply", str(ONSIP_PLAN), "-s", server.nameserver,
                                  "--dry-run"])  # fmt: skip
        assert dry.exit_code == 0, dry.output
        assert "unsigned" not in dry.output
    finally:
        server.stop()


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_reads_as_words() -> None:
    """`[Errno 111] Connection refused` leaked into messages."""
    port = _closed_port()
    result = runner.invoke(
        app, ["zone", "apply", str(ONSIP_PLAN), "-s", f"127.0.0.1#{port}", "--dry-run"]
    )
    assert result.exit_code == 1
    assert "connection refused" in result.output and "Errno" not in result.output


def test_usage_errors_are_one_line_and_h_works() -> None:
    for args in (
        ["resolve"],
        ["resolve", "--bogus", "x"],
        ["zone", "apply"],
        ["drain", "-x"],
        ["resolve", "a.test", "--timeout", "2x"],  # says: e.g. --timeout 2 or 500ms
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("siplocate: error:"), result.output
    for cmd in (["resolve"], ["zone", "apply"], ["drain"], ["undrain"], ["enum"], ["check"],
                ["zone", "render"], ["zone", "lint"], ["register"], ["options"], ["probe"],
                []):  # fmt: skip
        result = runner.invoke(app, [*cmd, "-h"])
        assert result.exit_code == 0, (cmd, result.output)
        assert "<str>" not in result.output and "<bool>" not in result.output, cmd
        assert "<int>" not in result.output and "{" not in result.output.split("\n")[0], cmd


def test_nameserver_spellings_and_suggestions(bind: BindServer) -> None:
    port = bind.port
    for spelling in (f"127.0.0.1:{port}", f"127.0.0.1#{port}", f"localhost:{port}"):
        result = runner.invoke(app, ["resolve", "airties.test", "-n", spelling, "--seed", "1"])
        assert result.exit_code == 0, (spelling, result.output)
    glued = runner.invoke(app, ["resolve", "airties.test", "-n", "::1:25353"])
    assert glued.exit_code == 2 and "[::1]:25353" in glued.output
    both = runner.invoke(app, ["resolve", "airties.test", "-n", bind.nameserver,
                               "--seed", "1", "--hash-key", "abc"])  # fmt: skip
    assert both.exit_code == 2 and "not both" in both.output


def test_timeout_option_shortens_a_silent_nameserver() -> None:
    """A bound UDP socket that never answers: --timeout bounds the wait (no timing asserted)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        port = silent.getsockname()[1]
        # (`check` takes --timeout too; its verdict on a silent server is issue 9 part A.)
        for cmd in (["resolve", "a.test"], ["enum", "+15555550100"]):
            result = runner.invoke(app, [*cmd, "-n", f"127.0.0.1:{port}", "--timeout", "0.05"])
            assert result.exit_code == 1, (cmd, result.output)
            assert "timed out" in result.output or "given up" in result.output, result.output


def _on_terminal(args: list[str], columns: int) -> str:
    """Run siplocate on a pseudo-terminal COLUMNS wide; its output without colour codes."""
    master, slave = pty.openpty()
    env = {**os.environ, "COLUMNS": str(columns), "TERM": "xterm"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "siplocate", *args], stdout=slave, stderr=slave, env=env
    )
    os.close(slave)
    chunks = []
    for _ in range(10_000):  # bounded: the output is a few KB
        try:
            data = os.read(master, 65536)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    proc.wait(timeout=30)
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", b"".join(chunks).decode())


def test_80_columns_keep_ports_and_host_names() -> None:
    """On an 80-column terminal `resolve freeswitch.test` cut `[2001:db8:f5::11]:5061`."""
    zones = ["-z", str(EXAMPLE_ZONES / "freeswitch.test.zone")]
    out = _on_terminal(["resolve", "freeswitch.test", *zones, "--seed", "1"], 80)
    assert "[2001:db8:f5::11]:5061" in out and "…" not in out, out
    sip = ["-z", str(EXAMPLE_ZONES / "sipdomain.test.zone"),
           "-z", str(EXAMPLE_ZONES / "elsewhere.test.zone")]  # fmt: skip
    out = _on_terminal(["resolve", "sipdomain.test", *sip, "--seed", "1"], 80)
    assert "1x-load.sipdomain.test" in out and "…" not in out, out
    assert "offsite-failover1.elsewhere.test" in out


def test_load_split_shares_add_up_in_the_first_tier() -> None:
    zones = ["-z", str(EXAMPLE_ZONES / "sipdomain.test.zone"),
             "-z", str(EXAMPLE_ZONES / "elsewhere.test.zone")]  # fmt: skip
    out = runner.invoke(app, ["resolve", "sipdomain.test", *zones]).output
    split, _, failover = out.partition("Failover tiers")
    split = split.split("Load split", 1)[1]
    shares = [int(tok[:-1]) for tok in split.split() if tok.endswith("%") and tok[:-1].isdigit()]
    assert sum(shares) == 100, split  # 25% + 75%, the failover tiers are not added in
    assert "failover1.sipdomain.test" in failover


def test_bad_domains_and_special_files_are_one_line(bind: BindServer, tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    srv = ["-s", bind.nameserver]
    for args in (
        ["drain", "sip1", "-d", "x..test", *srv],
        ["drain", "sip1", "-d", "a" * 64 + ".test", *srv],
        ["undrain", "b" * 64, "-d", "freeswitch.test", *srv],
        ["drain", "sip1", "-d", "freeswitch.test", *srv, "--state-file", "/proc/nope/x.json"],
        ["resolve", "a.test", "--zone", str(fifo)],
        ["zone", "render", str(fifo)],
        ["zone", "apply", str(ONSIP_PLAN), *srv, "--key", str(fifo)],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        lines = [ln for ln in result.output.splitlines() if "error" in ln]
        assert len(lines) == 1 and "Traceback" not in result.output, (args, result.output)


def test_password_and_ca_files_must_be_regular_files(tmp_path: Path) -> None:
    """A FIFO given to --password-file or --ca-file blocked forever."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    zone = ["--zone", str(EXAMPLE_ZONES / "airties.test.zone")]
    for args in (
        ["register", "sip:alice@airties.test", "--password-file", str(fifo), "--once", *zone],
        ["probe", "airties.test", "--ca-file", str(fifo), *zone],
    ):
        result = runner.invoke(app, args)
        assert result.exit_code == 2, (args, result.output)
        assert "FIFO" in result.output and "Traceback" not in result.output

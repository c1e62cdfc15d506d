"""``siplocate register`` and ``siplocate probe`` end to end: JSON shapes, exit codes, signals."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.fixtures.kamailio import PASSWORD, Cluster
from tests.fixtures.servers import read_line

pytestmark = pytest.mark.integration
ATTEMPT_KEYS = ["transport", "host", "address", "port", "status", "error", "ms"]


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    p = tmp_path / "pw"
    p.write_text(PASSWORD + "\n")
    p.chmod(0o600)  # else a warning joins stderr
    return p


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.stdout + result.stderr
    return result.exit_code, result.stdout, result.stderr


def common(cluster: Cluster) -> list[str]:
    return ["-n", cluster.nameserver, "-t", "udp", "--failover-after", "500ms", "--t1", "100ms"]


def test_register_once_json_shape(cluster: Cluster, pwfile: Path) -> None:
    code, out, _ = cli(
        "register", cluster.aor, "--password-file", str(pwfile), "--once", "--json",
        *common(cluster),
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert list(data) == ["registered", "attempts"]
    assert data["registered"] == {
        "transport": "udp",
        "host": "sip1.client.test",
        "address": "127.0.0.2",
        "port": cluster.primary.port,
    }
    assert [list(a) for a in data["attempts"]] == [ATTEMPT_KEYS, ATTEMPT_KEYS]
    assert [a["status"] for a in data["attempts"]] == [401, 200]


def test_register_once_shows_failover(cluster: Cluster, pwfile: Path) -> None:
    cluster.primary.kill()
    code, out, _ = cli("register", cluster.aor, "--password-file", str(pwfile), *common(cluster))
    assert code == 0
    lines = out.splitlines()
    assert "127.0.0.2" in lines[0] and "connection refused" in lines[0]
    assert lines[-1].startswith("registered at udp 127.0.0.3:")


def test_register_all_down_exits_1_with_one_line(cluster: Cluster, pwfile: Path) -> None:
    cluster.primary.kill()
    cluster.backup.kill()
    code, out, err = cli(
        "register", cluster.aor, "--password-file", str(pwfile), "--json", *common(cluster)
    )
    assert code == 1
    data = json.loads(out)
    assert data["registered"] is None and len(data["attempts"]) == 2
    assert err.count("\n") == 1 and "no server answered REGISTER" in err


def test_wrong_password_exits_1_after_one_challenge(cluster: Cluster, tmp_path: Path) -> None:
    bad = tmp_path / "bad"
    bad.write_text("nope\n")
    bad.chmod(0o600)
    code, out, err = cli(
        "register", cluster.aor, "--password-file", str(bad), "--json", *common(cluster)
    )
    assert code == 1
    assert [a["status"] for a in json.loads(out)["attempts"]] == [401, 401]
    assert err.strip().startswith("siplocate: error: authentication failed for alice")


@pytest.mark.parametrize(
    "args",
    [
        ["--policy", "roundrobin"],
        ["--policy", "static"],
        ["--sip-server", "127.0.0.2"],
        ["--once", "--follow"],
        ["--expires", "0"],
        ["--probe-interval", "1s"],
        ["--failover-after", "soon"],
        ["--password-file", "/nonexistent/pw"],
    ],
)
def test_bad_input_exits_2(cluster: Cluster, args: list[str]) -> None:
    code, _, err = cli("register", cluster.aor, *common(cluster), *args)
    assert code == 2, err
    assert err.startswith("siplocate: error: ") and err.count("\n") == 1


def test_probe_table_json_and_exit_codes(cluster: Cluster) -> None:
    cluster.backup.kill()
    code, out, _ = cli("probe", "client.test", "-n", cluster.nameserver, "--timeout", "500ms")
    assert code == 0
    rows = out.splitlines()
    assert rows[0].split() == ["transport", "host", "address:port", "status", "latency"]
    assert len(rows) == 5  # udp and tcp to both servers
    assert any("127.0.0.3" in r and "connection refused" in r for r in rows)
    code, out, _ = cli(
        "probe", "client.test", "-n", cluster.nameserver, "--timeout", "500ms", "--json"
    )
    data = json.loads(out)
    assert [t["status"] for t in data["targets"]] == [200, None, 200, None]
    assert list(data["targets"][0]) == ATTEMPT_KEYS
    cluster.primary.kill()
    code, _, err = cli("probe", "client.test", "-n", cluster.nameserver, "--timeout", "300ms")
    assert code == 1 and "no target of client.test answered OPTIONS" in err


def test_follow_json_events_and_sigterm_unregisters(cluster: Cluster, pwfile: Path) -> None:
    args = [
        sys.executable, "-c", "from siplocate.cli import main; main()",
        "register", cluster.aor, "--password-file", str(pwfile), "--follow", "--json",
        "--expires", "60", "--probe-interval", "300ms", "--failback", "probe",
        *common(cluster),
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(read_line(proc.stdout))
        assert list(first) == [
            "event", "transport", "host", "address", "port", "at", "attempts", "flow", "detail",
        ]  # fmt: skip
        assert first["flow"] is None  # not an RFC 5626 flow
        assert [a["status"] for a in first["attempts"]] == [401, 200]
        assert first["event"] == "registered" and first["address"] == "127.0.0.2"
        assert abs(first["at"] - time.time()) < 10
        cluster.primary.kill()
        second = json.loads(read_line(proc.stdout))
        assert second["event"] == "failover" and second["address"] == "127.0.0.3"
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_register_from_a_zone_file_over_tcp(cluster: Cluster, pwfile: Path, tmp_path: Path) -> None:
    from tests.fixtures.kamailio import cluster_zone

    zone = tmp_path / "client.test.zone"
    zone.write_text(cluster_zone("client.test", cluster.addresses))
    code, out, _ = cli(
        "register", cluster.aor, "--password-file", str(pwfile), "--json",
        "--zone", str(zone), "--transports", "tcp",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["registered"]["transport"] == "tcp"


def test_register_static_policy_needs_no_dns(cluster: Cluster, pwfile: Path) -> None:
    cluster.primary.kill()
    code, out, _ = cli(
        "register", cluster.aor, "--password-file", str(pwfile), "--json",
        "--policy", "static", "--sip-server", cluster.primary.hostport,
        "--sip-server", cluster.backup.hostport, "-t", "udp",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["registered"]["address"] == "127.0.0.3"
    assert data["attempts"][0]["error"] == "connection refused"


# Seeing the SIP side (issue 18 item 4) ------------------------------------------------------

PERF = r"'(udp|tcp) 127\.0\.0\.[23]:\d+'=(\d+\.\d+ms|U);;;0"


def test_verbose_prints_each_message_sent_and_received_on_stderr(
    cluster: Cluster, pwfile: Path
) -> None:
    code, out, err = cli(
        "register", cluster.aor, "--password-file", str(pwfile), "--once", "--json", "-v",
        *common(cluster),
    )  # fmt: skip
    assert code == 0
    assert [a["status"] for a in json.loads(out)["attempts"]] == [401, 200]  # JSON untouched
    heads = [line for line in err.splitlines() if " bytes " in line]
    port = cluster.primary.port
    assert [h.split()[1] for h in heads] == ["sent", "received", "sent", "received"]
    for h in heads:
        assert re.match(
            rf"\d\d:\d\d:\d\d\.\d{{3}} (sent \d+ bytes to|received \d+ bytes from) "
            rf"udp 127\.0\.0\.2:{port} \(local 127\.0\.0\.\d+:\d+\)$",
            h,
        ), h
    assert "\nREGISTER sip:client.test SIP/2.0\n" in err
    assert "\nSIP/2.0 401 Unauthorized\n" in err and "\nSIP/2.0 200 OK\n" in err
    assert "Authorization: Digest " in err
    code, out, err = cli("probe", "client.test", "-n", cluster.nameserver, "-t", "udp", "-v")
    assert code == 0 and "OPTIONS sip:127.0.0.2:" in err and "SIP/2.0 200 OK" in err
    code, _, err = cli("probe", "client.test", "-n", cluster.nameserver, "-t", "udp")
    assert err == ""  # without -v: nothing


def test_one_wording_per_failure_cause_in_probe_and_register(
    cluster: Cluster, pwfile: Path
) -> None:
    """A closed UDP port read "no usable answer" in probe and "connection refused" in
    register; a silent server gave two other wordings."""
    cluster.primary.kill()  # closed port: ICMP port unreachable
    cluster.backup.pause()  # silent
    try:
        _, out, _ = cli(
            "probe", "client.test", "-n", cluster.nameserver, "-t", "udp",
            "--timeout", "500ms", "--json",
        )  # fmt: skip
        probed = [t["error"] for t in json.loads(out)["targets"]]
        _, out, _ = cli(
            "register", cluster.aor, "--password-file", str(pwfile), "--json", *common(cluster)
        )
        registered = [a["error"] for a in json.loads(out)["attempts"]]
    finally:
        cluster.backup.resume()
    assert probed == registered == ["connection refused", "no answer (timeout)"]


def test_probe_plugin_ok_warning_critical_unknown(cluster: Cluster) -> None:
    probe = ["probe", "client.test", "-n", cluster.nameserver, "--timeout", "500ms", "--plugin"]
    code, out, _ = cli(*probe)
    assert code == 0, out
    assert re.fullmatch(rf"SIPLOCATE OK - 4/4 targets answer \| {PERF}( {PERF}){{3}}\n", out)
    assert "=U;" not in out
    cluster.backup.kill()
    code, out, _ = cli(*probe)
    assert code == 1, out
    line = out.strip()
    assert line.startswith("SIPLOCATE WARNING - 2/4 targets answer (not: udp 127.0.0.3:")
    assert "connection refused" in line.split(" | ")[0] and line.count("=U;;;0") == 2
    assert re.fullmatch(rf"SIPLOCATE WARNING - [^|]+ \| {PERF}( {PERF}){{3}}", line)
    cluster.primary.kill()
    code, out, _ = cli(*probe)
    assert code == 2 and out.startswith("SIPLOCATE CRITICAL - 0/4 targets answer"), out
    # DNS has nothing, bad input, a usage error: UNKNOWN, one line on stdout.
    for args in (
        ["probe", "nowhere.client.test", "-n", cluster.nameserver, "--plugin"],
        [*probe, "--timeout", "soon"],
        [*probe, "--json"],
        [*probe, "--no-such-flag"],
    ):
        code, out, _ = cli(*args)
        assert code == 3 and out.startswith("SIPLOCATE UNKNOWN - ") and out.count("\n") == 1, (
            args,
            out,
        )


def test_options_walks_the_list_with_failover_verbose_and_json(cluster: Cluster) -> None:
    cluster.primary.kill()
    code, out, err = cli("options", cluster.aor, "--json", "-v", *common(cluster))
    assert code == 0, err
    data = json.loads(out)
    assert data["answer"] == {
        "status": 200, "phrase": "OK", "transport": "udp", "host": "sip2.client.test",
        "address": "127.0.0.3", "port": cluster.backup.port,
    }  # fmt: skip
    assert [(a["status"], a["error"]) for a in data["attempts"]] == [
        (None, "connection refused"),
        (200, None),
    ]
    assert err.count("\nOPTIONS sip:client.test SIP/2.0\n") == 2  # one per target
    assert "received" in err and "\nSIP/2.0 200 OK\n" in err
    cluster.backup.kill()
    code, out, err = cli("options", "client.test", *common(cluster))
    assert code == 1 and err.startswith("siplocate: error: no server answered OPTIONS")
    assert err.count("\n") == 1 and out.count("connection refused") == 2

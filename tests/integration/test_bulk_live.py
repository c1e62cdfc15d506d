"""Issue 20 item 1 against a real BIND9 (and Kamailio for probe): several arguments, -f FILE
and standard input over one Resolver; a failing input among good ones gives exit 1 and its
error object on its own NDJSON line; check, compare and probe take two inputs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import ROOT
from tests.fixtures.bind import BindServer
from tests.fixtures.kamailio import Cluster

pytestmark = pytest.mark.integration
runner = CliRunner()
SEED = ["--seed", "3"]  # weighted orders compared across calls
GOOD = ["sipdomain.test", "onsip.test", "airties.test", "sip:alice@freeswitch.test"]


def rows(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines()]


def single(bind: BindServer, target: str) -> dict[str, object]:
    result = runner.invoke(app, ["resolve", target, "-n", bind.nameserver, *SEED, "--json"])
    assert result.exit_code == 0, result.output
    data: dict[str, object] = json.loads(result.stdout)
    return data


def test_several_arguments_file_and_stdin_answer_like_single_calls(
    bind: BindServer, tmp_path: Path
) -> None:
    want = {t: single(bind, t)["targets"] for t in GOOD}
    listed = tmp_path / "domains.txt"
    listed.write_text("# customer domains\n" + "\n\n".join(GOOD[2:]) + "\n")
    by_args = runner.invoke(app, ["resolve", *GOOD, "-n", bind.nameserver, *SEED, "--json"])
    by_file = runner.invoke(
        app, ["resolve", GOOD[0], "-f", str(listed), "-", "-n", bind.nameserver, *SEED, "--json"],
        input=f"{GOOD[1]}\n",
    )  # fmt: skip
    for result in (by_args, by_file):
        assert result.exit_code == 0, result.output
        got = rows(result.stdout)
        assert {str(r["input"]) for r in got} == set(GOOD)
        for r in got:
            assert r["targets"] == want[str(r["input"])], r["input"]
            assert "error" not in r
        assert result.stderr.startswith(";; 4 inputs: 4 done, 0 failed in ")
    assert [r["input"] for r in rows(by_args.stdout)] == GOOD  # input order
    assert [r["input"] for r in rows(by_file.stdout)] == [GOOD[0], GOOD[1], *GOOD[2:]]


def test_a_failing_input_among_good_ones(bind: BindServer) -> None:
    names = ["sipdomain.test", "nothere.sipdomain.test", "onsip.test", "sip:a b@x.test"]
    result = runner.invoke(app, ["resolve", *names, "-n", bind.nameserver, "--json"])
    assert result.exit_code == 1
    got = rows(result.stdout)
    assert [r["input"] for r in got] == names
    assert got[0]["targets"] and got[2]["targets"]
    error = got[1]["error"]
    assert isinstance(error, dict) and error["kind"] == "not-found" and error["exit_code"] == 1
    assert "NXDOMAIN" in error["message"] and got[1]["targets"] == []
    assert got[3]["error"]["kind"] == "bad-input"  # type: ignore[index]
    assert result.stderr.splitlines()[-1].startswith(";; 4 inputs: 2 done, 2 failed in ")
    short = runner.invoke(app, ["resolve", *names[:2], "-n", bind.nameserver, "--short"])
    assert short.exit_code == 1
    assert all(line.startswith("sipdomain.test ") for line in short.stdout.splitlines())
    assert "siplocate: error: nothere.sipdomain.test: " in short.stderr


def test_stdin_from_a_real_pipe(bind: BindServer) -> None:
    """A pipe on stdin (read by the runner's thread), the installed command, NDJSON out."""
    text = "".join(f"{t}\n" for t in GOOD * 5)
    out = subprocess.run(
        [sys.executable, "-m", "siplocate", "resolve", "-", "-n", bind.nameserver, "--json",
         "--concurrency", "3"],
        input=text, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert [r["input"] for r in rows(out.stdout)] == GOOD * 5
    assert out.stderr.startswith(";; 20 inputs: 20 done, 0 failed in ")


def test_check_and_compare_take_two_inputs(bind: BindServer) -> None:
    check = runner.invoke(
        app, ["check", "onsip.test", "nothere.onsip.test", "-n", bind.nameserver, "--json"]
    )
    assert check.exit_code == 1
    got = rows(check.stdout)
    one = runner.invoke(app, ["check", "onsip.test", "-n", bind.nameserver, "--json"])
    assert got[0] == {"input": "onsip.test", "findings": json.loads(one.stdout)}
    assert got[1]["error"]["kind"] == "not-found"  # type: ignore[index]
    compare = runner.invoke(
        app, ["compare", "onsip.test", "airties.test", "-n", bind.nameserver, "-p", "pjsua"]
    )
    assert compare.exit_code == 0, compare.output
    assert "==> onsip.test <==" in compare.stdout and "==> airties.test <==" in compare.stdout
    assert "What each kind of client does with airties.test" in compare.stdout
    assert compare.stderr.startswith(";; 2 inputs: 2 done, 0 failed in ")


def test_probe_takes_two_inputs(cluster: Cluster) -> None:
    cluster.backup.kill()
    args = ["probe", "client.test", "sip:bob@client.test", "nothere.client.test"]
    result = runner.invoke(
        app, [*args, "-n", cluster.nameserver, "--timeout", "500ms", "-t", "udp", "--json"]
    )
    assert result.exit_code == 1
    got = rows(result.stdout)
    assert [r["input"] for r in got] == args[1:]
    for r in got[:2]:
        statuses = [t["status"] for t in r["targets"]]  # type: ignore[attr-defined]
        assert statuses == [200, None], r  # the primary answers, the killed backup does not
    assert got[2]["error"]["kind"] == "not-found"  # type: ignore[index]
    assert ";; 3 inputs: 2 done, 1 failed in " in result.stderr

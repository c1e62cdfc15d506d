"""Issue 20 item 1, offline: many inputs per command. Reading (comments, blanks, stdin, FIFOs
refused, long or undecodable lines), the bounded window (memory does not grow with the
input), input order, NDJSON and exit codes, through zone files; the live side is
tests/integration/test_bulk_live.py."""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer._click.exceptions import UsageError
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.cli.bulk import MAX_LINE, WINDOW, Inputs, Line, Outcome, read_lines, run_many
from siplocate.errors import BadInput, NotFound
from tests.conftest import EXAMPLE_ZONES, ROOT
from tests.fixtures.servers import read_line

runner = CliRunner()
ZONES = [
    a
    for name in ("airties", "grandstream", "onsip")
    for a in ("--zone", str(EXAMPLE_ZONES / f"{name}.test.zone"))
]


def texts(data: bytes) -> list[tuple[str, str | None]]:
    return [(x.text, x.problem) for x in read_lines(io.BytesIO(data), "f")]


def test_lines_skip_comments_and_blanks_and_keep_the_line_as_given() -> None:
    data = b"\xef\xbb\xbfa.test\n# a comment\n\n   \n  sip:bob@b.test  # tenant 7\r\nc.test#x\n"
    assert texts(data) == [("a.test", None), ("sip:bob@b.test", None), ("c.test#x", None)]
    where = [x.where for x in read_lines(io.BytesIO(data), "list.txt")]
    assert where == ["list.txt:1", "list.txt:5", "list.txt:6"]


def test_an_undecodable_or_endless_line_fails_alone() -> None:
    long = b"x" * (MAX_LINE * 3)
    got = texts(b"a.test\n\xff\xfe.test\n" + long + b"\nb.test\n" + long)
    assert got[0] == ("a.test", None) and got[3] == ("b.test", None)
    assert got[1][1] == "input f:2: byte 0xff is not UTF-8 text"
    assert got[2][1] == f"f:3: longer than {MAX_LINE} bytes" and len(got[2][0]) < 100
    assert got[4][1] == f"f:5: longer than {MAX_LINE} bytes" and len(got) == 5


class Zeros(io.RawIOBase):
    """An endless stream with no end of line, as /dev/zero on standard input."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
        buffer[:] = bytes(len(buffer))
        return len(buffer)


def test_a_stream_without_end_of_line_stops_the_run_instead_of_reading_forever() -> None:
    lines = read_lines(io.BufferedReader(Zeros()), "<stdin>")
    with pytest.raises(BadInput, match=r"<stdin>:1: no end of line within 1048576 bytes"):
        list(lines)


def test_inputs_in_order_arguments_stdin_then_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    listed = tmp_path / "list.txt"
    listed.write_text("c.test\n# skipped\nd.test\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"b.test\n")))
    inputs = Inputs(["a.test", "-", "e.test"], [str(listed)])
    assert [x.text for x in inputs] == ["a.test", "b.test", "e.test", "c.test", "d.test"]
    assert inputs.single is None and not inputs.blocking
    inputs.close()
    assert Inputs(["a.test"], None).single == "a.test"
    assert Inputs(["a.test", "b.test"], None).single is None


def test_unusable_sources_are_bad_usage(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match=r"is a FIFO .*give a regular file \(or - for standard"):
        Inputs(None, [str(fifo)])  # refused at once: opening it does not block
    with pytest.raises(BadInput, match="is a directory"):
        Inputs(None, [str(tmp_path)])
    with pytest.raises(BadInput, match="cannot read input file"):
        Inputs(None, [str(tmp_path / "missing")])
    with pytest.raises(UsageError, match=r"standard input \(-\) can be read once"):
        Inputs(["-"], ["-"])
    with pytest.raises(UsageError, match="give a TARGET"):
        Inputs([], [])


class Counted:
    """A long input produced on demand, counting how far it has been read."""

    blocking = False

    def __init__(self, n: int) -> None:
        self.n = n
        self.read = 0

    def __iter__(self) -> Iterator[Line]:
        for i in range(self.n):
            self.read += 1
            yield Line(f"d{i}.test", f"argument {i}")


def test_window_bounds_what_is_held_and_output_keeps_input_order(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Whatever the input's length, at most WINDOW x concurrency inputs are read ahead of
    the printed ones and at most `concurrency` run: memory does not grow with the input."""
    n, concurrency = 20_000, 8
    source = Counted(n)
    rng = random.Random(7)
    running = peak_running = ahead = finished = 0

    async def work(text: str) -> Outcome:
        nonlocal running, peak_running, ahead, finished
        running += 1
        peak_running = max(peak_running, running)
        ahead = max(ahead, source.read - finished)
        for _ in range(rng.randrange(6)):  # finish out of order
            await asyncio.sleep(0)
        running -= 1
        finished += 1
        if text.endswith("7.test"):
            raise NotFound(f"{text} does not exist (NXDOMAIN)")
        return Outcome({"target": text}, short=[f"udp {text}:5060"])

    tally = asyncio.run(run_many(source, work, concurrency=concurrency, form="short"))
    assert (tally.done, tally.failed) == (n - n // 10, n // 10)
    assert peak_running == concurrency
    assert concurrency < ahead <= WINDOW * concurrency + 1
    out = capsys.readouterr().out.splitlines()
    want = [f"d{i}.test udp d{i}.test:5060" for i in range(n) if i % 10 != 7]
    assert out == want  # input order, each line prefixed with its input


def test_ndjson_lines_carry_the_input_and_error_objects(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from siplocate.errors import OperationFailed

    async def work(text: str) -> Outcome:
        if text == "bad":
            raise BadInput("not a valid SIP URI")
        if text == "half":
            return Outcome({"domain": text, "targets": []}, failure=OperationFailed("no answer"))
        return Outcome({"domain": text})

    lines = [Line("a.test", "1"), Line("bad", "2"), Line("half", "3"), Line("x", "4", "f:4: no")]

    class Listed:
        blocking = False

        def __iter__(self) -> Iterator[Line]:
            return iter(lines)

    tally = asyncio.run(run_many(Listed(), work, form="json"))
    assert (tally.done, tally.failed) == (1, 3)
    got = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert got == [
        {"input": "a.test", "domain": "a.test"},
        {"input": "bad", "error": {"kind": "bad-input", "message": "not a valid SIP URI",
                                   "exit_code": 2}},
        {"input": "half", "domain": "half", "targets": [],
         "error": {"kind": "operation-failed", "message": "no answer", "exit_code": 1}},
        {"input": "x", "error": {"kind": "bad-input", "message": "f:4: no", "exit_code": 2}},
    ]  # fmt: skip
    assert all(next(iter(x)) == "input" for x in got)


def test_resolve_many_ndjson_and_exit_codes(tmp_path: Path) -> None:
    listed = tmp_path / "domains.txt"
    listed.write_text("# customers\nairties.test\n\ngrandstream.test  # trunk\n")
    ok = runner.invoke(app, ["resolve", "-f", str(listed), "onsip.test", *ZONES, "--json"])
    assert ok.exit_code == 0, ok.output
    rows = [json.loads(x) for x in ok.stdout.splitlines()]
    assert [r["input"] for r in rows] == ["onsip.test", "airties.test", "grandstream.test"]
    single = json.loads(runner.invoke(app, ["resolve", "airties.test", *ZONES, "--json"]).stdout)
    assert list(rows[1]) == ["input", *single]
    assert rows[1]["targets"] == single["targets"]
    assert ok.stderr.startswith(";; 3 inputs: 3 done, 0 failed in ")
    names = ["airties.test", "nope.airties.test", "a b"]
    bad = runner.invoke(app, ["resolve", *names, *ZONES, "--json"])
    assert bad.exit_code == 1
    rows = [json.loads(x) for x in bad.stdout.splitlines()]
    assert rows[0]["targets"] and "error" not in rows[0]
    assert rows[1]["error"]["kind"] == "not-found" and rows[1]["targets"] == []
    assert rows[1]["trace"]  # the partial chain beside it, as for one input
    assert rows[2]["error"]["kind"] == "bad-input" and rows[2]["input"] == "a b"
    assert "siplocate: error: nope.airties.test: nope.airties.test does not exist" in bad.stderr
    assert ";; 3 inputs: 1 done, 2 failed in " in bad.stderr


def test_bad_usage_is_exit_2_with_one_json_object(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for args in (["-f", str(fifo)], [], ["-", "-f", "-"], ["a.test", "--concurrency", "0"]):
        result = runner.invoke(app, ["resolve", *args, *ZONES, "--json"])
        assert result.exit_code == 2, (args, result.output)
        assert list(json.loads(result.stdout)) == ["error"], args
        kind = json.loads(result.stdout)["error"]["kind"]
        assert kind == ("bad-input" if args[:1] == ["-f"] else "usage"), args
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_short_prefixes_each_line_with_its_input_from_stdin() -> None:
    result = runner.invoke(app, ["resolve", "-", *ZONES, "--seed", "1", "--short"],
                           input="airties.test\n# x\nsip:6903@grandstream.test\n")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    single = runner.invoke(app, ["resolve", "airties.test", *ZONES, "--seed", "1", "+short"])
    assert lines[:4] == [f"airties.test {x}" for x in single.stdout.splitlines()]
    assert lines[4:] == ["sip:6903@grandstream.test udp 192.0.2.13:5060",
                         "sip:6903@grandstream.test udp 192.0.2.12:5060"]  # fmt: skip


def test_people_get_each_inputs_usual_output_under_a_heading() -> None:
    one = runner.invoke(app, ["check", "onsip.test", *ZONES])
    many = runner.invoke(app, ["check", "airties.test", "onsip.test", *ZONES])
    assert many.exit_code == 0
    assert many.stdout.startswith("==> airties.test <==\n")
    assert many.stdout.endswith(f"\n\n==> onsip.test <==\n{one.stdout}")


def test_check_and_compare_take_many_inputs() -> None:
    check = runner.invoke(app, ["check", "airties.test", "nope.airties.test", *ZONES, "--json"])
    assert check.exit_code == 1
    rows = [json.loads(x) for x in check.stdout.splitlines()]
    assert rows[0]["findings"][0]["code"] == "domain-no-address"
    assert rows[1]["error"]["kind"] == "not-found"
    compare = runner.invoke(
        app, ["compare", "airties.test", "onsip.test", *ZONES, "-p", "kamailio", "--json"]
    )
    assert compare.exit_code == 0, compare.output
    rows = [json.loads(x) for x in compare.stdout.splitlines()]
    assert [(r["input"], r["domain"]) for r in rows] == [
        ("airties.test", "airties.test"), ("onsip.test", "onsip.test")
    ]  # fmt: skip
    assert [p["profile"] for p in rows[1]["profiles"]] == ["kamailio"]


def test_a_pipe_on_stdin_streams_results_before_it_ends() -> None:
    """Standard input from a pipe is read by a thread: the first answer is printed while
    the writer has not finished (and its end finishes the run)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "siplocate", "resolve", "-", *ZONES, "--short"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        cwd=ROOT,
    )  # fmt: skip
    assert child.stdin is not None and child.stdout is not None
    try:
        child.stdin.write("grandstream.test\n")
        child.stdin.flush()
        assert read_line(child.stdout).startswith("grandstream.test udp 192.0.2.1")
        _, err = child.communicate("airties.test\n", timeout=30)
    finally:
        child.kill()
    assert child.returncode == 0 and ";; 2 inputs: 2 done, 0 failed" in err


def test_control_characters_of_an_input_never_reach_the_terminal() -> None:
    result = runner.invoke(app, ["resolve", "-", *ZONES], input="air\x1b[2Jties.test\nonsip.test\n")
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout + result.stderr
    assert "==> air\\x1b[2Jties.test <==" in result.stdout

"""The README's examples are a contract: each ``$ siplocate ...`` block is run and its output
compared with the README's text; each ```python block compiles, its imports resolve, and
those marked with a setup run; the ``siplocate`` lines of ```sh blocks and the usage
synopses go through the real option parser; marked ```json blocks have the real keys; the
lint rule table is ``RULES``.

The README is the source of truth: examples are parsed from README.md. A block is marked by
the nearest HTML comment above its opening fence:

- ``<!-- not run: REASON -->``: not run (listed as skipped, with the reason);
- ``<!-- setup: NAME -->``: run against the real servers of setup NAME (``SETUPS`` below),
  which says what stands for what in the command (the README's ``127.0.0.1:5300`` is the
  nameserver the setup started);
- ``<!-- stderr of the example above -->``: the block is the previous example's stderr;
- ``<!-- shape of: siplocate ... --json -->`` above a ```json block: the command runs
  (offline, or against ``; setup: NAME``) and its JSON has the block's keys, in the
  block's order (values are not compared).

Unmarked examples run offline (``--zone`` files, ``zone lint``) from the project root, with
80 columns. A command ending in ``2>&1`` shows stdout and stderr together. Volatile parts
are normalised on both sides: decimal timings (``3.5 ms``, ``0.0 s``), the seconds a
resolution stays valid (they count down while it runs), trailing spaces,
and under a setup the ports on loopback (chosen at run time) and runs of spaces (column
widths follow the ports), clock times, message sizes and SIP ids. In the README a ``...``
within a line stands for any text, a line that is only ``...`` for any number of lines.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import difflib
import importlib
import importlib.util
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
import typer.main
from typer._click.core import Command  # typer 0.2x vendors click
from typer._click.exceptions import ClickException

from siplocate.cli import app
from siplocate.cli.common import dig_argv
from tests.conftest import ROOT, TEST_ZONES, start_bind

pytestmark = pytest.mark.integration
README = ROOT / "README.md"
FENCE = re.compile(r"^```(\w*)\s*$")
MARK = re.compile(r"^<!--\s*(not run|setup|stderr|shape of)\b:?\s*(.*?)\s*-->\s*$")
README_NAMESERVER = "127.0.0.1:5300"


@dataclass
class Block:
    """One fenced block of the README, with the marker comment above it (if any)."""

    line: int  # 1-based line of the opening fence
    lang: str
    text: list[str]
    mark: str = ""  # "not run", "setup", "stderr", "shape of" or ""
    detail: str = ""


@dataclass
class Example:
    """A ``$ siplocate ...`` command with the stdout (and maybe stderr) the README shows."""

    line: int
    command: str
    stdout: list[str]
    stderr: list[str] | None = None
    setup: str = ""
    not_run: str = ""


def blocks(text: str) -> list[Block]:
    """Every fenced block, in order, with the HTML comment on the nearest non-blank line above."""
    found: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        above = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        mark = MARK.match(above.strip())
        found.append(
            Block(
                i + 1,
                opening.group(1),
                lines[i + 1 : end],
                mark.group(1) if mark else "",
                mark.group(2) if mark else "",
            )
        )
        i = end + 1
    return found


def examples(text: str) -> list[Example]:
    """The ``$ siplocate`` examples; a ``stderr`` block attaches to the example before it."""
    found: list[Example] = []
    for block in blocks(text):
        if block.mark == "stderr":
            assert found, f"README line {block.line}: a stderr block follows no example"
            found[-1].stderr = block.text
            continue
        if not block.text or not block.text[0].startswith("$ siplocate "):
            continue
        assert not any(t.startswith("$ ") for t in block.text[1:]), (
            f"README line {block.line}: one command per block"
        )
        found.append(
            Example(
                block.line,
                block.text[0][2:],
                block.text[1:],
                setup=block.detail if block.mark == "setup" else "",
                not_run=block.detail if block.mark == "not run" else "",
            )
        )
    return found


#: Live output parts that differ on every run: (pattern, replacement). Ports on loopback
#: are chosen at run time, columns widen with them; SIP ids and clock times are random.
LIVE = [
    (r"\b(127\.0\.0\.\d+):\d+", r"\1:PORT"),
    (r" {2,}", "  "),
    (r"^\d\d:\d\d:\d\d\.\d{3} ", "HH:MM:SS.mmm "),
    (r"\b\d+ bytes\b", "N bytes"),
    (r"\b(branch=z9hG4bK|tag=|Call-ID: )[\w.-]+", r"\1ID"),
]


def normalise(lines: list[str], live: bool) -> list[str]:
    """Volatile parts out: decimal timings, trailing spaces; live: ``LIVE``."""
    out = []
    for line in lines:
        line = re.sub(r"\d+\.\d+(?= ?(?:ms|s)\b)", "N", line.rstrip())
        line = re.sub(r"\bvalid \d+ s\b", "valid N s", line)  # counts down while it runs
        for pattern, replacement in LIVE if live else []:
            line = re.sub(pattern, replacement, line)
        out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def matches(shown: list[str], actual: list[str]) -> bool:
    """The README's lines match the output's: a ``...`` within a line stands for any text,
    a line that is only ``...`` for any number of lines."""
    pattern = "".join(
        r"(?:[^\n]*\n)*?" if line == "..." else ".*".join(map(re.escape, line.split("..."))) + "\n"
        for line in shown
    )
    return re.fullmatch(pattern, "".join(f"{line}\n" for line in actual)) is not None


def assert_same(example: Example, shown: list[str], actual: list[str], what: str) -> None:
    live = bool(example.setup)
    want, got = normalise(shown, live), normalise(actual, live)
    diff = difflib.unified_diff(want, got, "README.md", "actual", lineterm="")
    assert matches(want, got), (
        f"README line {example.line}: the {what} of `{example.command}` drifted "
        "(normalised; update README.md, or fix the output if it is wrong):\n" + "\n".join(diff)
    )


def run(command: str, stands_for: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run the command as a shell would (``2>&1`` merges stderr into stdout), no terminal."""
    argv = shlex.split(command)
    merged = argv[-1] == "2>&1"
    argv = argv[:-1] if merged else argv
    assert argv[0] == "siplocate"
    for shown, actual in stands_for.items():
        argv = [a.replace(shown, actual) for a in argv]
    env = {**os.environ, "COLUMNS": "80", "LINES": "50", "NO_COLOR": "1", "TERM": "dumb"}
    return subprocess.run(
        [sys.executable, "-c", "from siplocate.cli import main; main()", *argv[1:]],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if merged else subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


# --- setups: real servers for the examples that need them ------------------------------


def _client_test_sip2_down(request: pytest.FixtureRequest) -> dict[str, str]:
    """client.test in BIND9 (tests/fixtures/kamailio.py): Kamailio sip1 answers, sip2 killed."""
    cluster = request.getfixturevalue("cluster")
    cluster.backup.kill()
    return {README_NAMESERVER: cluster.nameserver}


def _client_test_sip1_down(request: pytest.FixtureRequest) -> dict[str, str]:
    """client.test in BIND9: Kamailio sip1 killed (its port refuses), sip2 answers."""
    cluster = request.getfixturevalue("cluster")
    cluster.primary.kill()
    return {README_NAMESERVER: cluster.nameserver}


def _client_test_up(request: pytest.FixtureRequest) -> dict[str, str]:
    """client.test in BIND9 with both Kamailio registrars up; alice's password in alice.pw."""
    from tests.fixtures.kamailio import PASSWORD

    cluster = request.getfixturevalue("cluster")
    password = request.getfixturevalue("tmp_path") / "alice.pw"
    password.write_text(PASSWORD + "\n")
    password.chmod(0o600)  # else a warning joins stderr
    return {README_NAMESERVER: cluster.nameserver, "alice.pw": str(password)}


def _example_com_drain_records_disagree(request: pytest.FixtureRequest) -> dict[str, str]:
    """A BIND9 primary (TSIG updates) serving example.com with sip2 drained and two drain
    records restoring different priorities (tests/zones/manage/drain-disagree...zone)."""
    bind = start_bind([TEST_ZONES / "manage" / "drain-disagree.example.com.zone"], tsig=True)
    request.addfinalizer(bind.stop)
    return {"192.0.2.53": bind.nameserver, "k.conf": str(bind.key_file)}


def _example_com_in_bind(request: pytest.FixtureRequest) -> dict[str, str]:
    """A BIND9 primary (TSIG updates) serving example.com (tests/zones/manage/), the
    FreeSWITCH example zone and the ENUM test zone, for the library snippets: the plan is
    examples/plans/freeswitch.toml."""
    zone = TEST_ZONES / "manage" / "example.com.zone"
    served = [zone, ROOT / "examples" / "zones" / "freeswitch.test.zone"]
    bind = start_bind([*served, TEST_ZONES / "manage" / "enum-e164.arpa.zone"], tsig=True)
    request.addfinalizer(bind.stop)
    return {
        README_NAMESERVER: bind.nameserver,
        "192.0.2.53": bind.nameserver,
        "key.conf": str(bind.key_file),
        "plan.toml": str(ROOT / "examples" / "plans" / "freeswitch.toml"),
        "example.com.zone": str(zone),
    }


SETUPS: dict[str, Callable[[pytest.FixtureRequest], dict[str, str]]] = {
    "example.com in BIND9": _example_com_in_bind,
    "client.test, sip2 down": _client_test_sip2_down,
    "client.test, sip1 down": _client_test_sip1_down,
    "client.test": _client_test_up,
    "example.com primary, drain records disagree": _example_com_drain_records_disagree,
}

EXAMPLES = examples(README.read_text(encoding="utf-8"))


def _ids(names: list[str]) -> list[str]:
    """Test ids that survive README edits above them: the name, ``#2``... for repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}#{seen[name]}")
    return out


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=_ids([" ".join(e.command.split()[1:3]) for e in EXAMPLES])
)
def test_readme_example_output(example: Example, request: pytest.FixtureRequest) -> None:
    if example.not_run:
        pytest.skip(f"README line {example.line} not run: {example.not_run}")
    stands_for: dict[str, str] = {}
    if example.setup:
        assert example.setup in SETUPS, f"README line {example.line}: no setup {example.setup!r}"
        stands_for = SETUPS[example.setup](request)
    result = run(example.command, stands_for)
    assert "Traceback" not in (result.stderr or "") + result.stdout, result.stderr
    assert_same(example, example.stdout, result.stdout.splitlines(), "stdout")
    if example.stderr is not None:
        assert_same(example, example.stderr, result.stderr.splitlines(), "stderr")


def test_readme_has_examples_and_few_are_not_run() -> None:
    """The parser finds the examples (a README reshuffle must not silently drop them all)."""
    run_offline = [e for e in EXAMPLES if not e.not_run and not e.setup]
    not_run = [e for e in EXAMPLES if e.not_run]
    assert len(run_offline) >= 5, [e.command for e in EXAMPLES]
    assert len(not_run) <= 3, [e.command for e in not_run]


# --- JSON shapes ---------------------------------------------------------------------------

SHAPES = [b for b in blocks(README.read_text(encoding="utf-8")) if b.mark == "shape of"]


def _same_shape(shown: object, actual: object, where: str) -> list[str]:
    """Where the README's JSON and the real JSON differ in keys: objects have the same keys
    in the same order; each element of a README list has the shape of some real element."""
    if isinstance(shown, dict):
        if not isinstance(actual, dict):
            return [f"{where}: an object in the README, {type(actual).__name__} in the output"]
        if list(shown) != list(actual):
            return [f"{where}: keys {list(shown)} in the README, {list(actual)} in the output"]
        return [p for k in shown for p in _same_shape(shown[k], actual[k], f"{where}.{k}")]
    if isinstance(shown, list) and isinstance(actual, list):
        return [
            f"{where}[{i}]: no element of the output has its shape"
            for i, item in enumerate(shown)
            if actual and all(_same_shape(item, a, where) for a in actual)
        ]
    return []


@pytest.mark.parametrize("block", SHAPES, ids=[b.detail.split()[1] for b in SHAPES])
def test_readme_json_shape(block: Block, request: pytest.FixtureRequest) -> None:
    command, _, setup = block.detail.partition("; setup: ")
    stands_for: dict[str, str] = {}
    if setup:
        assert setup in SETUPS, f"README line {block.line}: no setup {setup!r}"
        stands_for = SETUPS[setup](request)
    result = run(command, stands_for)
    problems = _same_shape(json.loads("\n".join(block.text)), json.loads(result.stdout), "$")
    assert not problems, f"README line {block.line}: " + "; ".join(problems)


# --- python snippets ---------------------------------------------------------------------

PYTHON = [b for b in blocks(README.read_text(encoding="utf-8")) if b.lang == "python"]
RUN_PYTHON = [b for b in PYTHON if b.mark == "setup"]


def _bound_names(tree: ast.AST) -> set[str]:
    """Names a snippet binds anywhere (imports, assignments, defs, loop targets, args)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store | ast.Del):
            bound.add(node.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
    return bound


def _imports(tree: ast.AST) -> Iterator[tuple[str, str | None]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield from ((node.module, a.name) for a in node.names)


def _attribute_chains(tree: ast.AST, root: str) -> Iterator[list[str]]:
    """``siplocate.X.Y`` chains read from the module object ``root``."""
    for node in ast.walk(tree):
        chain: list[str] = []
        cur: ast.expr = node  # type: ignore[assignment]
        while isinstance(cur, ast.Attribute):
            chain.insert(0, cur.attr)
            cur = cur.value
        if chain and isinstance(cur, ast.Name) and cur.id == root:
            yield chain


@pytest.mark.parametrize("block", PYTHON, ids=_ids([(b.text or ["empty"])[0][:40] for b in PYTHON]))
def test_readme_python_snippet_compiles_and_imports_resolve(block: Block) -> None:
    """Compiles (top-level ``await`` allowed, as in a REPL or notebook); every import resolves;
    every name it uses is bound by it or is a builtin; ``siplocate.X`` names exist."""
    source = "\n".join(block.text)
    if block.mark == "not run":
        pytest.skip(f"README line {block.line} not run: {block.detail}")
    tree = compile(
        source,
        f"README.md:{block.line}",
        "exec",
        flags=ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        dont_inherit=True,
    )
    compile(tree, f"README.md:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    for module, name in _imports(tree):
        imported = importlib.import_module(module)
        if name is not None:
            assert hasattr(imported, name) or importlib.util.find_spec(f"{module}.{name}"), (
                f"README line {block.line}: {module} has no {name}"
            )
    bound = _bound_names(tree) | set(dir(builtins))
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    # A snippet that continues an earlier one says so by using its objects: these are the
    # objects the earlier snippets of that section made (the client of "From Python").
    continued = {"client"}
    missing = sorted(used - bound - continued)
    assert not missing, f"README line {block.line}: names used but never imported: {missing}"
    for chain in _attribute_chains(tree, "siplocate"):
        obj: object = importlib.import_module("siplocate")
        for attr in chain[:1]:
            assert hasattr(obj, attr), f"README line {block.line}: siplocate has no {attr}"


@pytest.mark.parametrize("block", RUN_PYTHON, ids=_ids([b.detail for b in RUN_PYTHON]))
def test_readme_python_snippet_runs(
    block: Block, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    """A snippet marked with a setup runs (top-level ``await`` as ``python -m asyncio`` runs
    it) against that setup's servers, the README's addresses and file names standing for
    the setup's; it must finish without an exception and print what it prints."""
    assert block.detail in SETUPS, f"README line {block.line}: no setup {block.detail!r}"
    source = "\n".join(block.text)
    for shown, actual in SETUPS[block.detail](request).items():
        source = source.replace(shown, actual)
    code = compile(source, f"README.md:{block.line}", "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
    result = types.FunctionType(code, {"__name__": "readme"})()
    if inspect.iscoroutine(result):
        asyncio.run(result)
    if "print(" in source:
        assert capsys.readouterr().out.strip(), f"README line {block.line}: printed nothing"


# --- command lines without output: they must still parse --------------------------------


def _logical_lines(text: list[str]) -> list[str]:
    """Shell lines with their backslash continuations joined (comments cut first)."""
    joined: list[str] = []
    pending = ""
    for raw in text:
        line = raw.split("  #")[0].rstrip()
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        joined.append(pending + line.strip() if pending else line)
        pending = ""
    return joined


_README_BLOCKS = blocks(README.read_text(encoding="utf-8"))
COMMAND_LINES = [
    (b.line, line.split(" > ")[0].strip())
    for b in _README_BLOCKS
    if b.lang == "sh"
    for line in _logical_lines(b.text)
    if line.startswith("siplocate ") and "$(" not in line
]
SYNOPSES = [b for b in _README_BLOCKS if b.text and re.match(r"siplocate \w+ .*\[--", b.text[0])]


def _command(argv: list[str]) -> tuple[Command, str, list[str]]:
    """The (sub)command an argument list names, its name and the rest of the arguments."""
    group = typer.main.get_command(app)
    command: Command = group
    i = 0
    while isinstance(getattr(command, "commands", None), dict):  # a group (TyperGroup)
        commands: dict[str, Command] = getattr(command, "commands")  # noqa: B009
        assert i < len(argv) and argv[i] in commands, f"no command in {argv}"
        command = commands[argv[i]]
        i += 1
    return command, argv[i - 1], argv[i:]


@pytest.mark.parametrize("line", COMMAND_LINES, ids=_ids([c for _, c in COMMAND_LINES]))
def test_readme_command_line_parses(line: tuple[int, str]) -> None:
    """Each ``siplocate ...`` line of a ```sh block (shown without output) is read by the
    command line parser as it stands: its options exist and take the values shown."""
    at, text = line
    argv = dig_argv(typer.main.get_command(app), shlex.split(text)[1:])
    command, name, rest = _command(argv)
    try:
        command.make_context(name, rest)
    except ClickException as exc:
        pytest.fail(f"README line {at}: `{text}`: {exc.format_message()}")


@pytest.mark.parametrize("block", SYNOPSES, ids=[b.text[0].split()[1] for b in SYNOPSES])
def test_readme_synopsis_names_only_real_options(block: Block) -> None:
    """A usage synopsis (``siplocate register sip:USER@DOMAIN [--password-file F] ...``)
    names only options the command has."""
    command, _, _ = _command(block.text[0].split()[1:2])
    known = {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
    named = set(re.findall(r"(?<![\w-])(--?[a-z][\w-]*)", "\n".join(block.text)))
    assert named <= known, f"README line {block.line}: no such option {sorted(named - known)}"


def test_readme_rule_table_is_the_rule_table() -> None:
    """The README's table of lint rules lists every rule of ``siplocate.zone.rules.RULES``
    (as ``zone lint --list-rules --json`` prints it) once, with its severity."""
    table = re.findall(
        r"^\| `([a-z0-9-]+)` \| (error|warning|info) \|", README.read_text(encoding="utf-8"), re.M
    )
    result = run("siplocate zone lint --list-rules --json", {})
    rules = [(r["code"], r["severity"]) for r in json.loads(result.stdout)]
    diff = difflib.unified_diff(
        sorted(" ".join(r) for r in table), sorted(" ".join(r) for r in rules), "README", "RULES"
    )
    assert sorted(table) == sorted(rules), "\n".join(diff)


def test_the_matcher_elides_only_what_it_is_told() -> None:
    """``...`` elides within a line or whole lines, nothing else; normalising keeps what is
    not volatile (a wrong count or a wrong word still fails)."""
    out = ["a 1", "b", "c 12.5 ms", "d"]
    assert matches(["a 1", "...", "d"], out)
    assert matches(normalise(["a ...", "b", "c 3.0 ms", "d"], False), normalise(out, False))
    assert not matches(["a 1", "b", "d"], out)  # a dropped line is drift
    assert not matches(["a 2", "...", "d"], out)
    assert matches(["a 1", "..."], out)  # the tail elided
    assert normalise(["valid 300 s in 3.5 ms  "], live=False) == ["valid N s in N ms"]
    assert normalise(["udp 127.0.0.2:58922  200"], live=True) == ["udp 127.0.0.2:PORT  200"]
    assert normalise(["udp 192.0.2.1:5060"], live=True) == ["udp 192.0.2.1:5060"]

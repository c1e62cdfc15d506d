"""Before/after figures: the same benchmarks on two source trees, alternately, in one run.

Each tree runs its own copy of bench/bench_resolve.py, bench_failover.py and bench_outbound.py
with its own .venv (so an OLD git ref checked out as a worktree measures its own code), on
this machine, one bench at a time: OLD then NEW for each bench (NEW then OLD on even rounds),
so slow drift of the machine's load falls on both sides. Each bench's own output is printed
labelled OLD/NEW, then a summary table of the key rows (median over rounds) with NEW/OLD.
A bench that fails (non-zero exit, e.g. a DNS timeout on a loaded machine) is run once more
and its header says "retry".

Prepare an OLD tree:  git worktree add /work/wt/old 483533d && (cd /work/wt/old && ./dev setup)
Run:  .venv/bin/python bench/compare_trees.py --old /work/wt/old [--new .] [--rounds 1]
      [--full] [--only resolve,failover,outbound]
The default is a shorter run (~10 minutes for both trees; the options used are printed):
bench_resolve --only cold,warm,load (no bulk), bench_failover --t1 0.05 --repeat 3 (RFC
timers scaled down), bench_outbound --runs 1. --full runs every bench with its own defaults
(bench_failover alone then takes ~2.5 minutes of RFC-default timers per tree).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

SHORT = {
    "resolve": ["--only", "cold,warm,load"],
    "failover": ["--t1", "0.05", "--repeat", "3"],
    "outbound": ["--runs", "1"],
}
FULL: dict[str, list[str]] = {"resolve": [], "failover": [], "outbound": []}
TIMEOUT = 1800.0  # seconds for one bench on one tree: a hung bench must not hang the comparison

Figures = dict[str, float]

_NUM = r"([\d.,]+)"


def _num(text: str) -> float:
    return float(text.replace(",", ""))


def parse_resolve(out: str) -> Figures:
    """Cold rows (RTT multiples), warm rates and ratio, load rows, weighted ordering."""
    got: Figures = {}
    cold = re.compile(rf"^(.+?)\s+{_NUM} RTT\s+{_NUM} ms\s+{_NUM} RTT\s+{_NUM} ms\s+{_NUM} RTT")
    load = re.compile(
        rf"^\s*(\d+)%\s+{_NUM}%\s+{_NUM}%\s+(\d+)\s+{_NUM}\s+{_NUM}\s+(\d+)\s+(\d+)\s+\S+\s+(\d+)"
        rf"\s+{_NUM} MiB"
    )
    for line in out.splitlines():
        if m := re.search(rf"measured RTT {_NUM} ms", line):
            got["cold: measured relay RTT (ms)"] = _num(m[1])
        elif m := cold.match(line):
            got[f"cold {m[1].strip()}: fresh (RTT)"] = _num(m[2])
            got[f"cold {m[1].strip()}: long-lived (RTT)"] = _num(m[4])
            got[f"cold {m[1].strip()}: sequential baseline (RTT)"] = _num(m[6])
        elif m := re.search(rf"siplocate Resolver\.locate\(\).*:\s+{_NUM} /s", line):
            got["warm: siplocate locate() /s"] = _num(m[1])
        elif m := re.search(rf"dnspython cached.*:\s+{_NUM} /s", line):
            got["warm: dnspython resolve() /s (baseline)"] = _num(m[1])
        elif m := re.match(rf"ratio: {_NUM}x", line):
            got["warm: ratio siplocate/dnspython"] = _num(m[1])
        elif m := load.match(line):
            loss = m[1]
            got[f"load {loss}% loss: with targets (%)"] = _num(m[2])
            got[f"load {loss}% loss: hung"] = _num(m[4])
            got[f"load {loss}% loss: wall (s)"] = _num(m[5])
            got[f"load {loss}% loss: cpu (s)"] = _num(m[6])
            got[f"load {loss}% loss: peak RSS (MiB)"] = _num(m[10])
        elif m := re.match(rf"{_NUM} domains/s", line):
            got["bulk: domains/s"] = _num(m[1])
        elif m := re.search(rf"SRV records {_NUM} ms, \d+ records {_NUM} ms", line):
            got["weighted ordering: 20 records (ms)"] = _num(m[1])
            got["weighted ordering: 2000 records (ms)"] = _num(m[2])
    return got


def parse_failover(out: str) -> Figures:
    """The figure table: the first number of the siplocate and RFC-default columns."""
    got: Figures = {}
    lines = out.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("figure") and "RFC default" in line:
            ours, rfc, target = (line.index(h) for h in ("siplocate", "RFC default", "target"))
            for row in lines[i + 1 :]:
                if not row.strip():
                    break
                name = row[:ours].strip()
                for label, cell in (("", row[ours:rfc]), (" [RFC default]", row[rfc:target])):
                    if m := re.match(rf"\s*{_NUM}( ms)?", cell):
                        unit = " (ms)" if m[2] else ""
                        got[f"failover {name}{unit}{label}"] = _num(m[1])
            break
    return got


def parse_outbound(out: str) -> Figures:
    """Per mode: median registration gap and median time until a call reaches the client."""
    got: Figures = {}
    row = re.compile(rf"^(\S+)\s+median\s+{_NUM} s\s+max\s+{_NUM} s\s+median\s+{_NUM} s")
    for line in out.splitlines():
        if m := row.match(line):
            got[f"outbound {m[1]}: registration gap (s)"] = _num(m[2])
            got[f"outbound {m[1]}: call reaches client (s)"] = _num(m[4])
    return got


PARSERS: dict[str, Callable[[str], Figures]] = {
    "resolve": parse_resolve,
    "failover": parse_failover,
    "outbound": parse_outbound,
}


def run(tree: Path, bench: str, args: list[str]) -> tuple[str, float, bool]:
    """One bench on one tree, with that tree's interpreter, from that tree: its output, the
    seconds it took, and whether it finished well (exit 0 in time)."""
    python = tree / ".venv" / "bin" / "python"
    cmd = [str(python), f"bench/bench_{bench}.py", *args]
    started = time.monotonic()
    try:
        proc = subprocess.run(
            cmd, cwd=tree, capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        return f"[failed: timed out after {TIMEOUT:.0f} s]", time.monotonic() - started, False
    out = proc.stdout
    if proc.returncode:
        out += f"\n[failed: exit {proc.returncode}]\n{proc.stderr[-1500:]}"
    return out, time.monotonic() - started, proc.returncode == 0


def _tree(path: str) -> Path:
    tree = Path(path).resolve()
    if not (tree / ".venv" / "bin" / "python").exists():
        sys.exit(f"{tree}: no .venv here (run ./dev setup in that tree first)")
    return tree


def _git_head(tree: Path) -> str:
    proc = subprocess.run(
        ["git", "-C", str(tree), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip()[:90] or "(not a git tree)"


def _cell(value: float | None) -> str:
    """A figure in 10 columns: thousands with separators, small ones to 4 significant digits."""
    if value is None:
        return f"{'missing':>10}"
    return f"{value:10,.0f}" if abs(value) >= 1000 else f"{value:10.4g}"


def summary(figures: dict[str, list[Figures]], names: list[str]) -> None:
    """Key rows side by side: median over rounds per tree, and NEW/OLD."""
    sides = ("OLD", "NEW")
    keys: list[str] = []
    for bench in names:
        for side in sides:
            for got in figures[f"{bench} {side}"]:
                keys += [k for k in got if k not in keys]
    width = max([len(k) for k in keys] + [20])
    print("\n## Summary (median over rounds; NEW/OLD > 1 means a bigger figure on NEW)")
    print(f"{'figure':<{width}}  {'OLD':>10}  {'NEW':>10}  {'NEW/OLD':>8}")
    for key in keys:
        cells = []
        for side in sides:
            seen = [g[key] for bench in names for g in figures[f"{bench} {side}"] if key in g]
            cells.append(statistics.median(seen) if seen else None)
        old, new = cells
        ratio = f"{new / old:8.2f}" if old and new is not None else f"{'-':>8}"
        show = [_cell(c) for c in cells]
        print(f"{key:<{width}}  {show[0]}  {show[1]}  {ratio}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--old", required=True, help="the OLD tree (with its own .venv)")
    parser.add_argument(
        "--new",
        default=str(Path(__file__).resolve().parent.parent),
        help="the NEW tree (default: the tree holding this script)",
    )
    parser.add_argument("--rounds", type=int, default=1, help="OLD/NEW pairs per bench")
    parser.add_argument("--full", action="store_true", help="each bench with its own defaults")
    parser.add_argument(
        "--only",
        default="resolve,failover,outbound",
        help="comma-separated: resolve, failover, outbound",
    )
    args = parser.parse_args()
    names = [n for n in args.only.split(",") if n]
    if not names or not set(names) <= set(PARSERS) or args.rounds < 1:
        sys.exit("--only takes resolve,failover,outbound; --rounds at least 1")
    trees = {"OLD": _tree(args.old), "NEW": _tree(args.new)}
    options = FULL if args.full else SHORT
    print(f"compare_trees: {args.rounds} round(s), benches {', '.join(names)}")
    for side, tree in trees.items():
        print(f"  {side}: {tree}  ({_git_head(tree)})")
    for bench in names:
        print(f"  bench_{bench}.py {' '.join(options[bench]) or '(its defaults)'}")
    figures: dict[str, list[Figures]] = {f"{b} {s}": [] for b in names for s in trees}
    for bench in names:
        for r in range(args.rounds):
            order = ("OLD", "NEW") if r % 2 == 0 else ("NEW", "OLD")
            for side in order:
                for attempt in ("", " retry"):  # a bench that fails is run once more
                    out, took, ok = run(trees[side], bench, options[bench])
                    print(f"\n===== {side} bench_{bench}.py (round {r + 1}{attempt}, {took:.0f} s)")
                    print(out.rstrip(), flush=True)
                    if ok:
                        break
                figures[f"{bench} {side}"].append(PARSERS[bench](out))
    summary(figures, names)


if __name__ == "__main__":
    main()

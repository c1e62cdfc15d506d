"""Time siplocate's local-input parsers on hostile or huge inputs (issue 9: linear time).

Prints, for each input, the median wall time of a few runs and the ratio to a small valid
input of the same kind measured in the same run:
- a 1 MB key file of repeated ``key a {`` (over 60 s before the fix),
- a plan with 10,000 ``[[server]]`` tables, loaded and rendered (114 s before),
- a plan nested 100,000 arrays deep (a RecursionError traceback before).

Run: .venv/bin/python bench/bench_admin_inputs.py
"""

from __future__ import annotations

import contextlib
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from siplocate.errors import BadInput
from siplocate.zone.keys import load_key
from siplocate.zone.plan import load_plan
from siplocate.zone.render import render_bind

RUNS = 3


def timed(func: Callable[[], object]) -> float:
    """Median seconds over RUNS calls; BadInput (the expected answer to garbage) counts."""
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        with contextlib.suppress(BadInput):
            func()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def plan_text(servers: int) -> str:
    lines = ['domain = "big.test"', "[transports]", "udp = 1", "tcp = 2"]
    lines += ["[[nameserver]]", 'host = "ns1"', 'addresses = ["192.0.2.53"]']
    for i in range(servers):
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        lines += ["[[server]]", f'host = "s{i}"', f'addresses = ["{address}"]']
    return "\n".join(lines) + "\n"


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="siplocate-bench-"))
    good_key = folder / "good.conf"
    good_key.write_text(
        'key "k" { algorithm hmac-sha256; secret "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0IQ=="; };\n'
    )
    bad_key = folder / "bad.conf"
    bad_key.write_text("key a {" * (1_000_000 // 7))
    for f in (good_key, bad_key):
        f.chmod(0o600)
    small, big = folder / "small.toml", folder / "big.toml"
    small.write_text(plan_text(10))
    big.write_text(plan_text(10_000))
    deep = folder / "deep.toml"
    deep.write_text("x = " + "[" * 100_000)

    def render(path: Path) -> Callable[[], object]:
        return lambda: render_bind(load_plan(path))  # what `zone render` does

    rows = [
        ("key file, valid (baseline)", timed(lambda: load_key(good_key)), None),
        ("key file, 1 MB of 'key a {'", timed(lambda: load_key(bad_key)), 0),
        ("plan, 10 servers, load+render bind (baseline)", timed(render(small)), None),
        ("plan, 10,000 servers, load+render bind", timed(render(big)), 2),
        ("plan, arrays nested 100,000 deep", timed(lambda: load_plan(deep)), 2),
    ]
    print(f"{'input':45} {'median s':>10} {'x baseline':>11}   (median of {RUNS})")
    for name, seconds, base in rows:
        ratio = "" if base is None else f"{seconds / rows[base][1]:.0f}x"
        print(f"{name:45} {seconds:10.4f} {ratio:>11}")


if __name__ == "__main__":
    main()

"""The bench scripts still run: each at its smallest size, so a change that breaks one (a
zone without $ORIGIN once the reader stopped taking the origin from the file name) fails
here instead of in the next person's benchmark run. The figures themselves are not
checked: benchmarks print, tests do not time."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.fixtures.servers import require_binary

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def bench(*args: str, timeout: float = 120) -> str:
    proc = subprocess.run(
        [sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return proc.stdout


def test_bench_resolve_warm_and_weighted_order_run() -> None:
    require_binary("named", "bind9")
    out = bench("bench/bench_resolve.py", "--quick", "--only", "warm")
    assert "ratio:" in out and "weighted ordering" not in out
    out = bench("-c", "import sys; sys.path.insert(0, 'bench'); "
                "import bench_resolve; bench_resolve.weighted_order()")  # fmt: skip
    assert "weighted ordering, cached locate(): 20 SRV records" in out


def test_bench_admin_runs_at_its_smallest() -> None:
    require_binary("named-checkzone", "bind9-utils")
    out = bench("bench/bench_admin.py", "--sizes", "2000", "--runs", "1")
    assert "siplocate zone lint" in out and "siplocate --version" in out


def test_bench_digest_runs_against_both_hostile_servers() -> None:
    out = bench("bench/bench_digest.py", "--cap", "10", timeout=60)
    assert "stale-forever" in out and "REGISTERs      5" in out and "killed" not in out
    assert "--realm victim.test" in out and "with credentials      0" in out


def test_bench_watch_http_runs_at_its_smallest() -> None:
    out = bench("bench/bench_watch_http.py", "--connections", "40", "--callers", "8")
    assert "/healthz answered" in out and "last answer after" in out


def test_bench_answering_runs_at_its_smallest() -> None:
    require_binary("kamailio", "kamailio")
    require_binary("named", "bind9")
    out = bench("bench/bench_answering.py", "--count", "200", "--settle", "1")
    assert "final answer from the client:" in out and "still registered:" in out
    out = bench("bench/bench_answering.py", "--per-transaction")
    assert "KiB per live INVITE transaction" in out


def test_bench_bulk_runs_at_its_smallest() -> None:
    require_binary("named", "bind9")
    out = bench("bench/bench_bulk.py", "--quick")
    assert "lines with an error: 0" in out and "ratio:" in out and "Traceback" not in out


def test_bench_watch_scale_runs_at_its_smallest() -> None:
    require_binary("named", "bind9")
    out = bench("bench/bench_watch.py", "--metrics-size")
    assert "bytes per target" in out and "siplocate_target_up" in out
    out = bench(
        "bench/bench_watch.py", "--scale", "--domains", "40", "--shards", "2",
        "--scale-interval", "2", "--scale-cpu-seconds", "1", "--probe-seconds", "1",
        "--ports", "4", timeout=240,
    )  # fmt: skip
    assert "every domain has a state after" in out and "bytes per target) in" in out
    assert "marked down after" in out and "checks/s" in out


def test_bench_watch_scale_netns_runs_and_leaves_no_namespace() -> None:
    """--netns: each shard in its own namespace, the hub with BIND and the responders; every
    namespace it made is gone afterwards (their veth pairs with them)."""
    import re

    from tests.fixtures.netns import require_root

    require_root()
    require_binary("named", "bind9")
    require_binary("ip", "iproute2")
    out = bench(
        "bench/bench_watch.py", "--scale", "--netns", "--domains", "40", "--shards", "2",
        "--scale-interval", "2", "--scale-cpu-seconds", "1", "--probe-seconds", "1",
        "--ports", "4", "--scrapes", "1", timeout=240,
    )  # fmt: skip
    assert "own network namespace" in out and "every domain has a state after" in out
    assert out.count("targets up;") == 2 and "marked down after" in out
    tag = re.search(r"\((slb\d+)-s0\.\.s1", out)
    assert tag is not None, out
    left = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert tag.group(1) not in left

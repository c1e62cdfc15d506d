"""A short run of bench/bench_soak.py: `register --follow --probe-interval 1` against real
Kamailio and BIND9 while the registrar holding the binding is killed, the other is
SIGSTOPped, and named is stopped: a registration comes back after each fault, and the
client's memory and file descriptors stay flat. (The figures come from the bench itself.)"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_soak", ROOT / "bench" / "bench_soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_soak"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_short_soak_recovers_after_every_fault_with_flat_fds_and_rss() -> None:
    plan = [("kill", 0), ("stop", 1), ("dns", 0), ("kill", 1)]
    r = bench().soak(25.0, seed=7, plan=plan)
    faults = r["faults"]
    assert [f.kind for f in faults][:3] == ["kill", "stop", "dns"]
    assert len(faults) >= 3
    for f in faults:
        assert f.restored_valid is not None, f"no valid registration after {f}"
    assert r["client_alive"]
    assert r["valid_probes"] > 0.5 * r["probes"]
    rss_start, rss_end = r["rss_kib"]
    fds_start, fds_end = r["fds"]
    assert fds_end <= fds_start + 2
    assert rss_end <= rss_start + 16 * 1024

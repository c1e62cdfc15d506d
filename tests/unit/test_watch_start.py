"""A watcher of many domains starts gently: at most ``concurrency`` resolutions at once, and
the first probes spread over one interval rather than all sent at t=0 (injected time)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.cli.bulk import DEFAULT_CONCURRENCY
from siplocate.errors import BadInput
from siplocate.limits import DOMAINS_IN_FLIGHT
from siplocate.target import Target
from siplocate.watch import ManualClock, ProbeResult, Watcher
from siplocate.watch.config import WatchConfig
from siplocate.watch.monitor import CONCURRENCY

N = 40
INTERVAL = 5.0
LIMIT = 4


def zone_text(n: int) -> str:
    lines = [
        "$ORIGIN many.test.",
        "$TTL 60",
        "@ IN SOA ns hostmaster 1 3600 600 86400 60",
        "@ IN NS ns",
        "ns IN A 192.0.2.53",
        "sip IN A 192.0.2.11",
    ]
    for i in range(n):
        lines.append(f'd{i} IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.d{i}')
        lines.append(f"_sip._udp.d{i} IN SRV 10 0 5060 sip")
    return "\n".join(lines) + "\n"


class FirstProbes:
    """Answers at once and notes when each domain was first probed (monotonic seconds)."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.first: dict[str, float] = {}

    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult:
        self.first.setdefault(domain, self.clock.monotonic())
        return ProbeResult(True, 200, None, 0.001)

    async def close(self) -> None:
        pass

    async def forget(self, domain: str) -> None:
        pass


async def test_start_is_bounded_and_first_probes_are_spread(tmp_path: Path) -> None:
    path = tmp_path / "many.test.zone"
    path.write_text(zone_text(N))
    clock = ManualClock()
    resolver = Resolver(zones=[path])
    await resolver.locate("d0.many.test")  # the zone is parsed once, before the count
    locate = resolver.locate
    active = peak = 0

    async def slow_locate(*args: Any, **kw: Any) -> Any:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        try:
            await clock.sleep(0.01)  # each resolution takes a while on the injected clock
            return await locate(*args, **kw)
        finally:
            active -= 1

    resolver.locate = slow_locate  # type: ignore[method-assign]
    prober = FirstProbes(clock)
    domains = [f"d{i}.many.test" for i in range(N)]
    w = Watcher(
        domains, resolver, prober=prober, clock=clock, interval=INTERVAL, lint=False,
        concurrency=LIMIT,
    )  # fmt: skip
    starting = asyncio.ensure_future(w.start())
    try:
        for _ in range(100):  # bounded: N / LIMIT rounds of 0.01 s are needed
            await clock.advance(0.01)
            if starting.done():
                break
        await starting
        assert all(v.seen and len(v.targets) == 1 for v in w.views.values())
        assert peak == LIMIT  # the bound was reached and never passed
        await clock.advance(2 * INTERVAL)
        assert set(prober.first) == set(domains)
        times = sorted(prober.first.values())
        assert times[-1] - times[0] >= INTERVAL * (N - 2) / N  # spread over the interval
        per_second = max(sum(1 for t in times if s <= t < s + 1) for s in range(int(INTERVAL)))
        assert per_second <= N / INTERVAL + 1  # ~8 a second, not 40 at t=0
        for i, d in enumerate(domains):  # nobody before its slot
            assert prober.first[d] >= INTERVAL * i / N - 1e-9
    finally:
        await w.stop()
        resolver.close()


def test_concurrency_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="concurrency"):
        Watcher(["a.test"], Resolver(zones=[]), concurrency=0)


def test_concurrency_setting_default_file_and_bounds(tmp_path: Path) -> None:
    assert WatchConfig(domains=["a.test"]).validate().concurrency == DEFAULT_CONCURRENCY
    assert CONCURRENCY == DEFAULT_CONCURRENCY == DOMAINS_IN_FLIGHT  # one default, in limits.py
    conf = tmp_path / "w.toml"
    conf.write_text('domains = ["a.test"]\nconcurrency = 8\n')
    assert WatchConfig.load(conf).validate().concurrency == 8
    with pytest.raises(BadInput, match="concurrency"):
        WatchConfig(domains=["a.test"], concurrency=0).validate()


@pytest.mark.parametrize("value", ["0", "5000", "x"])
def test_cli_bad_concurrency_is_one_line_exit_2(value: str) -> None:
    result = CliRunner().invoke(app, ["watch", "a.test", "--concurrency", value])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "concurrency" in result.output

"""``watch --shard I/N`` and ``--file``, the shard's metrics and page, and ``/probe`` as a
multi-target exporter (per-target series with tiers, the DNS chain's figures, lint counts)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.errors import BadInput
from siplocate.target import Target
from siplocate.watch import ManualClock, ProbeResult, Watcher
from siplocate.watch.config import WatchConfig
from siplocate.watch.shard import Shard, shard_of
from siplocate.watch.web import make_app
from tests.fixtures.watch import metric_value
from tests.unit.test_watch import INTERVAL, ZONE

NAMES = [f"t{i}.carrier.test" for i in range(90)]


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    path = tmp_path / "demo.test.zone"
    path.write_text(ZONE)
    return path


@pytest.fixture
def listing(tmp_path: Path) -> Path:
    path = tmp_path / "domains.txt"
    body = "\n".join(f"{n}   # customer {i}" if i % 7 == 0 else n for i, n in enumerate(NAMES))
    path.write_text(f"# the carrier's trunks\n\n{body}\n\n")
    return path


def test_file_and_shards_split_the_list_exactly(listing: Path) -> None:
    parts = []
    for i in range(3):
        cfg = WatchConfig(file=str(listing), shard=f"{i}/3").validate()
        assert cfg.given == len(NAMES)
        assert all(shard_of(d, 3) == i for d in cfg.domains)
        parts.append(cfg.domains)
    assert sorted(d for p in parts for d in p) == sorted(NAMES)
    assert min(len(p) for p in parts) > 0


def test_arguments_and_file_are_one_list_deduplicated(listing: Path) -> None:
    cfg = WatchConfig(domains=["Extra.test.", "T0.carrier.test"], file=str(listing)).validate()
    assert cfg.domains == ["extra.test", *NAMES] and cfg.given == len(NAMES) + 1


def test_shard_in_the_config_file(tmp_path: Path, listing: Path) -> None:
    conf = tmp_path / "w.toml"
    conf.write_text(f'file = "{listing}"\nshard = "2/3"\n')
    cfg = WatchConfig.load(conf).validate()
    assert cfg.domains == Shard(2, 3).select(NAMES)
    conf.write_text("given = 3\n")  # not a setting
    with pytest.raises(BadInput, match="unknown setting"):
        WatchConfig.load(conf)


def test_a_bad_line_names_the_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "d.txt"
    bad.write_text("a.test\n# fine\n127.0.0.1\n")
    with pytest.raises(BadInput, match=r"d\.txt:3: .*IP address"):
        WatchConfig(file=str(bad)).validate()
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="FIFO"):
        WatchConfig(file=str(fifo)).validate()


def test_probe_any_alone_needs_no_domain() -> None:
    assert WatchConfig(probe_any=True).validate().domains == []
    with pytest.raises(BadInput, match="--probe-any"):
        WatchConfig().validate()


@pytest.mark.parametrize(
    "args",
    [
        ["watch", "a.test", "--shard", "3/3"],
        ["watch", "a.test", "--shard", "x"],
        ["watch", "a.test", "--shard", "0/0"],
        ["watch", "a.test", "--shard", "-1/2"],
        ["watch", "--file", "/nonexistent/domains.txt"],
        ["watch", "-f", "/dev/zero"],
    ],
)
def test_cli_bad_shard_or_file_is_one_line_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


class RefusingProber:
    """Answers 200 at once, except for the addresses in ``dead``: refused at once (no time
    passes on the manual clock, so /probe needs no clock driving)."""

    def __init__(self) -> None:
        self.dead: set[str] = set()

    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult:
        if target.address in self.dead:
            return ProbeResult(False, None, "connection refused", 0.0)
        return ProbeResult(True, 200, None, 0.004)

    async def close(self) -> None:
        pass

    async def forget(self, domain: str) -> None:
        pass


def make(zone: Path, **kw: object) -> tuple[Watcher, ManualClock]:
    clock = ManualClock()
    w = Watcher(
        ["demo.test"],
        Resolver(zones=[zone]),
        prober=RefusingProber(),
        clock=clock,
        interval=INTERVAL,
        timeout=2.0,
        **kw,
    )  # type: ignore[arg-type]
    return w, clock


async def test_a_shard_says_which_it_is(zone: Path) -> None:
    w, _ = make(zone, shard=Shard(1, 3))
    await w.start()
    try:
        async with TestClient(TestServer(make_app(w), host="127.0.0.1")) as client:
            metrics = await (await client.get("/metrics")).text()
            info = metric_value(metrics, "siplocate_watch_shard_info", shard="1", shards="3")
            assert info == 1.0
            assert metric_value(metrics, "siplocate_watch_domains") == 1.0
            state = await (await client.get("/api/state")).json()
            assert state["shard"] == {"index": 1, "count": 3}
            html = await (await client.get("/")).text()
            assert '<small class="shard" title="watch --shard">shard 1/3</small></h1>' in html
    finally:
        await w.stop()


async def test_an_unsharded_watch_is_shard_0_of_1(zone: Path) -> None:
    w, _ = make(zone)
    text = w.metrics.exposition().decode()
    assert metric_value(text, "siplocate_watch_shard_info", shard="0", shards="1") == 1.0
    async with TestClient(TestServer(make_app(w), host="127.0.0.1")) as client:
        assert "shard" not in await (await client.get("/")).text()


async def test_probe_is_a_multi_target_exporter(zone: Path) -> None:
    w, _ = make(zone)
    w.prober.dead.add("192.0.2.11")  # type: ignore[attr-defined]
    async with TestClient(TestServer(make_app(w), host="127.0.0.1")) as client:
        text = await (await client.get("/probe?target=demo.test")).text()
    assert metric_value(text, "probe_success") == 1.0
    assert metric_value(text, "probe_sip_targets_up") == 2.0
    tiers = {"sip1": "0", "sip2": "0", "sip3": "1"}
    for host, tier in tiers.items():
        value = metric_value(
            text,
            "probe_sip_target_up",
            domain="demo.test",
            transport="udp",
            host=f"{host}.demo.test",
            port="5060",
            tier=tier,
        )
        assert value == (0.0 if host == "sip1" else 1.0), (host, text)
    assert metric_value(text, "probe_sip_target_status_code", host="sip2.demo.test") == 200.0
    assert metric_value(text, "probe_sip_dns_branches") == 1.0
    assert metric_value(text, "probe_sip_dns_hosts") == 3.0
    assert metric_value(text, "probe_sip_dns_error") == 0.0
    assert (metric_value(text, "probe_sip_dns_lookups", source="zone") or 0) >= 3
    assert (metric_value(text, "probe_sip_dns_records_expiry_timestamp_seconds") or 0) > 0
    for severity in ("error", "warning", "info"):
        assert metric_value(text, "probe_sip_lint_findings", severity=severity) is not None


async def test_probe_without_lint_and_without_dns(zone: Path) -> None:
    w, _ = make(zone, lint=False)
    report = await w.check("demo.test")
    assert report.findings is None and report.resolution is not None
    missing = await w.check("nothing.demo.test")
    assert missing.dns_error and missing.resolution is None and not missing.success


def test_file_from_standard_input_and_the_bulk_line_rule(
    listing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``--file -`` reads standard input, by the same line rule as ``resolve -f``."""
    import io
    import sys

    from siplocate.cli.bulk import read_lines

    data = listing.read_bytes()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    cfg = WatchConfig(file="-").validate()
    assert cfg.domains == NAMES and cfg.given == len(NAMES)
    with listing.open("rb") as f:  # one rule: the bulk commands see the same inputs
        assert [line.text for line in read_lines(f, "x")] == NAMES
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"a.test\nb.test:5060\n")))
    with pytest.raises(BadInput, match=r"<stdin>:2: .*no ports"):
        WatchConfig(file="-").validate()


def test_cli_file_dash_reads_standard_input(listing: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[WatchConfig] = []

    async def fake_service(cfg: WatchConfig) -> None:
        seen.append(cfg)

    monkeypatch.setattr("siplocate.watch.service.run_service", fake_service)
    result = CliRunner().invoke(
        app, ["watch", "-f", "-", "--shard", "1/3"], input=listing.read_text()
    )
    assert result.exit_code == 0, result.output
    (cfg,) = seen
    assert cfg.given == len(NAMES) and cfg.domains == Shard(1, 3).select(NAMES)

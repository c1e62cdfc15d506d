"""The watcher's pure core and its asyncio driver, with injected time and a scripted prober
(the real-server versions of these are in tests/integration/test_watch.py)."""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import subprocess
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from siplocate import Resolver
from siplocate.cli import app
from siplocate.errors import BadInput
from siplocate.localfile import MAX_BYTES
from siplocate.target import Target
from siplocate.watch import Event, EventLog, Level, ManualClock, ProbeResult, Watcher
from siplocate.watch.config import WatchConfig, parse_listen
from siplocate.watch.events import json_lines
from siplocate.watch.history import HOURS, RECENT, History
from siplocate.watch.web import make_app
from siplocate.watch.webhook import Webhook
from tests.fixtures.watch import metric_value

ZONE = """$ORIGIN demo.test.
$TTL 60
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 192.0.2.53
@ IN A 192.0.2.1
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 10 60 5060 sip1
_sip._udp IN SRV 10 40 5060 sip2
_sip._udp IN SRV 20 0 5060 sip3
sip1 IN A 192.0.2.11
sip2 IN A 192.0.2.12
sip3 IN A 192.0.2.13
"""
INTERVAL = 5.0
TIMEOUT = 2.0


class ScriptedProber:
    """Answers from a table of dead addresses; a dead one times out after ``timeout``."""

    def __init__(self, clock: ManualClock) -> None:
        self.clock = clock
        self.dead: set[str] = set()
        self.calls = 0

    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult:
        self.calls += 1
        if target.address in self.dead:
            await self.clock.sleep(timeout)
            return ProbeResult(False, None, "timeout", timeout)
        return ProbeResult(True, 200, None, 0.004)

    async def close(self) -> None:
        pass

    async def forget(self, domain: str) -> None:
        pass


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    path = tmp_path / "demo.test.zone"
    path.write_text(ZONE)
    return path


def make(zone: Path, **kw: object) -> tuple[Watcher, ManualClock, ScriptedProber]:
    clock = ManualClock()
    prober = ScriptedProber(clock)
    w = Watcher(
        ["demo.test"],
        Resolver(zones=[zone]),
        prober=prober,
        clock=clock,
        interval=INTERVAL,
        timeout=TIMEOUT,
        **kw,
    )  # type: ignore[arg-type]
    return w, clock, prober


# -- history ----------------------------------------------------------------------------------


def test_history_keeps_the_last_probes_in_order_and_a_week_of_hours() -> None:
    h = History()
    start = 1_700_000_000.0
    for i in range(RECENT + 10):
        h.add(start + 5 * i, None if i % 7 == 0 else i / 1000)
    recent = h.recent()
    assert len(recent) == RECENT
    assert recent[0][0] == start + 5 * 10 and recent[-1][0] == start + 5 * (RECENT + 9)
    assert recent[-1][1] == pytest.approx((RECENT + 9) / 1000)
    assert [r for _, r in h.recent(3)] == [
        pytest.approx(x / 1000) if x % 7 else None for x in range(RECENT + 7, RECENT + 10)
    ]
    for i in range(HOURS * 2):  # two weeks of hours: only the last week stays
        h.add(start + 3600 * i, 0.001)
    hours = h.hourly()
    assert len(hours) == HOURS
    assert hours[-1]["hour"] // 3600 == int((start + 3600 * (HOURS * 2 - 1)) // 3600)


@given(st.lists(st.one_of(st.none(), st.floats(0, 10)), max_size=400))
def test_history_is_bounded_and_counts_failures(samples: list[float | None]) -> None:
    h = History()
    for i, rtt in enumerate(samples):
        h.add(1000.0 + i, rtt)
    recent = h.recent()
    assert len(recent) == min(len(samples), RECENT)
    assert (
        [r is None for _, r in recent] == [s is None for s in samples[-RECENT:]]
        if samples
        else recent == []
    )
    assert sum(int(b["probes"]) for b in h.hourly()) == len(samples)
    assert sum(int(b["failures"]) for b in h.hourly()) == samples.count(None)


# -- the clock --------------------------------------------------------------------------------


async def test_manual_clock_wakes_sleepers_in_due_order() -> None:
    clock = ManualClock(start=100.0)
    woke: list[tuple[str, float]] = []

    async def sleeper(name: str, s: float) -> None:
        await clock.sleep(s)
        woke.append((name, clock.wall()))

    tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("b", 2), ("a", 1), ("c", 9))]
    await asyncio.sleep(0)
    await clock.advance(5)
    assert woke == [("a", 101.0), ("b", 102.0)] and clock.wall() == 105.0
    await clock.advance(5)
    assert woke[-1] == ("c", 109.0)
    await asyncio.gather(*tasks)


# -- the watcher, driven by injected time -------------------------------------------------------


async def test_target_down_is_detected_within_one_interval_plus_timeout(zone: Path) -> None:
    w, clock, prober = make(zone)
    await w.start()
    try:
        await clock.advance(INTERVAL * 2)
        view = w.views["demo.test"]
        assert view.level is Level.UP and all(h.up for h in view.targets.values())
        assert w.metrics.domain_state.labels("demo.test", "up")._value.get() == 1
        killed = clock.wall() + 0.3  # just after a round started: the worst case
        await clock.advance(0.3)
        prober.dead.add("192.0.2.11")
        await clock.advance(INTERVAL + TIMEOUT)
        down = [e for e in w.log.recent if e.kind == "target_down"]
        assert len(down) == 1 and down[0].target["address"] == "192.0.2.11"  # type: ignore[index]
        detected = down[0].ts + TIMEOUT  # the probe started at ts and gave up after the timeout
        assert detected - killed <= INTERVAL + TIMEOUT
        kinds = [e.kind for e in w.log.recent]
        assert "failover" in kinds and "domain_state" in kinds
        assert view.level is Level.DEGRADED
        labels = ("demo.test", "udp", "sip1.demo.test", "192.0.2.11", "5060", "0")
        assert w.metrics.target_up.labels(*labels)._value.get() == 0
        failover = next(e for e in w.log.recent if e.kind == "failover")
        assert failover.detail["next"]["address"] == "192.0.2.12"  # type: ignore[index]

        prober.dead.clear()
        await clock.advance(INTERVAL + TIMEOUT)
        assert w.log.recent[-1].kind == "domain_state" and view.level is Level.UP
        assert any(e.kind == "target_up" for e in w.log.recent)
    finally:
        await w.stop()


async def test_every_target_dead_means_down_and_backup_only_dead_is_backup_down(
    zone: Path,
) -> None:
    w, clock, prober = make(zone)
    await w.start()
    try:
        prober.dead.add("192.0.2.13")  # the priority-20 backup
        await clock.advance(INTERVAL * 2 + TIMEOUT)
        view = w.views["demo.test"]
        assert view.level is Level.BACKUP_DOWN
        assert w.metrics.domain_state.labels("demo.test", "backup_down")._value.get() == 1
        assert not any(e.kind == "failover" for e in w.log.recent)  # not a first-tier target
        prober.dead.update({"192.0.2.11", "192.0.2.12"})
        await clock.advance(INTERVAL * 2 + TIMEOUT)
        assert view.level is Level.DOWN
        assert w.state()["domains"][0]["state"] == "down"  # type: ignore[index]
    finally:
        await w.stop()


async def test_records_change_is_an_event_a_counter_and_a_lint_run(
    zone: Path, tmp_path: Path
) -> None:
    w, _, _ = make(zone)
    await w.start()
    try:
        view = w.views["demo.test"]
        assert {f.code for f in view.findings} == set()
        changed = tmp_path / "changed" / "demo.test.zone"
        changed.parent.mkdir()
        changed.write_text(ZONE + "_sip._udp IN SRV 30 0 5060 sip4\n")  # sip4: no address
        w.resolver = Resolver(zones=[changed])
        await w.resolve(view)
        (change,) = [e for e in w.log.recent if e.kind == "records_changed"]
        assert change.detail == {
            "added": [
                "ADDR sip4.demo.test (none)",
                "SRV _sip._udp.demo.test 30 0 5060 sip4.demo.test",
            ],
            "removed": [],
        }
        assert w.metrics.record_changes.labels("demo.test")._value.get() == 1
        lint = [e for e in w.log.recent if e.kind == "lint_finding"]
        assert [e.detail["code"] for e in lint] == ["srv-target-no-address"]
        assert w.metrics.lint.labels("demo.test", "error")._value.get() == 1
        assert len(view.targets) == 3  # sip4 has no address: nothing more to probe
    finally:
        await w.stop()


async def test_records_removed_then_back(zone: Path, tmp_path: Path) -> None:
    w, _, _ = make(zone)
    await w.start()
    try:
        view = w.views["demo.test"]
        empty = tmp_path / "empty" / "demo.test.zone"
        empty.parent.mkdir()
        empty.write_text(ZONE.split("@ IN A")[0])  # SOA and NS only
        w.resolver = Resolver(zones=[empty])
        await w.resolve(view)
        kinds = [e.kind for e in w.log.recent]
        assert kinds[-3:] == ["records_changed", "dns_failure", "domain_state"]
        assert not view.targets and view.level is Level.DOWN
        assert "siplocate_target_up{" not in w.metrics.exposition().decode()
        w.resolver = Resolver(zones=[zone])
        await w.resolve(view)
        back = [e for e in w.log.recent if e.kind == "records_changed"][-1]
        assert len(back.detail["added"]) == 7 and back.detail["removed"] == []  # type: ignore[arg-type]
        assert len(view.targets) == 3
    finally:
        await w.stop()


async def test_dns_failure_keeps_the_old_targets_watched(zone: Path) -> None:
    w, clock, _ = make(zone)
    await w.start()
    try:
        view = w.views["demo.test"]
        w.resolver = Resolver(nameservers=["127.0.0.1:9"], timeout=0.05)  # nothing answers
        await w.resolve(view)
        assert view.dns_error and view.level is Level.DOWN
        assert [e.kind for e in w.log.recent][-2:] == ["dns_failure", "domain_state"]
        assert w.metrics.dns_failures.labels("demo.test")._value.get() == 1
        before = {k: h.probes for k, h in view.targets.items()}
        await clock.advance(INTERVAL)
        assert len(before) == 3  # the three targets are still probed
        assert all(h.probes > before[k] for k, h in view.targets.items())
        w.resolver.close()
    finally:
        await w.stop()


async def test_a_simulated_day_keeps_memory_bounded(zone: Path) -> None:
    w, clock, prober = make(zone, lint=False)
    w.interval = 60.0  # a day at one probe a minute: the history ring fills 12 times over
    await w.start()
    try:
        for hour in range(24):
            if hour % 6 == 0:
                prober.dead ^= {"192.0.2.12"}  # flap now and then
            await clock.advance(3600)
        view = w.views["demo.test"]
        for h in view.targets.values():
            assert h.probes >= 24 * 60 - 2
            hours = h.history.hourly()
            assert len(h.history.recent()) == RECENT and len(hours) == 25  # 24 h, unaligned
            assert sum(int(b["probes"]) for b in hours) == h.probes
        assert len(w.log.recent) <= w.log.recent.maxlen  # type: ignore[operator]
    finally:
        await w.stop()


# -- events and their sinks ---------------------------------------------------------------------


def test_event_json_line_shape() -> None:
    out = io.StringIO()
    log = EventLog(keep=2)
    log.sinks.append(json_lines(out))
    for i in range(3):
        log.emit(
            Event(
                1_700_000_000.0 + i,
                "target_down",
                "demo.test",
                f"m{i}",
                {"transport": "udp"},
                {"status": None},
            )
        )
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    assert len(lines) == 3 and len(log.recent) == 2
    assert lines[0] == {
        "time": "2023-11-14T22:13:20.000+00:00",
        "ts": 1_700_000_000.0,
        "kind": "target_down",
        "domain": "demo.test",
        "target": {"transport": "udp"},
        "message": "m0",
        "detail": {"status": None},
    }


async def test_webhook_retries_and_drops_oldest_when_full() -> None:
    got: list[dict[str, object]] = []
    fail_next = [2]

    async def hook(request: web.Request) -> web.Response:
        if fail_next[0]:
            fail_next[0] -= 1
            return web.Response(status=503)
        got.append(await request.json())
        return web.Response(status=204)

    server_app = web.Application()
    server_app.router.add_post("/hook", hook)
    async with TestServer(server_app, host="127.0.0.1") as server:
        sender = Webhook(str(server.make_url("/hook")), queue=2, retries=4, backoff=0.01)
        for i in range(4):  # queue of 2: the two oldest are dropped before the sender runs
            sender(Event(float(i), "target_down", "demo.test", f"e{i}"))
        assert sender.dropped == 2
        sender.start()
        for _ in range(200):  # until the sender has seen both 204s (got fills a moment earlier)
            if sender.sent == 2:
                break
            await asyncio.sleep(0.01)
        await sender.stop()
    assert [g["message"] for g in got] == ["e2", "e3"]  # delivered after two 503s
    assert sender.sent == 2


async def test_webhook_gives_up_on_a_dead_receiver_without_blocking() -> None:
    from tests.fixtures.servers import free_port

    sender = Webhook(f"http://127.0.0.1:{free_port()}/x", retries=2, backoff=0.01, timeout=0.5)
    sender.start()
    sender(Event(0.0, "target_up", "demo.test", "e"))
    for _ in range(300):
        if sender.dropped:
            break
        await asyncio.sleep(0.01)
    await sender.stop()
    assert sender.dropped == 1 and sender.sent == 0


# -- the HTTP side ------------------------------------------------------------------------------


async def test_http_endpoints(zone: Path) -> None:
    w, clock, _ = make(zone)
    await w.start()
    await clock.advance(INTERVAL)
    try:
        async with TestClient(TestServer(make_app(w), host="127.0.0.1")) as client:
            page = await client.get("/")
            html = await page.text()
            assert page.status == 200 and "/static/app.js" in html
            assert html.count('data-state="up"') == 3  # rendered on the server
            assert "all 3 servers answer: no client impact" in html
            assert "backup tier 1: 100% of tries reaching it" in html
            parts = await (await client.get("/api/page")).json()
            assert parts["version"] == w.version and parts["domains"].count("data-target") == 3
            assert (
                "/static/live.js" not in html
                and "EventSource" in await (await client.get("/static/live.js")).text()
            )
            assert "default-src 'self'" in page.headers["Content-Security-Policy"]
            for name in ("app.js", "live.js", "style.css", "favicon.svg"):
                asset = await (await client.get(f"/static/{name}")).text()
                assert "http://" not in asset.replace("http://www.w3.org", "")
                assert "https://" not in asset
            assert (await client.get("/static/../monitor.py")).status == 404
            metrics = await (await client.get("/metrics")).text()
            assert 'siplocate_target_up{address="192.0.2.11",domain="demo.test"' in metrics
            assert "siplocate_target_options_rtt_seconds_bucket" in metrics
            assert 'siplocate_lint_findings{domain="demo.test",severity="error"} 0.0' in metrics
            state = await (await client.get("/api/state")).json()
            (d,) = state["domains"]
            assert d["state"] == "up" and d["targets_up"] == 3
            assert [h["share"] for b in d["tree"] for h in b["hosts"]] == [0.6, 0.4, 1.0]
            assert d["try_order"][0]["lands"] is True
            probe = await (await client.get("/probe?target=demo.test")).text()
            assert "probe_success 1.0" in probe and "probe_sip_targets_up 3.0" in probe
            bad = await client.get("/probe?target=other.test")
            assert bad.status == 400
            assert (await client.get("/probe")).status == 400
    finally:
        await w.stop()


# -- configuration and the command line ---------------------------------------------------------


def test_config_file_and_its_errors(tmp_path: Path) -> None:
    good = tmp_path / "w.toml"
    good.write_text(
        'domains = ["sip:alice@Example.COM."]\ninterval = 10\n'
        '[webhook]\nurl = "http://127.0.0.1:1/x"\nqueue = 5\n'
    )
    cfg = WatchConfig.load(good).validate()
    assert cfg.domains == ["example.com"] and cfg.interval == 10.0
    assert cfg.webhook == "http://127.0.0.1:1/x" and cfg.webhook_queue == 5
    for text, msg in (
        ('domains = "x"', "list of strings"),
        ("bogus = 1", "unknown setting"),
        ("interval = true", "number"),
        ("interval = [", "config"),
    ):
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(BadInput, match=msg):
            WatchConfig.load(bad)
    with pytest.raises(BadInput):
        WatchConfig(domains=["bad domain"]).validate()
    with pytest.raises(BadInput, match="HOST:PORT"):
        parse_listen("127.0.0.1:\u00b2")  # a digit to str.isdigit, not to int()
    assert parse_listen("[::1]:9470") == ("::1", 9470)
    with pytest.raises(BadInput):
        parse_listen("9470")


@pytest.mark.parametrize(
    "args",
    [
        ["watch"],
        ["watch", "example.com", "--interval", "0"],
        ["watch", "example.com", "--listen", "nowhere"],
        ["watch", "not a domain"],
        ["watch", "example.com", "-t", "udp,sctp"],
        ["watch", "example.com", "--config", "/nonexistent/w.toml"],
        ["watch", "example.com", "--max-connections", "0"],
        ["watch", "example.com", "--header-timeout", "0"],
        ["watch", "127.0.0.1"],
        ["watch", "sip:example.com;transport=tcp"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(args: list[str]) -> None:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not math.isnan(0.0)


def test_a_closed_stdout_does_not_stop_the_watch() -> None:
    class Closed(io.StringIO):
        writes = 0

        def write(self, s: str) -> int:
            Closed.writes += 1
            raise BrokenPipeError(32, "Broken pipe")

    log = EventLog()
    log.sinks.append(json_lines(Closed()))
    for i in range(3):
        log.emit(Event(float(i), "target_up", "demo.test", "m"))
    assert log.count == 3 and Closed.writes == 1  # tried once, then left alone


# -- local inputs: --config and --ca-file go through the safe reader ----------------------------


def _watch_cli(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """``siplocate watch ARGS`` in a child bounded in time and memory (a FIFO blocked it
    forever, /dev/zero ate memory): a regression fails instead of hanging or swapping."""
    import resource
    import sys

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))

    zone = tmp_path / "demo.test.zone"
    zone.write_text(ZONE)
    cmd = [sys.executable, "-m", "siplocate", "watch", "demo.test", "-z", str(zone)]
    cmd += ["--listen", "127.0.0.1:0", "--quiet", *args]
    try:
        return subprocess.run(
            cmd, capture_output=True, text=True, timeout=20, preexec_fn=limit, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"siplocate watch {args} did not exit: {exc.stderr!r}") from None


@pytest.mark.parametrize("option", ["--config", "--ca-file"])
@pytest.mark.parametrize("kind", ["fifo", "dev", "dir", "huge", "missing"])
def test_watch_config_and_ca_file_are_checked_before_anything_starts(
    option: str, kind: str, tmp_path: Path
) -> None:
    if kind == "fifo":
        path = tmp_path / "fifo"
        os.mkfifo(path)
    elif kind == "dev":
        path = Path("/dev/zero")
    elif kind == "dir":
        path = tmp_path
    elif kind == "huge":
        path = tmp_path / "huge"
        with path.open("wb") as f:
            f.truncate(MAX_BYTES + 1)  # sparse: costs no disk
    else:
        path = tmp_path / "missing"
    result = _watch_cli([option, str(path)], tmp_path)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert str(path) in lines[0]


def test_watch_ca_file_from_the_config_file_is_checked_too(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cfg = tmp_path / "w.toml"
    cfg.write_text(f'ca_file = "{fifo}"\n')
    result = _watch_cli(["--config", str(cfg)], tmp_path)
    assert result.returncode == 2 and "FIFO" in result.stderr, result.stderr
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    result = _watch_cli(["--ca-file", str(garbage)], tmp_path)
    assert result.returncode == 2 and str(garbage) in result.stderr, result.stderr


def test_a_real_ca_bundle_passes_the_start_check(tmp_path: Path) -> None:
    from siplocate.watch.config import check_ca_file

    ca = tmp_path / "ca.pem"
    key = tmp_path / "ca.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(ca), "-subj", "/CN=test CA", "-days", "1"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    check_ca_file(str(ca))
    assert WatchConfig(domains=["demo.test"], ca_file=str(ca)).validate().ca_file == str(ca)


# -- what /probe and the Host header accept -----------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "127.0.0.1",
        "127.1",  # inet_aton's short form: an address to many resolvers
        "2130706433",
        "sip:127.0.0.1",
        "127.0.0.1:5060",
        "sip:sip.example.com:5060",
        "sip:example.com;transport=tcp",
        "example.com;transport=tcp",
        "example.com?x=1",
        "[::1]",
        "sip:[::1]:5060",
        "example.123",
    ],
)
def test_watched_and_probed_names_are_domains_not_addresses_ports_or_parameters(
    text: str,
) -> None:
    from siplocate.watch.config import domain_name

    with pytest.raises(BadInput):
        domain_name(text)
    with pytest.raises(BadInput):
        WatchConfig(domains=[text]).validate()


def test_domain_name_keeps_what_was_accepted() -> None:
    from siplocate.watch.config import domain_name

    assert domain_name("sip:alice@Example.COM.") == "example.com"
    assert domain_name("sips:sip1.example.com") == "sip1.example.com"
    assert domain_name("_sip._udp.example.net") == "_sip._udp.example.net"
    assert domain_name("1and1.de") == "1and1.de"


async def test_probe_any_refuses_addresses_ports_and_parameters(zone: Path) -> None:
    w, _clock, prober = make(zone)
    await w.start()
    try:
        app = make_app(w, probe_any=True)
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            for target in (
                "127.0.0.1:22;transport=tcp",
                "sip:127.0.0.1:22;transport=tcp",
                "127.0.0.1",
                "demo.test:5060",
                "demo.test;transport=tcp",
            ):
                calls = prober.calls
                resp = await client.get("/probe", params={"target": target})
                assert resp.status == 400, (target, await resp.text())
                assert prober.calls == calls  # nothing was sent anywhere
            ok = await client.get("/probe", params={"target": "sip:demo.test"})
            assert ok.status == 200 and "probe_success 1.0" in await ok.text()
    finally:
        await w.stop()


async def test_host_header_is_checked_against_rebinding(zone: Path) -> None:
    w, _clock, _ = make(zone)
    await w.start()
    try:
        for allowed, host, status in (
            ((), "evil.example", 403),
            ((), "evil.example:9470", 403),
            ((), "localhost:9470", 200),
            ((), "app.localhost", 200),
            ((), "127.0.0.1:9470", 200),
            ((), "[::1]:9470", 200),
            ((), "192.0.2.7:9470", 200),  # an address cannot be rebound
            (("mon.example",), "mon.example:9470", 200),
            (("mon.example",), "MON.example.", 200),
            (("mon.example",), "evil.example", 403),
            (("*",), "evil.example", 200),
        ):
            app = make_app(w, allowed_hosts=allowed, listen_host="127.0.0.1")
            async with TestClient(TestServer(app, host="127.0.0.1")) as client:
                for path in ("/api/state", "/metrics", "/"):
                    resp = await client.get(path, headers={"Host": host})
                    assert resp.status == status, (allowed, host, path)
                    if status == 403:
                        assert "--allowed-host" in await resp.text()
        app = make_app(w, listen_host="watch.example")  # the name it listens on is allowed
        async with TestClient(TestServer(app, host="127.0.0.1")) as client:
            resp = await client.get("/api/state", headers={"Host": "watch.example:9470"})
            assert resp.status == 200
    finally:
        await w.stop()


# -- tiers on the metrics, build info, webhook outages ------------------------------------------


def series(text: str, name: str) -> dict[str, dict[str, str]]:
    """address -> labels of every ``name`` series in a Prometheus exposition."""
    import re

    out = {}
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
            out[labels.get("address", "")] = labels
    return out


async def test_target_series_carry_the_tier_and_move_when_priorities_change(
    zone: Path, tmp_path: Path
) -> None:
    from siplocate import __version__

    w, clock, _ = make(zone)
    await w.start()
    try:
        await clock.advance(INTERVAL)
        text = w.metrics.exposition().decode()
        assert f'siplocate_build_info{{version="{__version__}"}} 1.0' in text
        tiers = {a: s["tier"] for a, s in series(text, "siplocate_target_up").items()}
        assert tiers == {"192.0.2.11": "0", "192.0.2.12": "0", "192.0.2.13": "1"}
        assert series(text, "siplocate_target_probe_failures_total")["192.0.2.13"]["tier"] == "1"
        # sip3 becomes the only first-tier server: its series move to tier 0, none linger
        swapped = tmp_path / "swapped" / "demo.test.zone"
        swapped.parent.mkdir()
        swapped.write_text(ZONE.replace("SRV 20 0 5060 sip3", "SRV 5 0 5060 sip3"))
        w.resolver = Resolver(zones=[swapped])
        await w.resolve(w.views["demo.test"])
        await clock.advance(INTERVAL)
        text = w.metrics.exposition().decode()
        tiers = {a: s["tier"] for a, s in series(text, "siplocate_target_up").items()}
        assert tiers == {"192.0.2.11": "1", "192.0.2.12": "1", "192.0.2.13": "0"}
        assert text.count('siplocate_target_up{address="192.0.2.13"') == 1
    finally:
        await w.stop()


# -- the bounds of the HTTP side (pure parts) ----------------------------------------------------


def test_scrape_budget_keeps_a_margin_like_blackbox_exporter() -> None:
    from siplocate.watch.guard import scrape_budget

    assert scrape_budget("5", 10.0) == 4.5
    assert scrape_budget("0.6", 10.0) == 0.3  # never less than half the scrape timeout
    assert scrape_budget("1e9", 10.0) == 299.5  # bounded
    for bad in (None, "", "abc", "-1", "0", "nan", "inf"):
        assert scrape_budget(bad, 10.0) == 10.0


def test_connection_cap_leaves_descriptors_free_under_the_fd_limit() -> None:
    from siplocate.watch.guard import HttpLimits

    assert HttpLimits().effective_connections(1024) == (512, 128)
    assert HttpLimits().effective_connections(65536) == (512, 128)
    cap, backlog = HttpLimits(max_connections=40).effective_connections(160)
    assert cap == 40 and cap + backlog + 64 <= 160
    cap, backlog = HttpLimits().effective_connections(100)
    assert cap == 36 and cap + backlog <= 100 - 32


def test_slots_say_no_instead_of_waiting() -> None:
    from siplocate.watch.guard import Slots

    slots = Slots(2)
    assert [slots.take() for _ in range(3)] == [True, True, False]
    slots.give()
    assert slots.take() and not slots.take()


async def test_on_demand_check_stays_within_its_budget(zone: Path) -> None:
    w, _clock, prober = make(zone)
    seen: list[float] = []
    probe = prober.probe

    async def spy(domain: str, target: Target, timeout: float) -> ProbeResult:
        seen.append(timeout)
        return await probe(domain, target, timeout)

    prober.probe = spy  # type: ignore[method-assign]
    report = await w.check("demo.test", budget=0.75)
    assert report.success and len(seen) == 3 and max(seen) <= 0.75
    seen.clear()
    report = await w.check("demo.test")  # no budget: the watcher's own probe timeout
    assert seen == [TIMEOUT] * 3


async def test_webhook_outage_is_one_line_when_it_starts_and_one_when_it_ends() -> None:
    got: list[dict[str, object]] = []
    down = [True]
    lines: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        if down[0]:
            return web.Response(status=503)
        got.append(await request.json())
        return web.Response(status=204)

    server_app = web.Application()
    server_app.router.add_post("/hook", hook)
    async with TestServer(server_app, host="127.0.0.1") as server:
        sender = Webhook(
            str(server.make_url("/hook")), retries=2, backoff=0.01, warn=lines.append
        ).start()
        for i in range(3):  # three events, six failed tries: one line
            sender(Event(float(i), "target_down", "demo.test", f"e{i}"))
        for _ in range(300):
            if sender.dropped == 3:
                break
            await asyncio.sleep(0.01)
        assert sender.dropped == 3
        assert len(lines) == 1 and "delivery failing (answered 503)" in lines[0]
        down[0] = False
        for i in range(3, 5):  # back: one line, then silence
            sender(Event(float(i), "target_up", "demo.test", f"e{i}"))
        for _ in range(300):
            if sender.sent == 2:
                break
            await asyncio.sleep(0.01)
        await sender.stop()
    assert [g["message"] for g in got] == ["e3", "e4"]
    assert len(lines) == 2
    assert "delivering again after" in lines[1] and "3 event(s) dropped meanwhile" in lines[1]


async def test_probes_sent_are_answered_plus_failed(zone: Path) -> None:
    """There is no probes_total series: the RTT histogram's count plus the failures is it."""
    w, clock, prober = make(zone, lint=False)
    await w.start()
    try:
        prober.dead.add("192.0.2.12")
        await clock.advance(3 * INTERVAL)
        text = w.metrics.exposition().decode()
        assert "siplocate_target_probes_total" not in text
        for h in w.views["demo.test"].targets.values():
            a = h.target.address
            answered = metric_value(text, "siplocate_target_options_rtt_seconds_count", address=a)
            failed = metric_value(text, "siplocate_target_probe_failures_total", address=a)
            assert answered is not None and failed is not None
            assert answered + failed == h.probes >= 3
            assert (failed > 0) is (a == "192.0.2.12")
    finally:
        await w.stop()

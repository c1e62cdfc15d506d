"""Server health shared through a real redis-server: a real watcher (`watch --publish`) marks a
real Kamailio down and two real client processes avoid it; entries past `expires` are
ignored; Redis killed and restarted (subscribers probe alone, then rejoin)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from siplocate import Resolver
from siplocate.client import RedisHealth, SipClient
from siplocate.client.failover import key
from siplocate.shared_health import CHANNEL, HASH, Backoff, Entry, encode_field, encode_message
from siplocate.sip.transaction import Timers
from tests.fixtures.kamailio import PASSWORD, Cluster
from tests.fixtures.redis import RedisServer, start_redis
from tests.fixtures.servers import kill_pid, read_line, wait_until
from tests.fixtures.watch import WatchProcess

pytestmark = pytest.mark.integration


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture
def pwfile(tmp_path: Path) -> Path:
    p = tmp_path / "pw"
    p.write_text(PASSWORD + "\n")
    p.chmod(0o600)
    return p


def shared_entry(redis_server: RedisServer, field: str) -> dict[str, object] | None:
    import redis

    conn = redis.Redis(port=redis_server.port, socket_timeout=2)
    try:
        value = conn.hget(HASH, field)
    finally:
        conn.close()
    return None if value is None else json.loads(value)  # type: ignore[arg-type]


def register_process(cluster: Cluster, pwfile: Path, url: str) -> subprocess.Popen[str]:
    args = [
        sys.executable, "-c", "from siplocate.cli import main; main()",
        "register", cluster.aor, "--password-file", str(pwfile), "--follow", "--json",
        "--expires", "3600", "--health", url, "--failback", "probe",
        "-n", cluster.nameserver, "-t", "udp", "--failover-after", "500ms", "--t1", "100ms",
    ]  # fmt: skip
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def next_event(proc: subprocess.Popen[str], kind: str, timeout: float = 15.0) -> dict[str, object]:
    """The next JSON line of ``kind`` (others skipped), within ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = read_line(proc.stdout, max(0.1, deadline - time.monotonic()))
        if not line:
            break
        event: dict[str, object] = json.loads(line)
        if event["event"] == kind:
            return event
    raise AssertionError(f"no {kind!r} event within {timeout}s")


def stop(proc: subprocess.Popen[str]) -> None:
    kill_pid(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        kill_pid(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)


def test_a_target_the_watcher_saw_down_is_avoided_by_two_client_processes(
    cluster: Cluster, redis_server: RedisServer, pwfile: Path
) -> None:
    primary = encode_field(("udp", *cluster.addresses[0]))
    watcher = WatchProcess(
        ["client.test", "-n", cluster.nameserver, "--transports", "udp", "--interval", "0.5",
         "--timeout", "0.3", "--publish", redis_server.url, "--quiet"]
    ).start()  # fmt: skip
    early = late = None
    try:
        wait_until(lambda: shared_entry(redis_server, primary) is not None, 15, "first entry")
        entry = shared_entry(redis_server, primary)
        assert entry is not None and entry["up"] is True and isinstance(entry["rtt_ms"], float)
        assert set(entry) == {"up", "since", "expires", "rtt_ms", "by"}
        # Lives 3 intervals + the timeout past its write (re-written every third of that).
        assert 0 < float(entry["expires"]) - time.time() <= 3 * 0.5 + 0.3  # type: ignore[arg-type]
        early = register_process(cluster, pwfile, redis_server.url)
        assert next_event(early, "health-shared")["url"] == redis_server.url
        first = next_event(early, "registered")
        assert first["address"] == "127.0.0.2"
        cluster.primary.kill()
        # The running client moves on the channel message: no refresh is due for an hour.
        moved = next_event(early, "failover")
        assert moved["address"] == "127.0.0.3"
        wait_until(lambda: (shared_entry(redis_server, primary) or {}).get("up") is False, 10,
                   "the watcher's verdict in Redis")  # fmt: skip
        # A client started now reads the hash: its first REGISTER skips the dead primary.
        late = register_process(cluster, pwfile, redis_server.url)
        registered = next_event(late, "registered")
        assert registered["address"] == "127.0.0.3"
        attempts = registered["attempts"]
        assert isinstance(attempts, list)
        assert [a["address"] for a in attempts] == ["127.0.0.3", "127.0.0.3"]
    finally:
        for proc in (early, late):
            if proc is not None:
                stop(proc)
        metrics = watcher.metrics()
        watcher.stop()
    assert "siplocate_publish_connected 1.0" in metrics


def client_for(cluster: Cluster, health: RedisHealth | None = None) -> SipClient:
    return SipClient(
        cluster.aor,
        password=PASSWORD,
        resolver=Resolver(nameservers=[cluster.nameserver], transports=("udp",)),
        transports=("udp",),
        failover_after=0.3,
        timers=Timers(t1=0.1),
        health=health,
    )


async def publish(redis_server: RedisServer, field: str, entry: Entry) -> None:
    import redis.asyncio

    conn = redis.asyncio.Redis(port=redis_server.port, socket_timeout=2)
    try:
        await conn.hset(HASH, field, entry.encode())
        await conn.publish(CHANNEL, encode_message(field, entry))
    finally:
        await conn.aclose()


async def eventually(check: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not within {timeout}s: {what}")


async def test_entries_past_expires_are_ignored(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    now = time.time()
    primary_field = encode_field(("udp", *cluster.addresses[0]))
    backup_field = encode_field(("udp", *cluster.addresses[1]))
    # Left by a prober that died long ago: says nothing.
    await publish(redis_server, backup_field, Entry(False, now - 100, now - 50, None, "dead"))
    health = RedisHealth(redis_server.url)
    async with client_for(cluster, health) as client:
        try:
            assert await health.ready(5.0)
            targets, _ = await client.targets()
            primary, backup = (next(t for t in targets if t.address == a) for a, _ in
                               cluster.addresses)  # fmt: skip
            assert not client.is_down(backup) and health.ignored == 1
            # Down for 1.5 s: skipped at once (one message's delay), free again after expiry.
            await publish(redis_server, primary_field, Entry(False, now, now + 1.5, None, "p"))
            await eventually(lambda: client.is_down(primary), 2.0, "primary skipped")
            order = client.failover.order(targets, client.clock.monotonic())
            assert key(order[0]) == key(backup)
            await eventually(lambda: not client.is_down(primary), 5.0, "expiry lifts it")
            assert time.time() >= now + 1.5
        finally:
            await health.stop()


async def test_redis_killed_and_restarted_falls_back_then_rejoins(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    events: list[str] = []
    health = RedisHealth(
        redis_server.url,
        fallback_interval=0.3,
        backoff=Backoff(0.2, 0.5),
        on_event=lambda e: events.append(e.event),
    )
    async with client_for(cluster, health) as client:
        try:
            assert await health.ready(5.0) and events == ["shared"]
            follower = health.followers[0]
            redis_server.kill()
            await eventually(lambda: events[-1] == "fallback", 10.0, "fallback event")
            assert follower.monitor is not None
            # Probing alone meanwhile: the client's own OPTIONS see the primary die.
            targets, _ = await client.targets()
            primary = next(t for t in targets if t.address == cluster.addresses[0][0])
            await eventually(lambda: follower.monitor is not None and follower.monitor.rounds > 0,
                             5.0, "own probe rounds")  # fmt: skip
            cluster.primary.kill()
            await eventually(lambda: client.is_down(primary), 5.0, "own probing sees it")
            redis_server.start()
            await eventually(lambda: events[-1] == "shared", 10.0, "rejoined")
            assert follower.monitor is None and health.shared
            # Following the channel again: a prober's word reaches the client, both ways.
            field = encode_field(("udp", *cluster.addresses[1]))
            now = time.time()
            await publish(redis_server, field, Entry(False, now, now + 30, None, "p"))
            backup = next(t for t in targets if t.address == cluster.addresses[1][0])
            await eventually(lambda: client.is_down(backup), 3.0, "message after rejoin")
            # What probing alone saw down is the shared state's to lift now.
            field = encode_field(("udp", *cluster.addresses[0]))
            await publish(redis_server, field, Entry(True, now, now + 30, 1.0, "p"))
            await eventually(lambda: not client.is_down(primary), 3.0, "up after rejoin")
        finally:
            await health.stop()
    assert events == ["shared", "fallback", "shared"]


def test_probe_reports_the_fleets_verdict_instead_of_probing(
    cluster: Cluster, redis_server: RedisServer
) -> None:
    import redis
    from typer.testing import CliRunner

    from siplocate.cli import app

    now = time.time()
    field = encode_field(("udp", *cluster.addresses[0]))
    conn = redis.Redis(port=redis_server.port, socket_timeout=2)
    try:
        conn.hset(HASH, field, Entry(False, now - 5, now + 60, None, "prober-1").encode())
    finally:
        conn.close()
    cluster.primary.kill()  # the fleet's word is taken: no OPTIONS goes there to find out
    args = ["probe", "client.test", "-n", cluster.nameserver, "-t", "udp", "--timeout", "300ms",
            "--json", "--health"]  # fmt: skip
    result = CliRunner().invoke(app, [*args, redis_server.url])
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["targets"]
    assert [(r["address"], r["status"], r["error"]) for r in rows] == [
        ("127.0.0.2", None, "shared: down (by prober-1)"),
        ("127.0.0.3", 200, None),
    ]
    assert rows[0]["shared"]["up"] is False and rows[1]["shared"] is None
    redis_server.kill()  # Redis away: said once, every target probed
    result = CliRunner().invoke(app, [*args, redis_server.url])
    assert "probing every target" in result.stderr and "Traceback" not in result.stderr
    rows = json.loads(result.stdout)["targets"]
    assert [(r["address"], r["status"]) for r in rows] == [("127.0.0.2", None), ("127.0.0.3", 200)]
    assert rows[0]["error"] is not None and not rows[0]["error"].startswith("shared")


def test_bad_health_urls_are_bad_input(cluster: Cluster) -> None:
    from typer.testing import CliRunner

    from siplocate.cli import app

    for args in (
        ["probe", "client.test", "-n", cluster.nameserver, "--health", "http://x"],
        ["register", cluster.aor, "--health", "redis://127.0.0.1:1/0"],  # needs --follow
        ["watch", "client.test", "--publish", "127.0.0.1:6379"],
    ):
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_bench_fleet_runs_at_its_smallest() -> None:
    """The fleet bench still runs (its figures are printed, not checked here)."""
    from tests.fixtures.servers import require_binary

    for binary, package in (("named", "bind9"), ("kamailio", "kamailio"),
                            ("kamcmd", "kamailio"), ("redis-server", "redis-server")):  # fmt: skip
        require_binary(binary, package)
    root = Path(__file__).resolve().parents[2]
    args = ["bench/bench_fleet.py", "--clients", "2", "--window", "2", "--interval", "0.5"]
    proc = subprocess.run(
        [sys.executable, *args], cwd=root, capture_output=True, text=True, timeout=240
    )
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "REGISTERs to the dead primary after the prober saw it down:" in proc.stdout
    assert "registrations kept through the outage: 2/2" in proc.stdout

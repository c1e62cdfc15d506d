"""Fleet benchmark (issue 21): one prober shares server health through Redis with N clients.

Real Kamailio registrars on 127.0.0.2 (primary) and 127.0.0.3 (backup) behind real BIND9
SRV records (UDP), a real redis-server, all on loopback. In one run:

1. baseline: N `register --follow --probe-interval P` processes, each probing on its own;
2. shared: one `watch --interval P --publish redis://…` prober and N
   `register --follow --health redis://… --probe-interval P` processes (P: the fallback);
3. the primary is killed (SIGKILL): time from the kill until each client is registered on the
   backup (median, max), and REGISTERs that still went to the primary after the prober's
   `target_down` event;
4. Redis is killed mid-run, then restarted: how many clients fell back (event), kept their
   registration (no `lost`), rejoined; OPTIONS/s at the backup meanwhile.

OPTIONS per second at each registrar are read from Kamailio's own counter
(`core:rcv_requests_options`, through its ctl socket) over a window in steps 1 and 2.

Run: .venv/bin/python bench/bench_fleet.py [--clients 20] [--interval 1] [--window 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.kamailio import (  # noqa: E402
    PASSWORD,
    ClientDns,
    Cluster,
    Kamailio,
    start_client_dns,
)
from tests.fixtures.redis import RedisServer  # noqa: E402
from tests.fixtures.servers import free_port, kill_pid, wait_until  # noqa: E402

PY = sys.executable


class CountingKamailio(Kamailio):
    """The test registrar plus a ctl socket, so its request counters can be read."""

    @property
    def ctl(self) -> Path:
        return self.workdir / "ctl.sock"

    def config(self) -> str:
        extra = 'loadmodule "ctl.so"\nloadmodule "kex.so"\n'
        extra += f'modparam("ctl", "binrpc", "unix:{self.ctl}")\n'
        return super().config().replace('loadmodule "tm.so"\n', 'loadmodule "tm.so"\n' + extra, 1)

    def options_received(self) -> int:
        out = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.ctl}", "stats.get_statistics",
             "rcv_requests_options"],
            capture_output=True, text=True, timeout=5, check=True,
        ).stdout  # fmt: skip
        # e.g. "{\n\tcore:rcv_requests_options = 12\n}" (a list or a struct, by version)
        for token in out.replace("=", " ").split():
            if token.isdigit():
                return int(token)
        raise RuntimeError(f"no counter in kamcmd output: {out!r}")


class Fleet:
    """The processes of one run, their output files, and how to stop them (by PID)."""

    def __init__(self, dns: ClientDns, cluster: Cluster, redis: RedisServer) -> None:
        self.dns, self.cluster, self.redis = dns, cluster, redis
        self.dir = Path(tempfile.mkdtemp(prefix="siplocate-fleet-"))
        self.pw = self.dir / "pw"
        self.pw.write_text(PASSWORD + "\n")
        self.pw.chmod(0o600)
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, args: list[str]) -> Path:
        out = self.dir / f"{name}.jsonl"
        self.procs.append(
            subprocess.Popen(
                [PY, "-m", "siplocate", *args],
                stdout=open(out, "wb"),  # noqa: SIM115
                stderr=open(self.dir / f"{name}.err", "wb"),  # noqa: SIM115
                start_new_session=True,
            )
        )
        return out

    def clients(self, prefix: str, n: int, extra: list[str]) -> list[Path]:
        common = ["register", "sip:alice@client.test", "--password-file", str(self.pw),
                  "--follow", "--json", "--expires", "3600", "-n", self.dns.nameserver,
                  "-t", "udp", "--failover-after", "500ms", "--t1", "200ms"]  # fmt: skip
        return [self.spawn(f"{prefix}{i}", [*common, *extra]) for i in range(n)]

    def stop_all(self) -> None:
        for p in self.procs:
            kill_pid(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                kill_pid(p.pid, signal.SIGKILL)
                p.wait(timeout=5)
        self.procs.clear()


def events(path: Path) -> list[dict[str, object]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def registered_on(path: Path, address: str) -> bool:
    """The newest registration event of one client names ``address``."""
    regs = [e for e in events(path) if e.get("event") in ("registered", "failover", "failback")]
    return bool(regs) and regs[-1].get("address") == address


def rate(servers: list[CountingKamailio], seconds: float) -> list[float]:
    """OPTIONS per second each registrar received over the next ``seconds``."""
    before = [s.options_received() for s in servers]
    time.sleep(seconds)
    return [(s.options_received() - b) / seconds for s, b in zip(servers, before, strict=True)]


def all_registered(paths: list[Path], address: str, timeout: float, what: str) -> None:
    wait_until(lambda: all(registered_on(p, address) for p in paths), timeout, what, 0.2)


def main(args: argparse.Namespace) -> None:
    for binary in ("named", "kamailio", "redis-server", "kamcmd"):
        if not (shutil.which(binary) or os.path.exists(f"/usr/sbin/{binary}")):
            sys.exit(f"bench_fleet: {binary} not found (./dev setup installs the servers)")
    n, p = args.clients, args.interval
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"], ttl=60)
    cluster = Cluster("client.test", dns.addresses, dns.nameserver)
    cluster.servers = [CountingKamailio(a, port=port) for a, port in dns.addresses]
    redis = RedisServer(shutil.which("redis-server") or "redis-server", port=free_port())
    fleet = None
    try:
        for s in cluster.servers:
            s.start()
        redis.start()
        fleet = Fleet(dns, cluster, redis)
        run(fleet, cluster.servers, n, p, args.window)  # type: ignore[arg-type]
    finally:
        if fleet is not None:
            fleet.stop_all()
            shutil.rmtree(fleet.dir, ignore_errors=True)
        redis.stop()
        cluster.stop()
        dns.bind.stop()


def run(fleet: Fleet, servers: list[CountingKamailio], n: int, p: float, window: float) -> None:
    print(f"siplocate fleet benchmark: {n} register --follow clients, 2 real Kamailio behind real")
    print(f"BIND9 (UDP), a real redis-server; probe interval {p:g} s (clients and prober alike)")
    interval = f"{p:g}s"
    # 1. Baseline: every client probes on its own.
    alone = fleet.clients("alone", n, ["--probe-interval", interval])
    all_registered(alone, "127.0.0.2", 60 + n * 3, "self-probing clients registered")
    time.sleep(2 * p)
    own = rate(servers, window)
    fleet.stop_all()
    time.sleep(2 * p)
    # 2. Shared: one prober, N followers.
    watch = fleet.spawn("watch", ["watch", "client.test", "-n", fleet.dns.nameserver,
                                   "--transports", "udp", "--interval", f"{p:g}", "--timeout",
                                   "0.5", "--publish", fleet.redis.url,
                                   "--listen", f"127.0.0.1:{free_port()}"])  # fmt: skip
    shared = fleet.clients("shared", n, ["--health", fleet.redis.url, "--probe-interval", interval])
    all_registered(shared, "127.0.0.2", 60 + n * 3, "shared-health clients registered")
    time.sleep(2 * p)
    one = rate(servers, window)
    print()
    print(f"{'OPTIONS/s received':<34}{'primary':>10}{'backup':>10}")
    print(f"{f'{n} self-probing clients':<34}{own[0]:>10.1f}{own[1]:>10.1f}")
    print(f"{f'1 prober + {n} --health clients':<34}{one[0]:>10.1f}{one[1]:>10.1f}")
    ratio = [o / s if s else float("inf") for o, s in zip(own, one, strict=True)]
    print(f"{'ratio (goal: ' + str(n) + ')':<34}{ratio[0]:>10.1f}{ratio[1]:>10.1f}")
    # 3. Kill the primary.
    killed = time.time()
    servers[0].kill()
    all_registered(shared, "127.0.0.3", 30, "every client on the backup")
    down = [
        e
        for e in events(watch)
        if e.get("kind") == "target_down" and (e.get("target") or {}).get("address") == "127.0.0.2"
    ]  # type: ignore[union-attr]
    seen = float(down[0]["ts"]) if down else float("nan")  # type: ignore[arg-type]
    moved, late = [], 0
    for path in shared:
        evs = events(path)
        over = next(e for e in evs if e.get("event") == "failover")
        moved.append(float(over["at"]) - killed)  # type: ignore[arg-type]
        # (an event's attempts carry no start time: counted when the event came after it)
        late += sum(
            1
            for e in evs
            if float(e["at"]) >= seen  # type: ignore[arg-type]
            for a in e.get("attempts", [])  # type: ignore[attr-defined]
            if a["address"] == "127.0.0.2"
        )
    print()
    print(f"primary killed; the prober saw it down after {seen - killed:.2f} s")
    print(
        f"registered on the backup after: median {statistics.median(moved):.2f} s, "
        f"max {max(moved):.2f} s ({len(moved)}/{n} clients)"
    )
    print(f"REGISTERs to the dead primary after the prober saw it down: {late} (goal 0)")
    # 4. Redis killed mid-run, then back.
    gone = time.time()
    fleet.redis.kill()
    wait_until(lambda: all(any(e.get("event") == "health-fallback" for e in events(x))
                           for x in shared), 30, "every client falling back", 0.2)  # fmt: skip
    fell = [
        min(float(e["at"]) for e in events(x) if e.get("event") == "health-fallback") - gone
        for x in shared
    ]  # type: ignore[arg-type]
    time.sleep(2 * p)
    alone_rate = rate(servers[1:], window)[0]
    fleet.redis.start()
    back = time.time()

    def rejoined(x: Path) -> bool:
        return sum(1 for e in events(x) if e.get("event") == "health-shared") >= 2

    wait_until(lambda: all(rejoined(x) for x in shared), 60, "every client rejoining", 0.2)
    rejoin = [
        max(float(e["at"]) for e in events(x) if e.get("event") == "health-shared") - back
        for x in shared
    ]  # type: ignore[arg-type]
    time.sleep(2 * p)
    after = rate(servers[1:], window)[0]
    lost = sum(1 for x in shared for e in events(x) if e.get("event") == "lost")
    kept = sum(1 for x in shared if registered_on(x, "127.0.0.3"))
    print()
    print(
        f"redis-server killed: {n}/{n} clients fell back to probing alone within "
        f"{max(fell):.2f} s (median {statistics.median(fell):.2f} s)"
    )
    print(f"backup OPTIONS/s while Redis was away: {alone_rate:.1f}; after rejoining: {after:.1f}")
    print(
        f"redis-server restarted: every client rejoined within {max(rejoin):.2f} s "
        f"(median {statistics.median(rejoin):.2f} s)"
    )
    print(f"registrations kept through the outage: {kept}/{n} on the backup, {lost} 'lost' events")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--interval", type=float, default=1.0, help="probe interval, seconds")
    parser.add_argument("--window", type=float, default=10.0, help="rate window, seconds")
    main(parser.parse_args())

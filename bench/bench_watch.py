"""Watch benchmark (issue 10): CPU, detection time and memory for 1,000 watched targets.

200 domains x 5 targets (127.0.1.1-5, one UDP port per target) answered by a small
OPTIONS responder in a child process on loopback; the domains come from one zone file.

1. CPU: the real watcher (SIP OPTIONS over UDP, real clock) probes all 1,000 targets every
   5 s; CPU time of this process (the responder is another process) over wall time.
2. Detection: a target is made to refuse (socket closed: ICMP port unreachable) or to go
   silent (requests dropped); time until /metrics says 0 and until the event is out,
   against the bound of one probe interval + the probe timeout.
3. Memory: the same watcher, its 1,000 targets, then carried through a simulated week with
   injected time (ManualClock; synthetic probe results every --sim-interval s, 30 min by
   default: history is bounded by count (120 probes) and by hour (168), so once both are
   full the rate does not change the steady state); RSS sampled every 12 simulated hours.

Run: .venv/bin/python bench/bench_watch.py [--cpu-seconds 60] [--sim-interval 1800]

Scale (issue 20), with --scale: --domains (10,000) x 5 targets split over --shards (4)
watcher processes by ``watch --shard I/N``'s rule, each asking a local BIND (127.0.0.1, a
free port; --concurrency resolutions in flight) and probing at --scale-interval (30 s)
with the real SIP prober; the targets share --ports UDP responder sockets per address (one
process, one socket per (address, port): several domains per socket, as customer domains
share SBCs). Per shard: the time until every domain is resolved and has a state, CPU over
--scale-cpu-seconds, RSS, /metrics size and HTTP scrape time, and the detection time
of one target made silent against interval + timeout. Then the /probe pattern: one instance
with no domains of its own (``--probe-any``), --callers concurrent HTTP callers for
--probe-seconds; probes (targets) per second and CPU. From these: domains one core watches
at a 30 s interval, and the instances 50,000 trunks of 5 targets need.

Run: .venv/bin/python bench/bench_watch.py --scale [--domains 10000 --shards 4]
     .venv/bin/python bench/bench_watch.py --metrics-size   (/metrics bytes per target)
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import resource
import statistics
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from siplocate import Resolver  # noqa: E402
from siplocate.target import Target  # noqa: E402
from siplocate.watch import EventLog, ManualClock, ProbeResult, Watcher  # noqa: E402

DOMAINS = 200
PER_DOMAIN = 5
INTERVAL = 5.0
TIMEOUT = 2.0


# -- the OPTIONS responder (child process) ------------------------------------------------------


class Responder(asyncio.DatagramProtocol):
    """Answers every SIP request with 200 OK (Via/From/To/Call-ID/CSeq copied) unless silent."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.silent = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if self.silent or self.transport is None:
            return
        head = data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
        keep = [
            h
            for h in head[1:]
            if h.split(b":", 1)[0].strip().lower()
            in (b"via", b"v", b"from", b"f", b"to", b"t", b"call-id", b"i", b"cseq")
        ]
        reply = b"SIP/2.0 200 OK\r\n" + b"\r\n".join(keep) + b"\r\nContent-Length: 0\r\n\r\n"
        self.transport.sendto(reply, addr)


def responder_main(conn: Connection, addresses: list[str], count: int) -> None:
    """Bind ``count`` UDP sockets on each address, report the ports, obey commands."""

    async def run() -> None:
        loop = asyncio.get_running_loop()
        protos: dict[tuple[str, int], Responder] = {}
        ports: list[list[int]] = []
        for _ in range(count):
            row = []
            for a in addresses:
                transport, proto = await loop.create_datagram_endpoint(Responder, local_addr=(a, 0))
                port = transport.get_extra_info("sockname")[1]
                protos[(a, port)] = proto
                row.append(port)
            ports.append(row)
        conn.send(ports)
        done = asyncio.Event()
        pending: set[asyncio.Task[None]] = set()

        async def reopen(key: tuple[str, int]) -> None:
            _, proto = await loop.create_datagram_endpoint(Responder, local_addr=key)
            protos[key] = proto

        def command() -> None:
            what, a, port = conn.recv()
            key = (a, port)
            if what == "quit":
                done.set()
            elif what == "silent":
                protos[key].silent = True
            elif what == "answer":
                protos[key].silent = False
            elif what == "close":
                assert protos[key].transport is not None
                protos[key].transport.close()  # type: ignore[union-attr]
            elif what == "open":
                task = loop.create_task(reopen(key))
                pending.add(task)
                task.add_done_callback(pending.discard)
            conn.send("ok")

        loop.add_reader(conn.fileno(), command)
        await done.wait()

    asyncio.run(run())


def zone_text(
    ports: list[list[int]], addresses: list[str], domains: int = DOMAINS, origin: str = "bench"
) -> str:
    """``domains`` domains (d000...), each with one target per address; domain ``d`` uses
    the ports of row ``d % len(ports)`` (so rows are shared when there are fewer)."""
    lines = [
        f"$ORIGIN {origin}.test.",
        "$TTL 3600",
        "@ IN SOA ns hostmaster 1 3600 600 86400 3600",
        "@ IN NS ns",
        "ns IN A 127.0.0.1",
    ]
    for d in range(domains):
        name = f"d{d:03d}"
        lines.append(f'{name} IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.{name}')
        row = ports[d % len(ports)]
        for k, (a, port) in enumerate(zip(addresses, row, strict=True), 1):
            prio = 10 if k <= 3 else 20
            lines.append(f"_sip._udp.{name} IN SRV {prio} {10 * k} {port} sip{k}.{name}")
            lines.append(f"sip{k}.{name} IN A {a}")
    return "\n".join(lines) + "\n"


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


class Synthetic:
    """Instant probe results for the simulated week: RTT jitter, a few targets flapping."""

    def __init__(self, clock: ManualClock, flapping: set[tuple[str, int]]) -> None:
        self.clock = clock
        self.flapping = flapping
        self.rng = random.Random(1)

    async def probe(self, domain: str, target: Target, timeout: float) -> ProbeResult:
        key = (target.address, target.port)
        if key in self.flapping and int(self.clock.wall() // 1800) % 2:
            return ProbeResult(False, None, "timeout", timeout)
        return ProbeResult(True, 200, None, 0.0005 + self.rng.random() * 0.002)

    async def close(self) -> None:
        pass

    async def forget(self, domain: str) -> None:
        pass


async def main(args: argparse.Namespace) -> None:
    from prometheus_client import disable_created_metrics

    disable_created_metrics()  # as the service does
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    addresses = [f"127.0.1.{k}" for k in range(1, PER_DOMAIN + 1)]
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(target=responder_main, args=(child, addresses, DOMAINS))
    proc.start()
    ports: list[list[int]] = parent.recv()

    def tell(what: str, a: str = "", port: int = 0) -> None:
        parent.send((what, a, port))
        parent.recv()

    zone = Path(tempfile.mkdtemp(prefix="bench-watch-")) / "bench.test.zone"
    zone.write_text(zone_text(ports, addresses))
    domains = [f"d{d:03d}.bench.test" for d in range(DOMAINS)]
    log = EventLog()
    w = Watcher(
        domains, Resolver(zones=[zone]), interval=INTERVAL, timeout=TIMEOUT, log=log, lint=False
    )
    print(
        f"watch bench: {DOMAINS} domains x {PER_DOMAIN} targets = {DOMAINS * PER_DOMAIN} "
        f"targets, UDP OPTIONS every {INTERVAL:g} s, timeout {TIMEOUT:g} s, "
        f"python {sys.version.split()[0]}, {os.cpu_count()} cores"
    )
    rss_start = rss_mb()
    await w.start()
    targets = sum(len(v.targets) for v in w.views.values())
    assert targets == DOMAINS * PER_DOMAIN, targets

    # 1. CPU -------------------------------------------------------------------------------
    await asyncio.sleep(args.warmup)
    probes0 = sum(h.probes for v in w.views.values() for h in v.targets.values())
    cpu0, wall0 = cpu_seconds(), time.monotonic()
    await asyncio.sleep(args.cpu_seconds)
    cpu1, wall1 = cpu_seconds(), time.monotonic()
    probes1 = sum(h.probes for v in w.views.values() for h in v.targets.values())
    up = sum(1 for v in w.views.values() for h in v.targets.values() if h.up)
    rtts = [h.rtt for v in w.views.values() for h in v.targets.values() if h.rtt is not None]
    wall = wall1 - wall0
    print("\n1. CPU, real probing")
    print(
        f"   {probes1 - probes0} probes in {wall:.1f} s = {(probes1 - probes0) / wall:.0f}/s "
        f"(expected {targets / INTERVAL:.0f}/s); {up}/{targets} targets up; "
        f"median RTT {statistics.median(rtts) * 1000:.2f} ms"
    )
    print(
        f"   CPU {cpu1 - cpu0:.2f} s over {wall:.1f} s wall = "
        f"{100 * (cpu1 - cpu0) / wall:.1f}% of one core (target < 25%)"
    )
    print(f"   RSS {rss_mb():.1f} MB (at start {rss_start:.1f} MB)")

    # 2. Detection --------------------------------------------------------------------------
    print(
        "\n2. Detection: target made to fail -> metric 0 and event "
        f"(bound: interval + timeout = {INTERVAL + TIMEOUT:g} s)"
    )
    rng = random.Random(7)
    worst = 0.0
    for trial in range(args.trials):
        mode = "close" if trial % 2 == 0 else "silent"
        d = rng.randrange(DOMAINS)
        k = rng.randrange(PER_DOMAIN)
        a, port = addresses[k], ports[d][k]
        view = w.views[domains[d]]
        h = view.targets[("udp", a, port)]
        gauge = w.metrics.target_up.labels(
            domains[d], "udp", f"sip{k + 1}.{domains[d]}", a, str(port), str(h.tier)
        )
        seen = log.count
        tell(mode, a, port)
        t0 = time.monotonic()
        t_metric = t_event = None
        while time.monotonic() - t0 < 3 * (INTERVAL + TIMEOUT):
            now = time.monotonic() - t0
            if t_metric is None and gauge._value.get() == 0:
                t_metric = now
            if t_event is None and any(
                e.kind == "target_down" and e.target and e.target["port"] == port
                for e in list(log.recent)[-(log.count - seen) or len(log.recent) :]
            ):
                t_event = now
            if t_metric is not None and t_event is not None:
                break
            await asyncio.sleep(0.005)
        assert h.up is False, "target not detected down"
        worst = max(worst, t_metric or 99, t_event or 99)
        print(
            f"   {mode:6s} {a}:{port}: metric after {t_metric:.2f} s, event after {t_event:.2f} s"
        )
        tell("answer" if mode == "silent" else "open", a, port)
    print(
        f"   worst {worst:.2f} s; bound {INTERVAL + TIMEOUT:g} s: "
        f"{'within' if worst <= INTERVAL + TIMEOUT else 'OVER'}"
    )
    await w.stop()
    tell("quit")
    proc.join(5)

    # 3. Memory over a simulated week -----------------------------------------------------------
    clock = ManualClock(start=time.time())
    flapping = {(addresses[k], ports[d][k]) for d in range(0, DOMAINS, 20) for k in (0,)}
    w.clock = clock
    w.prober = Synthetic(clock, flapping)
    w.interval = args.sim_interval
    w.log.sinks.clear()
    await w.start()
    print(
        f"\n3. Memory: a simulated week, probe results every {args.sim_interval:g} s "
        f"(synthetic; {len(flapping)} targets flapping every 30 min)"
    )
    samples = []
    step = 12 * 3600
    started = time.monotonic()
    for i in range(1, 15):
        await clock.advance(step)
        samples.append(rss_mb())
        if i % 2 == 0:
            print(
                f"   day {i // 2}: RSS {samples[-1]:.1f} MB, "
                f"{sum(h.probes for v in w.views.values() for h in v.targets.values())} "
                f"probes recorded, {log.count} events"
            )
    half = samples[len(samples) // 2 - 1 :]
    growth = half[-1] - half[0]
    print(
        f"   simulated in {time.monotonic() - started:.0f} s; RSS end {samples[-1]:.1f} MB "
        f"(target < 200 MB); last half {half[0]:.1f} -> {half[-1]:.1f} MB "
        f"({growth:+.1f} MB)"
    )
    exposition = len(w.metrics.exposition())
    print(
        f"   /metrics exposition {exposition / 1024:.0f} KiB; /api/state "
        f"{len(str(w.state())) / 1024:.0f} KiB"
    )
    await w.stop()


if __name__ == "__main__":
    from bench_watch_scale import add_scale_args, metrics_size, scale

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--cpu-seconds", type=float, default=60.0)
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--trials", type=int, default=6)
    p.add_argument("--sim-interval", type=float, default=1800.0)
    add_scale_args(p)
    a = p.parse_args()
    if a.metrics_size:
        metrics_size()
    else:
        scale(a) if a.scale else asyncio.run(main(a))

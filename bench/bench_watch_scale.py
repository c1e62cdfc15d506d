"""The scale part of bench_watch.py (issue 20): run as ``bench/bench_watch.py --scale``.

Shard watchers and the /probe instance are child processes (fork), each timed by its own
getrusage; the OPTIONS responder is another; this process only orchestrates and, for the
/probe pattern, is the HTTP caller.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import multiprocessing as mp
import os
import resource
import signal
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

from bench_netns import Fleet, enter, shard_address
from bench_watch import ROOT, cpu_seconds, responder_main, rss_mb, zone_text

from siplocate import Resolver
from siplocate.target import Target
from siplocate.watch import EventLog, Watcher
from siplocate.watch.monitor import CONCURRENCY
from siplocate.watch.probe import LintCache
from siplocate.watch.shard import Shard

sys.path.insert(0, str(ROOT))
from tests.fixtures.bind import BindServer

PER_DOMAIN = 5
TIMEOUT = 2.0
TRUNKS = 50_000
SCRAPE_TIMEOUT = 10.0  # Prometheus' default scrape_timeout
LOOPBACK = [f"127.0.1.{k}" for k in range(1, PER_DOMAIN + 1)]


def add_scale_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scale", action="store_true", help="run the scale bench (issue 20)")
    p.add_argument("--domains", type=int, default=10_000)
    p.add_argument("--shards", type=int, default=4)
    p.add_argument("--scale-interval", type=float, default=30.0)
    p.add_argument("--ports", type=int, default=1000, help="responder sockets per address")
    p.add_argument("--scale-cpu-seconds", type=float, default=60.0)
    p.add_argument("--probe-seconds", type=float, default=20.0)
    p.add_argument("--callers", type=int, default=16, help="concurrent /probe callers")
    p.add_argument("--concurrency", type=int, default=CONCURRENCY, help="per shard watcher")
    p.add_argument(
        "--probe-domains",
        type=int,
        default=0,
        help="/probe callers cycle over the first N domains (0: all): repeated checks of a "
        "domain, as Prometheus scrapes each target every interval",
    )
    p.add_argument("--probe-only", action="store_true", help="only the /probe pattern")
    p.add_argument(
        "--no-lint-cache", action="store_true", help="/probe lints every check (the baseline)"
    )
    p.add_argument("--metrics-size", action="store_true", help="only the /metrics bytes per target")
    p.add_argument(
        "--netns",
        action="store_true",
        help="each shard in a network namespace of its own (its own ports, as a machine), "
        "BIND and the responders in a hub namespace, joined by veth pairs (needs root)",
    )
    p.add_argument("--scrapes", type=int, default=5, help="/metrics scrapes per shard (median)")


def metrics_size(domains: int = 200) -> float:
    """Bytes of ``/metrics`` per target, from the watcher's own metrics layer: ``domains``
    domains x 5 targets named as in the scale zone, each probed once (one target per domain
    failed), with the share of each family. In-process and quick."""
    from prometheus_client import disable_created_metrics

    from siplocate.target import Transport
    from siplocate.watch.metrics import Metrics
    from siplocate.watch.model import DomainView, TargetHealth

    disable_created_metrics()  # type: ignore[no-untyped-call]
    m = Metrics()
    for d in range(domains):
        view = DomainView(f"d{d:04d}.scale.test")
        m.prepare(view.domain)
        m.resolve.labels(view.domain).observe(0.003)  # its resolution, as the watcher does
        for k in range(1, PER_DOMAIN + 1):
            t = Target(Transport.UDP, f"sip{k}.{view.domain}", 20000 + d, f"127.0.1.{k}")
            h = TargetHealth(t)
            h.tier = 0 if k <= 3 else 1
            h.record(1.7e9, k != 5, 200 if k != 5 else None, None, 0.004)
            m.probed(view.domain, h, True)
        m.domain(view)
    text = m.exposition().decode()
    total = len(text.encode())
    per_target = total / (domains * PER_DOMAIN)
    families: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name = line.split("{", 1)[0].split(" ", 1)[0]
        for suffix in ("_bucket", "_sum", "_count"):
            name = name.removesuffix(suffix)
        families[name] = families.get(name, 0) + len(line) + 1
    print(
        f"/metrics: {domains} domains x {PER_DOMAIN} targets = {total / 1024:.0f} KiB, "
        f"{per_target:.0f} bytes per target (domain series included)"
    )
    for name, size in sorted(families.items(), key=lambda kv: -kv[1]):
        if size >= total / 100:
            print(f"   {name:<52} {size / (domains * PER_DOMAIN):5.0f} bytes/target")
    return per_target


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def shard_main(
    conn: Connection,
    nameserver: str,
    names: list[str],
    shard: Shard,
    a: object,
    netns: str | None = None,
) -> None:
    """One ``watch --shard I/N`` asking BIND at ``nameserver``, serving HTTP as the service
    does: start, warm up, report CPU/RSS/size, answer scrapes, then detect on cue. With
    ``netns`` it first moves into that namespace and listens on its veth address."""
    args: argparse.Namespace = a  # type: ignore[assignment]
    _raise_fd_limit()
    host = "127.0.0.1"
    if netns is not None:
        enter(netns)
        host = shard_address(shard.index)
    from prometheus_client import disable_created_metrics

    from siplocate.watch.web import make_app, serve

    disable_created_metrics()  # type: ignore[no-untyped-call]

    async def run() -> None:
        started = time.monotonic()
        owned = shard.select(names)
        resolver = Resolver([nameserver])
        w = Watcher(
            owned,
            resolver,
            interval=args.scale_interval,
            timeout=TIMEOUT,
            log=EventLog(),
            shard=shard,
            concurrency=args.concurrency,
        )
        http = await serve(make_app(w), host, 0, 4096)
        await w.start()
        resolved = time.monotonic() - started  # every domain has its records
        views = list(w.views.values())
        for _ in range(int((args.scale_interval + 3 * TIMEOUT + 60) / 0.1)):  # bounded
            if all(v.level.value != "unknown" for v in views):
                break
            await asyncio.sleep(0.1)
        stated = time.monotonic() - started  # every domain has a state (probed once)
        await asyncio.sleep(max(0.0, started + args.scale_interval + resolved - time.monotonic()))
        probes0 = sum(h.probes for v in views for h in v.targets.values())
        cpu0, wall0 = cpu_seconds(), time.monotonic()
        await asyncio.sleep(args.scale_cpu_seconds)
        cpu1, wall1 = cpu_seconds(), time.monotonic()
        probes1 = sum(h.probes for v in views for h in v.targets.values())
        up = sum(1 for v in views for h in v.targets.values() if h.up)
        targets = sum(len(v.targets) for v in views)  # when ``up`` is counted
        conn.send(
            {
                "domains": len(owned),
                "targets": targets,
                "up": up,
                "resolved": resolved,
                "stated": stated,
                "cpu": (cpu1 - cpu0) / (wall1 - wall0),
                "probes": (probes1 - probes0) / (wall1 - wall0),
                "rss": rss_mb(),
                "metrics": len(w.metrics.exposition()),
                "port": http.port,
                "host": host,
            }
        )
        loop = asyncio.get_running_loop()
        domain, key = await loop.run_in_executor(None, conn.recv)  # scrapes meanwhile
        h = w.views[domain].targets[key]
        conn.send("armed")
        for _ in range(int(3 * (args.scale_interval + TIMEOUT) / 0.01)):  # bounded
            if h.up is False:
                break
            await asyncio.sleep(0.01)
        conn.send(time.monotonic() if h.up is False else math.nan)
        await loop.run_in_executor(None, conn.recv)
        await w.stop()
        await http.close()
        resolver.close()

    asyncio.run(run())


def scrape_times(port: int, n: int = 5, host: str = "127.0.0.1") -> tuple[float, int]:
    """GET /metrics ``n`` times, one after another: the median seconds and the bytes."""
    import statistics
    import urllib.request

    took, size = [], 0
    for _ in range(n):
        t0 = time.monotonic()
        with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=60) as resp:
            size = len(resp.read())
        took.append(time.monotonic() - t0)
    return statistics.median(took), size


def probe_main(conn: Connection, nameserver: str, lint_cache: bool = True) -> None:
    """A /probe-only instance (no domains of its own) asking BIND, reporting its CPU when
    told."""
    _raise_fd_limit()

    async def run() -> None:
        from siplocate.watch.web import make_app, serve

        resolver = Resolver([nameserver])
        w = Watcher([], resolver, timeout=TIMEOUT, log=EventLog())
        if not lint_cache:
            w.lint_cache = LintCache(size=0)  # keeps nothing: every check lints
        http = await serve(make_app(w, probe_any=True), "127.0.0.1", 0, 4096)
        conn.send(http.port)
        loop = asyncio.get_running_loop()
        done = asyncio.Event()

        def command() -> None:
            what = conn.recv()
            if what == "quit":
                done.set()
            else:
                conn.send(cpu_seconds())

        loop.add_reader(conn.fileno(), command)
        await done.wait()
        await http.close()
        resolver.close()

    asyncio.run(run())


async def call_probes(port: int, names: list[str], callers: int, seconds: float) -> list[int]:
    """``callers`` loops calling /probe over ``names`` for ``seconds``: [ok, busy, targets]."""
    import aiohttp

    counts = [0, 0, 0]
    stop = time.monotonic() + seconds
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": "10"}
    async with aiohttp.ClientSession() as session:

        async def caller(i: int) -> None:
            n = i
            while time.monotonic() < stop:
                url = f"http://127.0.0.1:{port}/probe?target={names[n % len(names)]}"
                n += callers
                async with session.get(url, headers=headers) as resp:
                    text = await resp.text()
                if resp.status == 200:
                    counts[0] += 1
                    counts[2] += text.count("\nprobe_sip_target_up{")
                else:
                    counts[1] += 1

        await asyncio.gather(*(caller(i) for i in range(callers)))
    return counts


def start_bind(zone: Path, address: str = "127.0.0.1") -> BindServer:
    """BIND on ``address`` (a free port) serving the scale zone; waits until it answers."""
    named = "/usr/sbin/named" if os.path.exists("/usr/sbin/named") else "named"
    return BindServer({"scale.test": zone}, named=named, address=address).start(timeout=60.0)


def ephemeral_range() -> tuple[int, int]:
    """This namespace's ephemeral port range (0, 0 when it cannot be read)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        return 0, 0
    return low, high


def ports_free(targets: int) -> None:
    """Stop with one line when the targets would take more than half of this machine's
    ephemeral ports: the SIP client opens one UDP socket per target (each holds a local
    port), so 10,000 domains x 5 targets on one machine exhaust the 28,232 ports of Linux's
    default range (and starve every other program on it) before the last domain is probed.
    Spread over machines, each shard holds only its own share."""
    low, high = ephemeral_range()
    if high and targets > (high - low + 1) // 2:
        sys.exit(
            f"{targets} targets need {targets} UDP sockets (one local port each) on this one "
            f"machine; its ephemeral range {low}-{high} has {high - low + 1}: run fewer "
            "--domains here (the shards of a real fleet sit on separate machines)"
        )


def scale(args: argparse.Namespace) -> None:
    names = [f"d{d:03d}.scale.test" for d in range(args.domains)]
    if not args.netns:
        ports_free(args.domains * PER_DOMAIN)
        run_scale(args, names, None)
        return
    n = args.shards
    ports_free(max(len(Shard(i, n).select(names)) for i in range(n)) * PER_DOMAIN)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # still clean up
    fleet = Fleet(n)
    try:
        fleet.create(PER_DOMAIN)
        assert fleet.hub is not None
        fleet.hub.enter()  # BIND, the responders and this orchestrator: the hub
        run_scale(args, names, fleet)
    finally:
        for proc in mp.active_children():  # ours only: started by this process
            proc.terminate()
            proc.join(5)
        fleet.close()


def run_scale(args: argparse.Namespace, names: list[str], fleet: Fleet | None) -> None:
    """The shards' figures, then the /probe pattern (in the hub when ``fleet``)."""
    _raise_fd_limit()
    ctx = mp.get_context("fork")
    addresses = fleet.addresses(PER_DOMAIN) if fleet else LOOPBACK
    parent, child = ctx.Pipe()
    responder = ctx.Process(target=responder_main, args=(child, addresses, args.ports))
    responder.start()
    ports: list[list[int]] = parent.recv()
    zone = Path(tempfile.mkdtemp(prefix="bench-scale-")) / "scale.test.zone"
    zone.write_text(zone_text(ports, addresses, args.domains, "scale"))
    n = args.shards
    bind = start_bind(zone, fleet.dns if fleet else "127.0.0.1")
    where = (
        f"each shard in its own network namespace ({fleet.tag}-s0..s{n - 1}: own ports and "
        f"loopback), BIND and responders in {fleet.tag}-hub, veth pairs between"
        if fleet
        else "all shards in this machine's one network namespace"
    )
    print(
        f"watch scale bench: {args.domains} domains x {PER_DOMAIN} targets over {n} shards, "
        f"UDP OPTIONS every {args.scale_interval:g} s, timeout {TIMEOUT:g} s, resolutions "
        f"in flight <= {args.concurrency} per shard; DNS: BIND {bind.nameserver}; "
        f"{args.ports * PER_DOMAIN} responder sockets; {where}; python "
        f"{sys.version.split()[0]}, {os.cpu_count()} cores (shared)"
    )
    try:
        reports = (
            []
            if args.probe_only
            else shards(args, ctx, bind, names, parent, ports, addresses, fleet)
        )
    finally:
        bind.stop()
    parent.send(("quit", "", 0))
    parent.recv()
    responder.join(5)
    probe_pattern(args, ctx, zone, names, reports)


def shards(
    args: argparse.Namespace,
    ctx: mp.context.BaseContext,
    bind: BindServer,
    names: list[str],
    parent: Connection,
    ports: list[list[int]],
    addresses: list[str],
    fleet: Fleet | None,
) -> list[dict[str, float]]:
    """The shard watchers: their figures, their scrapes, the detection; then they stop."""
    n = args.shards
    pipes, procs = [], []
    for i in range(n):
        a, b = ctx.Pipe()
        shard = Shard(i, n)
        netns = fleet.nodes[i].name if fleet else None
        proc = ctx.Process(target=shard_main, args=(b, bind.nameserver, names, shard, args, netns))  # type: ignore[attr-defined]
        proc.start()
        pipes.append(a)
        procs.append(proc)
    reports = [p.recv() for p in pipes]
    print(f"\n1. Per shard (CPU over {args.scale_cpu_seconds:g} s after one interval of warm-up)")
    for i, r in enumerate(reports):
        print(
            f"   shard {i}/{n}: {r['domains']} domains, {r['up']}/{r['targets']} targets up; "
            f"all resolved after {r['resolved']:.1f} s, every domain has a state after "
            f"{r['stated']:.1f} s; {r['probes']:.0f} probes/s; "
            f"CPU {100 * r['cpu']:.1f}% of a core; RSS {r['rss']:.0f} MB"
        )
    print(
        f"\n2. /metrics scrapes over HTTP (median of {args.scrapes}, one shard after another; "
        f"Prometheus' default scrape_timeout is {SCRAPE_TIMEOUT:g} s)"
    )
    for i, r in enumerate(reports):
        took, size = scrape_times(int(r["port"]), args.scrapes, str(r["host"]))
        r["scrape"] = took
        over = (
            f": OVER Prometheus' default {SCRAPE_TIMEOUT:g} s scrape_timeout, the scrape "
            "would fail (raise scrape_timeout or run more, smaller shards)"
            if took > SCRAPE_TIMEOUT
            else ""
        )
        print(
            f"   shard {i}/{n}: {size / 1024:.0f} KiB ({size / max(r['targets'], 1):.0f} "
            f"bytes per target) in {1000 * took:.0f} ms{over}"
        )
    detection(args, parent, pipes, ports, addresses, names)
    for p in pipes:
        p.send("quit")
    for proc in procs:
        proc.join(30)
    return reports


def detection(
    args: argparse.Namespace,
    responder: Connection,
    pipes: list[Connection],
    ports: list[list[int]],
    addresses: list[str],
    names: list[str],
) -> None:
    """One target per shard made silent at once; time until each shard marks it down."""
    bound = args.scale_interval + TIMEOUT
    print(f"\n3. Detection: one target per shard made silent (bound: interval+timeout {bound:g} s)")
    n = len(pipes)
    chosen: list[tuple[str, int]] = []
    for i, p in enumerate(pipes):
        d = next(d for d in range(i, len(names)) if Shard(i, n).owns(names[d]))
        row = d % len(ports)
        k = i % PER_DOMAIN
        p.send((names[d], ("udp", addresses[k], ports[row][k])))
        assert p.recv() == "armed"
        chosen.append((addresses[k], ports[row][k]))
    t0 = time.monotonic()
    for a, port in chosen:
        responder.send(("silent", a, port))
        responder.recv()
    worst = 0.0
    for i, p in enumerate(pipes):
        took = p.recv() - t0
        worst = max(worst, took)
        print(f"   shard {i}: {chosen[i][0]}:{chosen[i][1]} marked down after {took:.2f} s")
    print(f"   worst {worst:.2f} s; bound {bound:g} s: {'within' if worst <= bound else 'OVER'}")


def probe_pattern(
    args: argparse.Namespace,
    ctx: mp.context.BaseContext,
    zone: Path,
    names: list[str],
    reports: list[dict[str, float]],
) -> None:
    addresses = [f"127.0.1.{k}" for k in range(1, PER_DOMAIN + 1)]
    parent, child = ctx.Pipe()  # a fresh responder for the /probe part
    responder = ctx.Process(target=responder_main, args=(child, addresses, args.ports))
    responder.start()
    ports: list[list[int]] = parent.recv()
    zone.write_text(zone_text(ports, addresses, args.domains, "scale"))
    bind = start_bind(zone)
    try:
        ok, busy, targets, cpu, wall = probe_calls(args, ctx, bind, names)
    finally:
        bind.stop()
    parent.send(("quit", "", 0))
    parent.recv()
    responder.join(5)
    print(
        f"\n4. /probe pattern: {args.callers} concurrent callers (server: 16 admitted, 4 "
        f"checks in flight) over {args.probe_domains or args.domains} domains, lint cache "
        f"{'off' if args.no_lint_cache else 'on'}, {wall:.1f} s"
    )
    print(
        f"   {ok / wall:.0f} checks/s = {targets / wall:.0f} probes (targets)/s per instance; "
        f"{busy} answered 503; CPU {100 * cpu / wall:.0f}% of a core "
        f"({1000 * cpu / max(ok, 1):.1f} ms per check, lint included)"
    )
    summary(args, reports, ok / wall)


def probe_calls(
    args: argparse.Namespace, ctx: mp.context.BaseContext, bind: BindServer, names: list[str]
) -> tuple[int, int, int, float, float]:
    """One /probe instance under the callers: checks, 503s, targets, CPU s, wall s."""
    a, b = ctx.Pipe()
    server = ctx.Process(target=probe_main, args=(b, bind.nameserver, not args.no_lint_cache))  # type: ignore[attr-defined]
    server.start()
    port = a.recv()
    names = names[: args.probe_domains] if args.probe_domains else names
    asyncio.run(call_probes(port, names, args.callers, 3.0))  # warm-up: caches, flows
    a.send("cpu")
    cpu0, t0 = a.recv(), time.monotonic()
    ok, busy, targets = asyncio.run(call_probes(port, names, args.callers, args.probe_seconds))
    a.send("cpu")
    cpu1, wall = a.recv(), time.monotonic() - t0
    a.send("quit")
    server.join(10)
    return ok, busy, targets, cpu1 - cpu0, wall


def summary(args: argparse.Namespace, reports: list[dict[str, float]], checks: float) -> None:
    print("\n5. Capacity")
    if not reports:
        print(f"   /probe pattern: {checks:.0f} checks/s per instance")
        return
    domains = sum(r["domains"] for r in reports)
    cpu = sum(r["cpu"] for r in reports)
    per_core = domains / cpu * (30.0 / args.scale_interval)  # CPU goes with probes/s
    low, high = ephemeral_range()
    cap = (high - low + 1) // 2 // PER_DOMAIN if high else per_core  # half the local ports
    need = math.ceil(TRUNKS / min(per_core, cap))
    print(
        f"   long-running watch: {domains} domains x {PER_DOMAIN} targets cost {100 * cpu:.0f}% "
        f"of a core at {args.scale_interval:g} s -> one core watches ~{per_core:.0f} domains "
        f"({per_core * PER_DOMAIN:.0f} targets) at a 30 s interval"
    )
    if cap < per_core:
        print(
            f"   but one instance holds a UDP socket (a local port) per target: with half of "
            f"the {high - low + 1} ephemeral ports it holds at most {cap} domains, so one "
            "instance per core is bounded by ports, not CPU"
        )
    print(
        f"   {TRUNKS} trunks x {PER_DOMAIN} targets at 30 s: {need} instances "
        f"(or {math.ceil(TRUNKS / min(per_core * 2 / 3, cap))} keeping a third of each "
        "core free)"
    )
    scrapes = TRUNKS / 30.0
    print(
        f"   /probe pattern at a 30 s scrape interval: {scrapes:.0f} checks/s needed, "
        f"{checks:.0f}/s per instance measured -> {math.ceil(scrapes / checks)} instances"
    )

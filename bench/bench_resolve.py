"""Resolver benchmarks (issue: Locate): cold latency in round trips, warm throughput, bulk.

Starts a real BIND9 on loopback, puts a delaying UDP/TCP relay in front of it (no netem
here), and prints each figure beside a baseline measured in the same run:
  * cold: median wall time / measured RTT, siplocate vs a plain sequential client
    (NAPTR, then SRV, then A and AAAA one after another, no EDNS);
  * warm: full Resolver.locate() per second vs one cached dnspython Resolver.resolve();
  * bulk: 2,000 distinct domains cold, bounded concurrency: domains/s and peak memory;
  * load: 10,000 concurrent locate() over the 2,000 domains through the relay at 10 ms each
    way, with 0% and 10% packet loss: completed with targets, failed, hung, wall time,
    UDP sockets, file descriptors before/after close(), "never retrieved" logs, peak RSS;
    and the cached locate cost of a 2,000-record SRV set (weighted ordering) vs 20 records.
Run: ./dev bench   (or .venv/bin/python bench/bench_resolve.py [--quick] [--only load,cold])
"""

from __future__ import annotations

import asyncio
import collections
import gc
import json
import logging
import os
import re
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.asyncquery  # noqa: E402
import dns.flags  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.resolver  # noqa: E402
from tests.fixtures.bind import BindServer  # noqa: E402
from tests.fixtures.servers import free_port, wait_until  # noqa: E402

from siplocate import Resolver  # noqa: E402
from siplocate.errors import SiplocateError  # noqa: E402
from siplocate.limits import Limits  # noqa: E402

DELAY_MS = 10.0  # each way: ~20 ms round trip
BULK = 2000


def bench_zone() -> str:
    lines = [
        "$ORIGIN bench.test.",
        "$TTL 3600",
        "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.1",
    ]
    for dom, dual in (("naptr", True), ("v4only", False), ("naptr6", False)):
        for order, (svc, prefix, port) in enumerate(
            (
                ("SIPS+D2T", "_sips._tcp", 5061),
                ("SIP+D2T", "_sip._tcp", 5060),
                ("SIP+D2U", "_sip._udp", 5060),
            )
        ):
            lines.append(f'{dom} IN NAPTR {10 * (order + 1)} 10 "s" "{svc}" "" {prefix}.{dom}')
            for h, w in (("h1", 10), ("h2", 30)):
                lines.append(f"{prefix}.{dom} IN SRV 0 {w} {port} {h}.{dom}")
        for i, h in enumerate(("h1", "h2")):
            lines.append(f"{h}.{dom} IN A 198.51.100.{10 + i}")
            if dual:
                lines.append(f"{h}.{dom} IN AAAA 2001:db8:b::{10 + i}")
    for prefix, port in (("_sips._tcp", 5061), ("_sip._tcp", 5060), ("_sip._udp", 5060)):
        for h in ("h1", "h2"):
            lines.append(f"{prefix}.srv IN SRV 0 10 {port} {h}.srv")
    for i, h in enumerate(("h1", "h2")):
        lines += [f"{h}.srv IN A 203.0.113.{10 + i}", f"{h}.srv IN AAAA 2001:db8:c::{10 + i}"]
    for prefix, port in (("_sips._tcp", 5061), ("_sip._tcp", 5060), ("_sip._udp", 5060)):
        for h in ("h1", "h2"):
            lines.append(f"{prefix}.srv4 IN SRV 0 10 {port} {h}.srv4")
    for i, h in enumerate(("h1", "h2")):
        lines.append(f"{h}.srv4 IN A 203.0.113.{20 + i}")
    return "\n".join(lines) + "\n"


def bulk_zone(n: int = BULK) -> str:
    """``n`` NAPTR domains d0000..: NAPTR -> SRV (two hosts, two priorities) -> A and AAAA."""
    lines = [
        "$ORIGIN bulk.test.",
        "$TTL 3600",
        "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.1",
    ]
    for i in range(n):
        d = f"d{i:04d}"
        lines += [
            f'{d} IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.{d}',
            f"_sip._udp.{d} IN SRV 0 10 5060 h1.{d}",
            f"_sip._udp.{d} IN SRV 1 10 5060 h2.{d}",
            f"h1.{d} IN A 192.0.2.{i % 250 + 1}",
            f"h1.{d} IN AAAA 2001:db8:d::{i:x}",
            f"h2.{d} IN A 198.51.100.{i % 250 + 1}",
            f"h2.{d} IN AAAA 2001:db8:e::{i:x}",
        ]
    return "\n".join(lines) + "\n"


async def sequential(domain: str, host: str, port: int) -> int:
    """The plain client: one question at a time, no EDNS, nothing from the additional section."""

    async def ask(name: str | dns.name.Name, rdtype: dns.rdatatype.RdataType) -> list:  # type: ignore[type-arg]
        q = dns.message.make_query(name, rdtype)
        r = await dns.asyncquery.udp(q, host, port=port, timeout=3)
        if r.flags & dns.flags.TC:
            r = await dns.asyncquery.tcp(q, host, port=port, timeout=3)
        return [rr for rrset in r.answer if rrset.rdtype == rdtype for rr in rrset]

    srv_names = [
        r.replacement
        for r in sorted(
            await ask(domain, dns.rdatatype.NAPTR), key=lambda r: (r.order, r.preference)
        )
    ]
    if not srv_names:
        srv_names = [f"{p}.{domain}" for p in ("_sips._tcp", "_sip._tcp", "_sip._udp")]
    targets = 0
    for name in srv_names:
        for srv in await ask(name, dns.rdatatype.SRV):
            targets += len(await ask(srv.target, dns.rdatatype.A))
            targets += len(await ask(srv.target, dns.rdatatype.AAAA))
    return targets


async def median_ms(make_call, runs: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        call = make_call()
        start = time.perf_counter()
        await call
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def start_relay(
    upstream: int, loss: float = 0.0, seed: int = 0
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "relay.py"),
            str(port),
            str(upstream),
            str(DELAY_MS),
            str(loss),
            str(seed),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc, port


async def cold(bind: BindServer, minimal: BindServer, runs: int) -> None:
    relay, rport = start_relay(bind.port)
    mrelay, mport = start_relay(minimal.port)
    try:
        ns, mns = f"127.0.0.1:{rport}", f"127.0.0.1:{mport}"
        q = dns.message.make_query("bench.test.", dns.rdatatype.SOA)
        rtt = await median_ms(
            lambda: dns.asyncquery.udp(q, "127.0.0.1", port=rport, timeout=3), runs
        )
        print(
            f"\n## Cold resolution through a {DELAY_MS * 2:.0f} ms round-trip relay "
            f"(measured RTT {rtt:.1f} ms; median of {runs}; caches emptied before each run)"
        )
        print(
            "fresh: a new Resolver per run (a new process or proxy worker); long-lived: one "
            "Resolver whose caches are emptied before each run (cold DNS, warm sockets)"
        )
        print(f"{'case':36} {'fresh':>16} {'long-lived':>16} {'sequential':>16}")
        cases = [
            ("NAPTR domain, dual-stack", "naptr.bench.test", ns, rport),
            ("NAPTR domain, IPv4-only", "v4only.bench.test", ns, rport),
            ("SRV-only domain, dual-stack", "srv.bench.test", ns, rport),
            ("SRV-only domain, IPv4-only", "srv4.bench.test", ns, rport),
            ("NAPTR, minimal-responses yes", "naptr.bench.test", mns, mport),
        ]
        for label, domain, server, port in cases:

            async def fresh_locate(s: str = server, d: str = domain) -> None:
                r = Resolver([s])
                try:
                    await r.locate(f"sip:{d}")
                finally:
                    r.close()

            resolver = Resolver([server])

            def cold_locate(r: Resolver = resolver, d: str = domain):  # type: ignore[no-untyped-def]
                r.forget()
                return r.locate(f"sip:{d}")

            fresh = await median_ms(fresh_locate, runs)
            ours = await median_ms(cold_locate, runs)
            seq = await median_ms(lambda d=domain, p=port: sequential(d, "127.0.0.1", p), runs)
            print(
                f"{label:36} {fresh / rtt:6.2f} RTT {fresh:6.1f} ms {ours / rtt:6.2f} RTT "
                f"{ours:6.1f} ms {seq / rtt:6.2f} RTT {seq:6.1f} ms"
            )
            resolver.close()
    finally:
        relay.terminate()
        mrelay.terminate()


async def warm(bind: BindServer, n: int) -> None:
    resolver = Resolver([bind.nameserver])
    target = "sip:alice@naptr6.bench.test"
    res = await resolver.locate(target)
    assert len(res.targets) == 6, res.targets
    for _ in range(1000):
        await resolver.locate(target)
    start = time.perf_counter()
    for _ in range(n):
        await resolver.locate(target)
    ours = n / (time.perf_counter() - start)

    base = dns.resolver.Resolver(configure=False)
    base.nameservers = ["127.0.0.1"]
    base.port = bind.port
    base.cache = dns.resolver.Cache()
    base.resolve("_sip._udp.naptr6.bench.test", "SRV")
    for _ in range(1000):
        base.resolve("_sip._udp.naptr6.bench.test", "SRV")
    start = time.perf_counter()
    for _ in range(n):
        base.resolve("_sip._udp.naptr6.bench.test", "SRV")
    theirs = n / (time.perf_counter() - start)
    print(f"\n## Warm cache, one core ({n} calls)")
    print(f"siplocate Resolver.locate() (NAPTR domain, 6 targets): {ours:10,.0f} /s")
    print(f"dnspython cached Resolver.resolve() (one SRV lookup):  {theirs:10,.0f} /s")
    print(f"ratio: {ours / theirs:.2f}x")


def bulk_worker(nameserver: str, concurrency: int) -> None:
    """Runs in a child process so its peak memory is its own."""
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def go() -> tuple[float, int]:
        resolver = Resolver([nameserver], timeout=3)
        sem = asyncio.Semaphore(concurrency)
        found = 0

        async def one(i: int) -> None:
            nonlocal found
            async with sem:
                res = await resolver.locate(f"sip:d{i:04d}.bulk.test")
                found += len(res.targets)

        start = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(BULK)))
        return time.perf_counter() - start, found

    elapsed, found = asyncio.run(go())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"elapsed": elapsed, "targets": found, "peak_kb": peak, "base_kb": base_rss}))


def bulk(bind: BindServer, concurrency: int) -> None:
    out = subprocess.run(
        [sys.executable, __file__, "--bulk-worker", bind.nameserver, str(concurrency)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    ).stdout
    r = json.loads(out)
    print(
        f"\n## Bulk: {BULK} distinct NAPTR domains, cold, direct to local BIND, "
        f"concurrency {concurrency}"
    )
    print(
        f"{BULK / r['elapsed']:,.0f} domains/s ({r['elapsed']:.2f} s, {r['targets']} targets); "
        f"peak RSS {r['peak_kb'] / 1024:.1f} MiB (after imports {r['base_kb'] / 1024:.1f} MiB, "
        f"+{(r['peak_kb'] - r['base_kb']) / 1024:.1f} MiB for the run)"
    )


LOAD_CALLS = 10_000
LOAD_DEADLINE = 60.0  # a locate() not finished by then counts as hung
LOAD_LOSSES = (0.0, 10.0)  # percent of UDP packets the relay drops, each way


def _fds() -> tuple[int, int]:
    """(open file descriptors, of which sockets) of this process, from /proc/self/fd."""
    total = sockets = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        total += 1
        sockets += target.startswith("socket:")
    return total, sockets


class _LogCount(logging.Handler):
    """Counts asyncio's error logs, and among them "Task exception was never retrieved"."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.errors = 0
        self.never_retrieved = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.errors += 1
        self.never_retrieved += "never retrieved" in record.getMessage()


def udp_receive_errors() -> int:
    """Datagrams the kernel dropped for a full socket receive buffer, machine-wide (the
    resolver's, the relay's and BIND's sockets all count): /proc/net/snmp RcvbufErrors."""
    snmp = Path("/proc/net/snmp").read_text().splitlines()
    lines = [x.split() for x in snmp if x.startswith("Udp:")]
    return int(dict(zip(lines[0], lines[1], strict=True))["RcvbufErrors"])


def load_worker(nameserver: str) -> None:
    """Runs in a child process: its sockets, descriptors and peak memory are its own."""
    logs = _LogCount()
    logging.getLogger("asyncio").addHandler(logs)
    created = [0]
    real_socket = socket.socket

    class CountingSocket(real_socket):  # type: ignore[misc, valid-type]
        """Counts the UDP sockets created in this process (only the resolver makes any)."""

        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)
            if self.type == socket.SOCK_DGRAM:
                created[0] += 1

    socket.socket = CountingSocket  # type: ignore[misc]

    async def go() -> dict[str, object]:
        fds_start = _fds()
        resolver = Resolver([nameserver])
        outcome: collections.Counter[str] = collections.Counter()
        errors: collections.Counter[str] = collections.Counter()
        peak_sockets = 0

        async def one(i: int) -> None:
            try:
                res = await resolver.locate(f"sip:d{i % BULK:04d}.bulk.test")
            except SiplocateError as exc:
                outcome["failed"] += 1
                text = re.sub(r"d\d{4}\.", "dNNNN.", f"{type(exc).__name__}: {exc}")
                errors[text[:110]] += 1
            except Exception as exc:  # counted apart: must never happen
                outcome["crashed"] += 1
                errors[f"{type(exc).__name__}: {exc}"[:60]] += 1
            else:
                outcome["targets" if res.targets else "empty"] += 1

        async def sample() -> None:
            nonlocal peak_sockets
            while True:
                peak_sockets = max(peak_sockets, _fds()[1])
                await asyncio.sleep(0.1)

        sampler = asyncio.ensure_future(sample())
        cpu0 = time.process_time()
        start = time.perf_counter()
        tasks = [asyncio.ensure_future(one(i)) for i in range(LOAD_CALLS)]
        _, pending = await asyncio.wait(tasks, timeout=LOAD_DEADLINE)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu0
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        sampler.cancel()
        fds_before_close = _fds()
        resolver.close()
        for _ in range(5):  # transports close on the next loop iterations
            await asyncio.sleep(0)
        fds_after_close = _fds()
        return {
            "outcome": dict(outcome),
            "hung": len(pending),
            "errors": errors.most_common(4),
            "wall": wall,
            "cpu": cpu,
            "fds_start": fds_start,
            "fds_before_close": fds_before_close,
            "fds_after_close": fds_after_close,
            "peak_sockets": peak_sockets,
        }

    result = asyncio.run(go())
    gc.collect()  # abandoned tasks log "never retrieved" when they are collected
    result["udp_sockets_created"] = created[0]
    result["never_retrieved"] = logs.never_retrieved
    result["asyncio_errors"] = logs.errors
    result["peak_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(result))


def load(bind: BindServer) -> None:
    """10,000 concurrent locate() over 2,000 domains through the relay, with and without loss."""
    print(
        f"\n## Load: {LOAD_CALLS:,} concurrent locate() over {BULK:,} NAPTR domains, one "
        f"Resolver, BIND through the relay ({DELAY_MS:.0f} ms each way); hung = not done "
        f"after {LOAD_DEADLINE:.0f} s (targets: >= 99.9% with targets at 10% loss, 100% at "
        "0%, none hung, < 20 s, fds back to start after close(), no never-retrieved logs)"
    )
    header = (
        f"{'loss':>5} {'targets':>8} {'failed':>7} {'hung':>5} {'wall s':>7} {'cpu s':>6} "
        f"{'UDP socks':>9} {'peak open':>9} {'fds start/run/closed':>21} {'never-ret':>9} "
        f"{'peak RSS':>9}"
    )
    print(header)
    for loss in LOAD_LOSSES:
        relay, port = start_relay(bind.port, loss=loss, seed=7)
        drops = udp_receive_errors()
        try:
            proc = subprocess.run(
                [sys.executable, __file__, "--load-worker", f"127.0.0.1:{port}"],
                capture_output=True,
                text=True,
                timeout=LOAD_DEADLINE + 120,
                check=False,
            )
        finally:
            relay.terminate()
            relay.wait(timeout=5)
        drops = udp_receive_errors() - drops
        if proc.returncode != 0 or not proc.stdout.strip():
            print(f"{loss:4.0f}% worker failed ({proc.returncode}): {proc.stderr.strip()[-300:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        out = r["outcome"]
        pct = {k: 100 * out.get(k, 0) / LOAD_CALLS for k in ("targets", "failed")}
        fds = f"{r['fds_start'][0]}/{r['fds_before_close'][0]}/{r['fds_after_close'][0]}"
        print(
            f"{loss:4.0f}% {pct['targets']:7.2f}% {pct['failed']:6.2f}% {r['hung']:5d} "
            f"{r['wall']:7.1f} {r['cpu']:6.1f} {r['udp_sockets_created']:9d} "
            f"{r['peak_sockets']:9d} {fds:>21} {r['never_retrieved']:9d} "
            f"{r['peak_kb'] / 1024:6.0f} MiB"
        )
        extra = {k: v for k, v in out.items() if k not in ("targets", "failed")}
        if r["errors"] or extra:
            print(f"       other outcomes: {extra or 'none'}; top failures:")
            for text, n in r["errors"]:
                print(f"       {n:6d} x {text}")
        print(f"       UDP datagrams dropped by full receive buffers (machine-wide): {drops}")
    weighted_order()


def weighted_order() -> None:
    """Cached locate() cost of a big SRV RRset: weighted ordering is per call, so it shows."""
    tmp = Path(tempfile.mkdtemp(prefix="siplocate-wo-"))
    rows = []
    for n in (20, 2000):
        lines = [
            f"$ORIGIN wo{n}.test.",  # the origin never comes from the file name
            "$TTL 3600",
            "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
            "@ IN NS ns1",
        ]
        for k in range(n):
            lines += [
                f"_sip._udp IN SRV 0 {k % 100 + 1} 5060 t{k}",
                f"t{k} IN A 10.0.{k >> 8}.{k & 255}",
            ]
        path = tmp / f"wo{n}.test.zone"
        path.write_text("\n".join(lines) + "\n")
        # Limits raised so the whole RRset is ordered (the default uses the first 32 records).
        limits = Limits(rrset_records=n, targets=n)
        resolver = Resolver(zones=[path], limits=limits)

        async def cached(
            r: Resolver = resolver, name: str = f"sip:wo{n}.test", n: int = n
        ) -> float:
            first = await r.locate(name)
            assert len(first.targets) == n, len(first.targets)
            calls = 20 if n > 100 else 2000
            start = time.perf_counter()
            for _ in range(calls):
                await r.locate(name)
            return (time.perf_counter() - start) / calls

        rows.append((n, asyncio.run(cached())))
    (small, t_small), (big, t_big) = rows
    print(
        f"\nweighted ordering, cached locate(): {small} SRV records {t_small * 1e3:.3f} ms, "
        f"{big} records {t_big * 1e3:.2f} ms: {t_big / t_small:.0f}x the time for "
        f"{big // small}x the records (O(n log n) would be ~{big / small * 1.8:.0f}x)"
    )


SECTIONS = ("cold", "warm", "bulk", "load")


def main() -> None:
    if sys.argv[1:2] == ["--bulk-worker"]:
        bulk_worker(sys.argv[2], int(sys.argv[3]))
        return
    if sys.argv[1:2] == ["--load-worker"]:
        load_worker(sys.argv[2])
        return
    only = set(SECTIONS)
    if "--only" in sys.argv:
        only = set(sys.argv[sys.argv.index("--only") + 1].split(","))
        if not only <= set(SECTIONS):
            sys.exit(f"--only takes a comma-separated list of {', '.join(SECTIONS)}")
    quick = "--quick" in sys.argv
    tmp = Path(tempfile.mkdtemp(prefix="siplocate-bench-"))
    (tmp / "bench.test.zone").write_text(bench_zone())
    (tmp / "bulk.test.zone").write_text(bulk_zone())
    zones = {"bench.test": tmp / "bench.test.zone", "bulk.test": tmp / "bulk.test.zone"}
    named = "/usr/sbin/named" if os.path.exists("/usr/sbin/named") else "named"
    bind = BindServer(zones, named=named).start()
    minimal = BindServer(
        {"bench.test": tmp / "bench.test.zone"}, named=named, minimal_responses=True
    ).start()
    wait_until(lambda: True, 1, "nothing")
    print(f"siplocate benchmarks (python {sys.version.split()[0]}, {os.cpu_count()} cores)")
    try:
        if "cold" in only:
            asyncio.run(cold(bind, minimal, 7 if quick else 51))
        if "warm" in only:
            asyncio.run(warm(bind, 20_000 if quick else 100_000))
        if "bulk" in only:
            bulk(bind, 100)
        if "load" in only:
            load(bind)
    finally:
        bind.stop()
        minimal.stop()


if __name__ == "__main__":
    main()

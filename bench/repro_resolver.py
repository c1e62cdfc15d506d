"""Re-run the resolver problems listed under "Found" in issue 7, one line each.

Each line is ``name: observed (expected)``; run it before and after a fix. Cases with a
server use a real BIND9 on loopback (tests/fixtures/bind.py), through the delaying relay
where round trips matter; the hostile-server cases (poisoning, fan-out) use the fuzz
source, whose replies go through the live decode path (fuzz/dns_world.py).
Run: .venv/bin/python bench/repro_resolver.py [--quick]   (--quick: skips fan-out N=60)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import resource
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import dns.asyncquery  # noqa: E402
import dns.message  # noqa: E402
import dns.name  # noqa: E402
import dns.rdatatype  # noqa: E402
from bench.bench_resolve import DELAY_MS, bench_zone, start_relay  # noqa: E402
from fuzz.dns_world import FuzzSource, World, reply_for, world  # noqa: E402
from tests.fixtures.bind import BindServer  # noqa: E402

from siplocate import Resolver  # noqa: E402
from siplocate.dns import LiveSource  # noqa: E402
from siplocate.dns.source import Answer  # noqa: E402
from siplocate.errors import SiplocateError  # noqa: E402
from siplocate.resolution import Resolution  # noqa: E402
from siplocate.trace import Query  # noqa: E402

NAMED = "/usr/sbin/named" if os.path.exists("/usr/sbin/named") else "named"
HUGE_SRV = 2000
MANY_SRV = 2000


def line(name: str, observed: str, expected: str) -> None:
    print(f"{name}: {observed} ({expected})", flush=True)


def repro_zone() -> str:
    """repro.test: an SRV RRset BIND can hold but not send (> 64 KB on the wire: BIND sets
    TC even over TCP), the 9-hop CNAME chain and the huge TTL."""
    lines = [
        "$ORIGIN repro.test.",
        "$TTL 300",
        "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.1",
        "huge IN A 192.0.2.200",
        "big-ttl 2147483647 IN A 192.0.2.11",
        "big-ttl 2147483647 IN AAAA 2001:db8::11",
        "c10.chain IN A 192.0.2.10",
    ]
    for k in range(HUGE_SRV):  # ~29 octets of rdata each: 58 KB in BIND, ~78 KB on the wire
        lines += [
            f"_sip._udp.huge IN SRV 0 1 5060 t{k}.huge",
            f"t{k}.huge IN A 10.1.{k >> 8}.{k & 255}",
        ]
    for k in range(1, 10):  # c1 -> c2 -> ... -> c10: nine CNAME hops
        lines.append(f"c{k}.chain IN CNAME c{k + 1}.chain")
    return "\n".join(lines) + "\n"


def many_zone() -> str:
    """m.: 2,000 SRV targets with names short enough for the RRset to fit one TCP reply."""
    lines = [
        "$ORIGIN m.",
        "$TTL 300",
        "@ IN SOA ns1 hostmaster 1 3600 600 604800 300",
        "@ IN NS ns1",
        "ns1 IN A 192.0.2.1",
    ]
    for k in range(MANY_SRV):
        lines += [f"_sip._udp IN SRV 0 1 5060 t{k}", f"t{k} IN A 10.1.{k >> 8}.{k & 255}"]
    return "\n".join(lines) + "\n"


def stale_zone() -> str:
    return "\n".join(
        [
            "$ORIGIN stale.test.",
            "$TTL 1",
            # Negative answers (the fallback SRV names) live 300 s, the records 1 s.
            "@ 300 IN SOA ns1 hostmaster 1 3600 600 604800 300",
            "@ IN NS ns1",
            "ns1 IN A 192.0.2.1",
            '@ IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp',
            "_sip._udp IN SRV 0 0 5060 h",
            "h IN A 192.0.2.12",
        ]
    )


class Counting:
    """A DnsSource that counts the questions it passes on."""

    def __init__(self, inner: LiveSource) -> None:
        self.inner = inner
        self.questions = 0

    async def answer(
        self,
        name: dns.name.Name,
        rdtype: dns.rdatatype.RdataType,
        defer: asyncio.Event | None = None,
    ) -> Answer:
        self.questions += 1
        return await self.inner.answer(name, rdtype, defer)

    def close(self) -> None:
        self.inner.close()


def summary(res: Resolution) -> str:
    via = sorted({t.via.value for t in res.targets})
    shown = ", ".join(f"{t.transport}:{t.host}:{t.address}:{t.port}" for t in res.targets[:2])
    more = f" +{len(res.targets) - 2}" if len(res.targets) > 2 else ""
    return f"{len(res.targets)} target(s) via {'/'.join(via)}: {shown}{more}"


async def outcome(resolver: Resolver, uri: str) -> str:
    try:
        return summary(await resolver.locate(uri, seed=1))
    except SiplocateError as exc:
        return f"{type(exc).__name__}: {exc}"
    except Exception as exc:  # a crash is an observation too
        return f"CRASH {type(exc).__name__}: {exc}"


# -- hostile server, in-process ----------------------------------------------------------------


async def poisoning() -> None:
    evil_naptr = reply_for(
        "evil.test",
        "NAPTR",
        ['evil.test 300 IN NAPTR 10 10 "s" "SIP+D2U" "" _sip._udp.evil.test.'],
        additional=[
            'victim.test 86400 IN NAPTR 1 1 "s" "SIP+D2U" "" _sip._udp.victim.test.',
            "_sip._udp.victim.test 86400 IN SRV 0 0 5060 attacker.evil.test.",
            "attacker.evil.test 86400 IN A 127.0.0.99",
            "_sip._udp.evil.test 300 IN SRV 0 0 5060 sip.evil.test.",
            "sip.evil.test 300 IN A 192.0.2.66",
        ],
    )
    w = World.decode(world(["sip:x@evil.test"], evil_naptr))  # victim.test: NXDOMAIN
    resolver = Resolver(source=FuzzSource(w))
    await outcome(resolver, "sip:x@evil.test")
    line(
        "cache poisoning (evil.test additional section, then sip:x@victim.test)",
        await outcome(resolver, "sip:x@victim.test"),
        "NotFound: victim.test does not exist (NXDOMAIN)",
    )


async def fan_out(quick: bool) -> None:
    for n in (30,) if quick else (30, 60):
        records = [f'f.test 300 IN NAPTR {k} {k} "" "SIP+D2U" "" f.test.' for k in range(n)]
        w = World.decode(world(["sip:f.test"], reply_for("f.test", "NAPTR", records)))
        source = FuzzSource(w)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        start = time.perf_counter()
        result = await outcome(Resolver(source=source), "sip:f.test")
        elapsed = time.perf_counter() - start
        grown = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        line(
            f"NAPTR fan-out N={n} (self-pointing empty-flag NAPTRs)",
            f"{elapsed:.2f} s, peak RSS +{grown:.0f} MiB, {source.questions} questions; "
            f"{result[:70]}",
            "bounded: well under 0.1 s, a trace note that the NAPTR limit was hit",
        )


# -- real BIND ---------------------------------------------------------------------------------


async def big_rrsets(bind: BindServer, zone: Path, many: Path) -> None:
    source = Counting(LiveSource([bind.nameserver], timeout=3))
    resolver = Resolver(source=source)
    start = time.perf_counter()
    result = await outcome(resolver, "sip:m;transport=udp")
    elapsed = time.perf_counter() - start
    resolver.close()
    line(
        f"{MANY_SRV:,} SRV targets, one cold locate (BIND direct)",
        f"{source.questions:,} questions in {elapsed:.2f} s; {result[:60]}",
        "questions bounded by a targets-per-resolution limit",
    )
    offline = Resolver(zones=[many])
    await offline.locate("sip:m;transport=udp", seed=1)
    calls = 20
    start = time.perf_counter()
    for _ in range(calls):
        await offline.locate("sip:m;transport=udp")
    per = (time.perf_counter() - start) / calls
    line(
        f"{MANY_SRV:,} SRV targets, cached locate (weighted order)",
        f"{per * 1000:.1f} ms per call",
        "O(n log n): about 1 ms or less",
    )
    resolver = Resolver([bind.nameserver], timeout=3)
    q = dns.message.make_query("_sip._udp.huge.repro.test.", "SRV")
    tcp = await dns.asyncquery.tcp(q, bind.address, port=bind.port, timeout=5)
    tc = "TC set" if tcp.flags & dns.flags.TC else "TC clear"
    line(
        f"SRV RRset over 64 KB ({HUGE_SRV} records; BIND over TCP: {tc})",
        await outcome(resolver, "sip:huge.repro.test;transport=udp"),
        "DnsError (truncated over TCP), no A/AAAA fallback to huge.repro.test:5060",
    )
    resolver.close()


async def live_vs_offline(bind: BindServer, zone: Path) -> None:
    uri = "sip:c1.chain.repro.test:5060"
    live = Resolver([bind.nameserver], timeout=3)
    offline = Resolver(zones=[zone])
    line(
        "9-hop CNAME chain, live vs offline",
        f"live {await outcome(live, uri)} | offline {await outcome(offline, uri)}",
        "the same result and the same chain limit both ways",
    )
    ttl_uri = "sip:big-ttl.repro.test:5060"
    kept = []
    for resolver in (live, offline):
        res = await resolver.locate(ttl_uri)
        kept.append(f"{(res.expires or 0) - time.time():,.0f} s" if res.expires else "never")
    line(
        "TTL 2^31-1, expires in (live | offline)",
        f"{kept[0]} | {kept[1]}",
        "the same clamp both ways (e.g. 86,400 s)",
    )
    live.close()


def stop_process(pid: int) -> None:
    """SIGSTOP ``pid`` and wait (at most 1 s) until every thread is stopped: the signal
    takes effect per thread, so a query sent at once could still be answered."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:  # bounded
        states = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                states.append(task.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in "Tt" for state in states):
            return
        time.sleep(0.005)


async def serve_stale(bind: BindServer) -> None:
    assert bind.pid is not None
    resolver = Resolver([bind.nameserver], timeout=1.5)
    await resolver.locate("sip:stale.test")
    await asyncio.sleep(1.5)  # TTL 1 s: now expired
    stop_process(bind.pid)  # silent nameserver: no reply, no ICMP
    try:
        start = time.perf_counter()
        result = await outcome(resolver, "sip:stale.test")
        waited = time.perf_counter() - start
    finally:
        os.kill(bind.pid, signal.SIGCONT)
    line(
        "serve-stale with a silent nameserver: stale answer after",
        f"{waited:.1f} s; {result[:50]}",
        "<= 1.8 s (RFC 8767 client response timer)",
    )
    recovered = time.perf_counter()
    fresh_after = None
    for _ in range(80):  # bounded: 40 s
        res = await resolver.locate("sip:stale.test")
        if any(isinstance(e, Query) and e.source == "network" for e in res.trace):
            fresh_after = time.perf_counter() - recovered
            break
        await asyncio.sleep(0.5)
    line(
        "serve-stale: first fresh answer after BIND answers again",
        f"{fresh_after:.1f} s" if fresh_after is not None else "none within 40 s",
        "the next locate (~0 s)",
    )
    resolver.close()


async def cold_rtt(bench: BindServer, runs: int) -> None:
    relay, port = start_relay(bench.port)
    try:
        q = dns.message.make_query("bench.test.", dns.rdatatype.SOA)
        rtts = []
        for _ in range(runs):
            start = time.perf_counter()
            await dns.asyncquery.udp(q, "127.0.0.1", port=port, timeout=3)
            rtts.append(time.perf_counter() - start)
        rtt = statistics.median(rtts)
        for label, domain in (("dual-stack", "naptr"), ("IPv4-only", "v4only")):
            times = []
            for _ in range(runs):
                resolver = Resolver([f"127.0.0.1:{port}"])  # fresh: a new process or worker
                start = time.perf_counter()
                await resolver.locate(f"sip:{domain}.bench.test")
                times.append(time.perf_counter() - start)
                resolver.close()
            line(
                f"cold {label} NAPTR domain, fresh Resolver, {DELAY_MS * 2:.0f} ms relay",
                f"{statistics.median(times) / rtt:.2f} RTT (median of {runs}, RTT "
                f"{rtt * 1000:.1f} ms)",
                "<= 1.2 RTT",
            )
    finally:
        relay.terminate()


async def main(quick: bool) -> None:
    await poisoning()
    await fan_out(quick)
    tmp = Path(tempfile.mkdtemp(prefix="siplocate-repro-"))
    zone = tmp / "repro.test.zone"
    zone.write_text(repro_zone())
    many = tmp / "m.zone"
    many.write_text(many_zone())
    (tmp / "stale.test.zone").write_text(stale_zone())
    (tmp / "bench.test.zone").write_text(bench_zone())
    servers = [
        # BIND 9.18 refuses RRsets of more than 100 records unless told otherwise.
        BindServer({"repro.test": zone, "m": many}, named=NAMED, max_records_per_type=0),
        BindServer({"stale.test": tmp / "stale.test.zone"}, named=NAMED),
        BindServer({"bench.test": tmp / "bench.test.zone"}, named=NAMED),
    ]
    try:
        for s in servers:
            s.start()
        repro, stale, bench = servers
        await big_rrsets(repro, zone, many)
        await live_vs_offline(repro, zone)
        await serve_stale(stale)
        await cold_rtt(bench, 7 if quick else 21)
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    asyncio.run(main("--quick" in sys.argv))

"""Damped failback benchmark (issues 11 and 22): a flapping primary, damped against undamped.

Real Kamailio registrars on 127.0.0.2 (primary) and 127.0.0.3 (backup) behind real BIND9
SRV records, UDP. A client registered with `--follow --probe-interval 1 --failback probe`
starts on the primary; the primary then goes silent (SIGSTOP) and answers again (SIGCONT)
about every 0.5 s (seeded jitter) for 10 s (a thread does it, so the client's event loop
runs on), and finally left up. Printed: the failbacks (and failovers) during the flapping,
what the client heard of the primary meanwhile (U answered, D silent), and the time from
"left up" (and from the last silence heard) to the failback, for the damped client (RFC 2439
flap damping as `register --follow` sets it up: `Damping.for_probes(probe)`) and the
undamped one (back at the first answer: the library default).

Also printed, over the runs that failed over: the failback time once left up in probe
intervals (median, max) and the longest run of answers heard after a silence while it
flapped, which the hold after one flap must outlast for no failback while flapping.
``--half-life``/``--max-suppress`` (in probe intervals) try other damping than the defaults.

Run: .venv/bin/python bench/bench_failback.py [--flap 0.5] [--seconds 10] [--probe 1] [--runs 10]
    [--half-life 5] [--max-suppress 12.5]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from math import nan
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.kamailio import (  # noqa: E402
    PASSWORD,
    ClientDns,
    Cluster,
    start_client_dns,
    start_cluster,
)

from siplocate import Resolver  # noqa: E402
from siplocate.client import RegEvent, Registration, SipClient  # noqa: E402
from siplocate.client.failover import Damping  # noqa: E402
from siplocate.client.health import HealthMonitor  # noqa: E402
from siplocate.sip.transaction import Timers  # noqa: E402


def flap(cluster: Cluster, half: float, seconds: float, seed: int) -> None:
    """Silent (SIGSTOP), answering (SIGCONT), silent ... each phase 0.6-1.4 x ``half`` long,
    seeded: a strict cycle would put every probe of a fixed interval in the same phase."""
    rng = random.Random(seed)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:  # bounded by ``seconds``
            cluster.primary.pause()
            time.sleep(half * rng.uniform(0.6, 1.4))
            cluster.primary.resume()
            time.sleep(half * rng.uniform(0.6, 1.4))
    finally:
        cluster.primary.resume()


async def run(
    args: argparse.Namespace, dns: ClientDns, damping: Damping, seed: int
) -> tuple[int, int, tuple[float, float] | None, str]:
    cluster = start_cluster(dns)
    nameserver = dns.nameserver
    client = SipClient(
        "sip:alice@client.test",
        password=PASSWORD,
        resolver=Resolver(nameservers=[nameserver], transports=("udp",)),
        transports=("udp",),
        failover_after=args.budget,
        timers=Timers(t1=0.5),
    )
    monitor = HealthMonitor(client, interval=args.probe)
    reg = Registration(client, expires=60, failback="probe", damping=damping, retry_interval=1)
    heard: list[tuple[str, float]] = []  # of the primary: U answered, D silent; when
    client.listeners.append(
        lambda target, up: (
            heard.append(("U" if up else "D", time.time()))
            if target.address == "127.0.0.2"
            else None
        )
    )
    stop = asyncio.Event()
    try:
        async with client:
            await monitor.probe_all()
            monitor.start()
            task = asyncio.create_task(reg.run(stop))
            try:
                await wait_event(reg.events, "registered", 0, 30)
                start, heard_from = len(reg.events), len(heard)
                await asyncio.to_thread(flap, cluster, args.flap, args.seconds, seed)
                during = [e.event for e in reg.events[start:]]
                seen = "".join(v for v, _ in heard[heard_from:])
                left_up = time.time()
                after = len(reg.events)
                back: tuple[float, float] | None = None  # None: already on the primary
                if reg.current is None or reg.current.address != "127.0.0.2":
                    event = await wait_event(reg.events, "failback", after, 60)
                    silent = max(
                        (at for v, at in heard if v == "D" and at <= event.at), default=nan
                    )
                    back = (event.at - left_up, event.at - silent)
            finally:
                stop.set()
                await asyncio.wait_for(task, 10)
                await monitor.stop()
    finally:
        cluster.stop()
    return during.count("failback"), during.count("failover"), back, seen


async def wait_event(events: list[RegEvent], kind: str, since: int, timeout: float) -> RegEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:  # bounded by ``timeout``
        for e in events[since:]:
            if e.event == kind:
                return e
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no {kind} event within {timeout} s: {[e.event for e in events]}")


def damping(args: argparse.Namespace) -> Damping:
    """``register --follow``'s damping for this probe interval, with the knobs given."""
    d = Damping.for_probes(args.probe)
    return dataclasses.replace(
        d,
        half_life=d.half_life if args.half_life is None else args.half_life * args.probe,
        max_suppress=d.max_suppress
        if args.max_suppress is None
        else args.max_suppress * args.probe,
    )


def longest_answered_run(seen: str) -> int:
    """The longest run of answers heard after a silence (0: never heard silent)."""
    return max((len(run) for run in re.findall(r"(?<=D)U+", seen)), default=0)


async def main(args: argparse.Namespace) -> None:
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"])
    damped = damping(args)
    print("siplocate damped-failback benchmark: 2 real Kamailio registrars behind real BIND9,")
    print(f"UDP; the primary silent/answering every ~{args.flap:g} s for {args.seconds:g} s,")
    print(f"then left up; probe interval {args.probe:g} s, probe timeout = failover budget "
          f"{args.budget:g} s, --failback probe.")  # fmt: skip
    print(f"damped: a penalty of {damped.penalty:g} per flap, half-life {damped.half_life:g} s, "
          f"suppress at {damped.suppress:g}, reuse below {damped.reuse:g}, max-suppress "
          f"{damped.max_suppress:g} s, {damped.probes} answers in a row.\n")  # fmt: skip
    try:
        kinds: tuple[tuple[str, Callable[[], Damping]], ...] = (
            ("damped (RFC 2439 flap damping)", lambda: damping(args)),
            ("undamped (first answer)", Damping),
        )
        w = max(len(name) for name, _ in kinds)
        print(f"{'seed':>4}  {'client':<{w}}  {'while flapping':<28}  {'heard':<14}  "
              "failback once left up")  # fmt: skip
        totals: dict[str, list[int]] = {name: [0, 0] for name, _ in kinds}
        waits: list[float] = []  # damped: failback once left up, in probe intervals
        silent: list[float] = []  # damped: failback after the last silence heard, intervals
        runs: list[int] = []  # damped: the longest answered run after a silence
        for seed in range(args.seed, args.seed + args.runs):
            for name, make in kinds:
                backs, overs, took, seen = await run(args, dns, make(), seed)
                totals[name][0] += backs
                totals[name][1] += overs
                if make is kinds[0][1] and "D" in seen:
                    runs.append(longest_answered_run(seen))
                    if took is not None:
                        waits.append(took[0] / args.probe)
                        if not math.isnan(took[1]):
                            silent.append(took[1] / args.probe)
                shown = (
                    "already on the primary"
                    if took is None
                    else f"{took[0]:.2f} s ({took[1]:.2f} s after the last silence)"
                )
                during = f"{backs} failbacks, {overs} failovers"
                print(f"{seed:>4}  {name:<{w}}  {during:<28}  {seen or '-':<14}  {shown}",
                      flush=True)  # fmt: skip
        print()
        for name, (backs, overs) in totals.items():
            print(f"in all, {name}: {backs} failbacks and {overs} failovers while flapping")
        if waits:
            print(f"damped, failback once left up: median {statistics.median(waits):.1f}, "
                  f"max {max(waits):.1f} probe intervals over {len(waits)} runs that failed "
                  f"over ({min(silent, default=nan):.1f}-{max(silent, default=nan):.1f} "
                  "after the last silence heard); "
                  f"the longest run of answers heard after a silence while flapping: "
                  f"{max(runs)} probes (one flap holds "
                  f"{damped.half_life * math.log2(damped.penalty / damped.reuse) / args.probe:g}"
                  f" intervals)")  # fmt: skip
        print(f"targets: 0 failbacks while flapping; the failback once left up within "
              f"max-suppress ({damped.max_suppress:g} s) of the primary's last flap, "
              f"at most {damped.max_suppress + args.probe:g} s")  # fmt: skip
    finally:
        dns.bind.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flap", type=float, default=0.5, help="seconds down, then up")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long it flaps")
    parser.add_argument("--probe", type=float, default=1.0, help="probe interval, seconds")
    parser.add_argument("--budget", type=float, default=0.3, help="failover budget = probe timeout")
    parser.add_argument("--seed", type=int, default=1, help="first seed of the flapping")
    parser.add_argument("--runs", type=int, default=10, help="runs (seeds) per client")
    parser.add_argument("--half-life", type=float, help="damped: half-life, probe intervals")
    parser.add_argument("--max-suppress", type=float, help="damped: max-suppress, probe intervals")
    asyncio.run(main(parser.parse_args()))

"""Zero-gap registration benchmark (issue 11): RFC 5626 outbound against plain registration.

Real Kamailio: two edge proxies (outbound, path, stun modules) on 127.0.0.3 and 127.0.0.4 in
front of one registrar on 127.0.0.2, found through real BIND9 NAPTR/SRV (edge 1 preferred),
TCP. A client registers (expires 60 s), then the edge it registered through (for outbound:
the edge of flow 1) is killed (SIGKILL). Measured from the kill, per mode:

- registration gap: how long the AOR had no binding through a live edge. Outbound: 0 when
  the other flow stayed registered the whole time. Plain: until the client re-registered
  through the other edge.
- call reach: a second UA sends INVITE to the AOR through the registrar every 0.5 s from the
  kill on; the time until one reaches the client (its answer, 486, comes back).

Modes, in one run on the same servers: outbound (2 flows); plain registration as the CLI's
``register --follow`` does it (refresh only: it hears of the dead edge at the next refresh);
plain with health probes every 1 s (``--probe-interval 1s``).

Run: .venv/bin/python bench/bench_outbound.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.outbound import DOMAIN, World, start_world  # noqa: E402
from tests.fixtures.outbound import alice as make_alice  # noqa: E402
from tests.fixtures.outbound import caller as make_bob  # noqa: E402

from siplocate.client import RegEvent, Registration  # noqa: E402
from siplocate.client.health import HealthMonitor  # noqa: E402
from siplocate.client.outbound import Outbound  # noqa: E402

AOR = f"sip:alice@{DOMAIN}"
LIMIT = 45.0  # seconds: longer than a refresh (expires 60 s: refresh at 30 s)


async def call_until_reached(world: World, killed: float, heard: list[float]) -> float | None:
    """INVITE the AOR every 0.5 s until one reaches the client; seconds since the kill."""
    async with make_bob(world) as caller:
        while not heard and time.monotonic() - killed < LIMIT:
            await caller.invite(AOR)
            if not heard:
                await asyncio.sleep(0.5)
    return heard[0] - killed if heard else None


async def since(check, start: float, limit: float) -> float | None:  # type: ignore[no-untyped-def]
    """Seconds from ``start`` until ``check()`` holds (polled every 10 ms), None if not."""
    while not check():
        if time.monotonic() - start > limit:
            return None
        await asyncio.sleep(0.01)
    return max(0.0, time.monotonic() - start)


async def one(mode: str) -> tuple[float | None, float | None]:
    """(registration gap, call reach) in seconds for one run of ``mode``; None: not within
    LIMIT."""
    world = start_world()
    stop = asyncio.Event()
    events: list[RegEvent] = []
    try:
        async with make_alice(world) as client:
            heard: list[float] = []

            def answer(request: object) -> int:
                heard.append(time.monotonic())
                return 486

            client.on_invite = answer

            note = events.append
            monitor = None
            if mode == "outbound":
                keeper = Outbound(
                    client, flows=2, expires=60, instance="urn:uuid:" + "0" * 8 + "-0000-4000-"
                    "8000-" + "0" * 12, on_event=note,
                )  # fmt: skip
                task = asyncio.ensure_future(keeper.run(stop))
                await since(lambda: len(keeper.live()) == 2, time.monotonic(), 10)
                first = next(f for f in keeper.flows if f.id.reg_id == 1)
                through = first.target
            else:
                registration = Registration(client, expires=60, on_event=note)
                if mode == "plain+probes":
                    monitor = HealthMonitor(client, interval=1.0)
                    monitor.start()
                task = asyncio.ensure_future(registration.run(stop))
                await since(lambda: registration.current is not None, time.monotonic(), 10)
                through = registration.current
            assert through is not None
            edge = next(e for e in world.site.edges if e.address == through.address)

            def bound() -> bool:
                """A binding through an edge that is still alive exists."""
                if mode == "outbound":
                    return any(t.address != edge.address for t in keeper.live())
                held = registration.current
                return held is not None and held.address != edge.address

            edge.kill()
            killed = time.monotonic()
            watch = asyncio.ensure_future(since(bound, killed, LIMIT))
            reach = await call_until_reached(world, killed, heard)
            gap = await watch
            stop.set()
            if monitor is not None:
                await monitor.stop()
            await asyncio.wait_for(task, 10)
    finally:
        world.stop()
    return gap, reach


def show(values: list[float | None]) -> str:
    done = [v for v in values if v is not None]
    missing = len(values) - len(done)
    if not done:
        return f"none within {LIMIT:g} s"
    text = f"median {statistics.median(done):6.3f} s  max {max(done):6.3f} s"
    return text + (f"  ({missing} not within {LIMIT:g} s)" if missing else "")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(f"kill the edge a registration runs through; {args.runs} runs per mode, TCP, "
          "expires 60 s\n")  # fmt: skip
    print(f"{'mode':<14} {'registration gap':<40} call reaches the client")
    for mode in ("outbound", "plain", "plain+probes"):
        gaps, reaches = [], []
        for _ in range(args.runs):
            gap, reach = await one(mode)
            gaps.append(gap)
            reaches.append(reach)
        print(f"{mode:<14} {show(gaps):<40} {show(reaches)}", flush=True)


if __name__ == "__main__":
    asyncio.run(main())

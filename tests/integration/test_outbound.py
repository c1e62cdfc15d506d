"""RFC 5626 against real Kamailio: two edge proxies (outbound + path modules) in front of one
registrar, found through a real BIND. The client keeps a flow through each edge; killing one
edge costs the registration nothing and a call to the user still reaches it at once."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sipmessage import Request

from siplocate.client import Outcome
from siplocate.client.outbound import Outbound
from siplocate.client.registration import RegEvent
from tests.fixtures.outbound import DOMAIN, World, caller, start_world
from tests.fixtures.outbound import alice as make_alice
from tests.fixtures.servers import read_line

pytestmark = pytest.mark.integration

AOR = f"sip:alice@{DOMAIN}"


@pytest.fixture
def world() -> Iterator[World]:
    w = start_world()
    try:
        yield w
    finally:
        w.stop()


async def until(check, what: str, limit: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Wait (bounded) for ``check()``."""
    deadline = time.monotonic() + limit
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def test_two_flows_through_distinct_edges_and_a_dead_edge_costs_nothing(
    world: World, tmp_path: Path
) -> None:
    events: list[RegEvent] = []
    stop = asyncio.Event()
    async with make_alice(world) as alice, caller(world) as bob:
        heard: list[tuple[float, str]] = []

        def answer(request: Request) -> int:
            heard.append((time.monotonic(), request.headers.get("Via") or ""))
            return 486

        alice.on_invite = answer
        ob = Outbound(
            alice, flows=2, expires=60, instance_file=tmp_path / "instance-id",
            on_event=events.append,
        )  # fmt: skip
        run = asyncio.ensure_future(ob.run(stop))
        try:
            await until(lambda: len(ob.live()) == 2, "both flows up")
            edges = {(t.address, t.port) for t in ob.live()}
            assert edges == {(e.address, e.port) for e in world.site.edges}  # distinct hops
            assert (tmp_path / "instance-id").read_text().strip() == ob.instance
            assert all(f.flow_timer == 2 for f in ob.flows)  # the edge's Flow-Timer
            # Both flows are bindings of one instance at the registrar: a call forks to one.
            call = await bob.invite(AOR)
            assert isinstance(call, Outcome) and call.response is not None
            assert call.response.code == 486, call.describe()
            # Keep-alives: CRLF pings answered by pongs (Flow-Timer 2 s: one within 2 s),
            # on each flow, and no flow failed meanwhile.
            await until(lambda: all(f.keepalives > 0 for f in ob.flows), "a pong per flow", 6)
            assert not any(e.event == "flow-failed" for e in events), events
            # The edge of flow 1 dies: flow 2 still holds the registration, and a call
            # reaches alice through it at once.
            first = next(f for f in ob.flows if f.id.reg_id == 1)
            assert first.target is not None
            dead = next(e for e in world.site.edges if e.address == first.target.address)
            dead.kill()
            killed = time.monotonic()
            heard.clear()
            call = await bob.invite(AOR)
            assert isinstance(call, Outcome) and call.response is not None
            assert call.response.code == 486, call.describe()
            assert heard and heard[0][0] - killed < 3.0
            await until(lambda: any(e.event == "flow-failed" for e in events), "flow 1 failed")
            assert ob.live() and all(t.address != dead.address for t in ob.live())
            # Our own requests go over the flow that is up, not to the dead edge first, even
            # with the client's down-memory of that edge cleared (only the flows steer).
            for t in (await alice.targets())[0]:
                alice.observed(t, True, changed=False)
            ping = await alice.options(f"sip:nobody@{DOMAIN}")
            assert [a.target.address for a in ping.attempts] == [ob.live()[0].address]
            # The failed flow's binding is removed through the live flow: the registrar no
            # longer tries the dead edge first (no failure route, no timeout).
            await until(lambda: any(e.event == "unbound" for e in events), "flow 1 unbound")
            unbound = next(e for e in events if e.event == "unbound")
            assert unbound.flow == 1 and unbound.target is not None
            assert unbound.target.address != dead.address
            log = world.site.registrar.workdir / "kamailio.log"
            tried_before = log.read_text().count("next flow of")
            heard.clear()
            call = await bob.invite(AOR)
            assert isinstance(call, Outcome) and call.response is not None
            assert call.response.code == 486 and len(heard) == 1
            assert log.read_text().count("next flow of") == tried_before
        finally:
            stop.set()
            await asyncio.wait_for(run, 10)
    assert not ob.live()


@pytest.mark.parametrize(
    ("outbound_mode", "edge_outbound", "why"),
    [
        (0, True, "did not answer Require: outbound"),  # a plain RFC 3261 registrar
        (1, False, "439 First Hop Lacks Outbound Support"),  # an edge without RFC 5626
    ],
)
async def test_no_outbound_on_the_path_gets_a_plain_registration(
    tmp_path: Path, outbound_mode: int, edge_outbound: bool, why: str
) -> None:
    w = start_world(outbound_mode=outbound_mode, edge_outbound=edge_outbound)
    events: list[RegEvent] = []
    stop = asyncio.Event()
    try:
        async with make_alice(w) as alice:
            ob = Outbound(alice, flows=2, expires=60, instance_file=tmp_path / "id",
                          on_event=events.append)  # fmt: skip
            run = asyncio.ensure_future(ob.run(stop))
            try:
                try:
                    await until(lambda: any(e.event == "fallback" for e in events), "fallback")
                except AssertionError:
                    raise AssertionError([e.as_dict() for e in events]) from None
                fallback = next(e for e in events if e.event == "fallback")
                assert why in fallback.detail
                assert ob.fallback is not None
                try:
                    await until(
                        lambda: any(e.event == "registered" and e.flow is None for e in events),
                        "the plain registration",
                    )
                except AssertionError:
                    raise AssertionError([e.as_dict() for e in events]) from None
            finally:
                stop.set()
                await asyncio.wait_for(run, 10)
    finally:
        w.stop()


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_keepalives_are_answered_and_a_silent_edge_fails_its_flow(
    world: World, tmp_path: Path, transport: str
) -> None:
    """STUN Binding on UDP (the edge's stun module answers with our mapped address), CRLF
    ping/pong on TCP; an edge that stops answering fails its flow after ``pong_wait`` while
    the other flow stays up."""
    events: list[RegEvent] = []
    stop = asyncio.Event()
    async with make_alice(world, transport) as alice:
        ob = Outbound(
            alice, flows=2, expires=60, instance_file=tmp_path / "id", on_event=events.append,
            pong_wait=0.5,
        )  # fmt: skip
        run = asyncio.ensure_future(ob.run(stop))
        paused = None
        try:
            await until(lambda: len(ob.live()) == 2, "both flows up")
            first = next(f for f in ob.flows if f.id.reg_id == 1)
            assert first.conn is not None
            # Flow-Timer 2 s: a keep-alive answered within 2 s (on UDP it tells our address).
            await until(lambda: first.keepalives > 0, "a keep-alive answered", 4.0)
            if transport == "udp":
                assert first.mapped == first.conn.local
            paused = next(e for e in world.site.edges if first.target and
                          e.address == first.target.address)  # fmt: skip
            paused.pause()
            await until(lambda: any(e.event == "flow-failed" for e in events), "flow 1 fails", 6)
            failed = next(e for e in events if e.event == "flow-failed")
            kind = "STUN answer" if transport == "udp" else "pong"
            assert failed.flow == 1 and f"no {kind} within 0.5 s" in failed.detail
            assert [t.address for t in ob.live()] != [] and first.target not in ob.live()
        finally:
            if paused is not None:
                paused.resume()
            stop.set()
            await asyncio.wait_for(run, 10)


def test_register_follow_outbound_cli_prints_a_line_per_flow_and_unregisters(
    world: World, tmp_path: Path
) -> None:
    """``siplocate register --follow --outbound --json``: one event line per flow, the
    instance ID kept in the file given, SIGTERM removes both bindings and exits 0."""
    instance = tmp_path / "instance-id"
    args = [
        sys.executable, "-c", "from siplocate.cli import main; main()",
        "register", AOR, "--follow", "--outbound", "--flows", "2", "--json",
        "--instance-file", str(instance), "--expires", "60",
        "-n", world.nameserver, "-t", "tcp", "--failover-after", "1s",
    ]  # fmt: skip
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        events = [json.loads(read_line(proc.stdout)) for _ in range(2)]
        assert sorted((e["event"], e["flow"]) for e in events) == [
            ("registered", 1), ("registered", 2),
        ]  # fmt: skip
        assert {e["address"] for e in events} == {"127.0.0.3", "127.0.0.4"}
        assert instance.read_text().startswith("urn:uuid:")
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    # Both bindings are gone: a call to alice finds nobody.
    async def call() -> int | None:
        async with caller(world) as bob:
            outcome = await bob.invite(AOR)
            assert isinstance(outcome, Outcome)
            return outcome.response.code if outcome.response else None

    assert asyncio.run(call()) == 404

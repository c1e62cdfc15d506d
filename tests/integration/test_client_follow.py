"""Kept-alive registrations against real Kamailio: health probing, failover without waiting
for the refresh, failback, and the policies across requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

import pytest

from siplocate import Resolver
from siplocate.client import RegEvent, Registration, SipClient
from siplocate.client.health import HealthMonitor
from siplocate.sip.transaction import Timers
from siplocate.target import Target
from tests.fixtures.kamailio import PASSWORD, ClientDns, Cluster, start_client_dns

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def client_dns() -> Iterator[ClientDns]:
    dns = start_client_dns(["127.0.0.2", "127.0.0.3"], ttl=2)
    yield dns
    dns.bind.stop()


def make_client(cluster: Cluster, **kwargs: object) -> SipClient:
    options: dict[str, object] = {
        "password": PASSWORD,
        "resolver": Resolver(nameservers=[cluster.nameserver], transports=("udp",)),
        "transports": ("udp",),
        "failover_after": 0.3,
        "timers": Timers(t1=0.1),
    }
    options.update(kwargs)
    return SipClient(cluster.aor, **options)  # type: ignore[arg-type]


async def wait_for(events: list[RegEvent], kind: str, timeout: float) -> RegEvent:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for e in events:
            if e.event == kind:
                return e
        await asyncio.sleep(0.01)
    raise AssertionError(f"no {kind!r} event within {timeout}s: {[e.event for e in events]}")


async def test_follow_fails_over_on_probe_and_fails_back_when_primary_returns(
    cluster: Cluster,
) -> None:
    async with make_client(cluster) as client:
        monitor = HealthMonitor(client, interval=0.3)
        await monitor.probe_all()
        monitor.start()
        reg = Registration(client, expires=60, failback="probe")
        stop = asyncio.Event()
        task = asyncio.create_task(reg.run(stop))
        try:
            first = await wait_for(reg.events, "registered", 3)
            assert first.target is not None and first.target.address == "127.0.0.2"
            killed = time.time()
            cluster.primary.kill()
            over = await wait_for(reg.events, "failover", 3)
            assert over.target is not None and over.target.address == "127.0.0.3"
            # The monitor triggered it: no waiting for the refresh (30 s away).
            assert over.at - killed < 10
            # After the monitor saw the primary down, no request went there.
            detected = min(
                a.at for e in reg.events for a in e.attempts if a.target.address == "127.0.0.3"
            )
            late = [
                a
                for e in reg.events
                for a in e.attempts
                if a.target.address == "127.0.0.2" and a.at > detected
            ]
            assert late == []
            cluster.primary.start()
            back = await wait_for(reg.events, "failback", 3)
            assert back.target is not None and back.target.address == "127.0.0.2"
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)
            await monitor.stop()
        assert reg.binding.target is None  # unregistered on stop


async def test_follow_without_probe_fails_over_at_the_next_refresh(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        reg = Registration(client, expires=2)  # refresh every second
        stop = asyncio.Event()
        task = asyncio.create_task(reg.run(stop))
        try:
            await wait_for(reg.events, "registered", 3)
            cluster.primary.kill()
            over = await wait_for(reg.events, "failover", 3)
            assert over.target is not None and over.target.address == "127.0.0.3"
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


async def test_all_down_under_follow_reports_lost_then_recovers(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        reg = Registration(client, expires=60, retry_interval=0.2)
        cluster.primary.kill()
        cluster.backup.kill()
        stop = asyncio.Event()
        task = asyncio.create_task(reg.run(stop))
        try:
            lost = await wait_for(reg.events, "lost", 3)
            assert "no server answered REGISTER" in lost.detail
            cluster.backup.start()
            again = await wait_for(reg.events, "registered", 5)
            assert again.target is not None and again.target.address == "127.0.0.3"
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


async def test_sticky_stays_on_backup_after_primary_returns(cluster: Cluster) -> None:
    # The timing rules (down-marks running out, the DNS TTL for sticky-ttl) are proven with
    # an injected clock in tests/unit/test_walker.py; here the primary is seen up again
    # through the public ``observed`` (what the health monitor calls).
    async with make_client(cluster, policy="sticky") as client:
        primary = (await client.targets())[0][0]
        cluster.primary.kill()
        assert (await client.options()).target.address == "127.0.0.3"  # type: ignore[union-attr]
        cluster.primary.start()
        client.observed(primary, True)
        assert (await client.options()).target.address == "127.0.0.3"  # type: ignore[union-attr]
        cluster.backup.kill()
        assert (await client.options()).target.address == "127.0.0.2"  # type: ignore[union-attr]


async def test_default_policy_goes_back_to_the_top_once_the_primary_is_up(cluster: Cluster) -> None:
    async with make_client(cluster) as client:
        primary = (await client.targets())[0][0]
        cluster.primary.kill()
        assert (await client.options()).target.address == "127.0.0.3"  # type: ignore[union-attr]
        assert client.is_down(primary)
        cluster.primary.start()
        client.observed(primary, True)
        assert (await client.options()).target.address == "127.0.0.2"  # type: ignore[union-attr]


async def test_static_policy_uses_configured_addresses_without_dns(cluster: Cluster) -> None:
    primary, backup = cluster.primary, cluster.backup
    client = SipClient(
        "sip:alice@client.test",
        password=PASSWORD,
        static=[primary.hostport, backup.hostport],
        failover_after=0.3,
        timers=Timers(t1=0.1),
    )
    async with client:
        outcome = await client.register(60)
        assert outcome.ok and outcome.target is not None
        assert outcome.target.hostport == primary.hostport
        primary.kill()
        outcome = await client.register(60)
        assert outcome.ok and outcome.target is not None
        assert outcome.target.hostport == backup.hostport


@pytest.mark.parametrize(
    ("failback", "expected"), [("refresh", "127.0.0.2"), ("never", "127.0.0.3")]
)
async def test_failback_modes_at_refresh(cluster: Cluster, failback: str, expected: str) -> None:
    async with make_client(cluster, policy="sticky", down_for=0.5) as client:
        cluster.primary.kill()
        reg = Registration(client, expires=2, failback=failback)  # refresh every second
        stop = asyncio.Event()
        task = asyncio.create_task(reg.run(stop))
        try:
            first = await wait_for(reg.events, "registered", 3)
            assert first.target is not None and first.target.address == "127.0.0.3"
            cluster.primary.start()
            seen = len(reg.events)
            deadline = time.monotonic() + 5
            while len(reg.events) < seen + 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)  # wait for two refreshes (one a second)
            last = reg.events[-1]
            assert last.target is not None and last.target.address == expected
            kinds = {e.event for e in reg.events}
            assert ("failback" in kinds) == (failback == "refresh")
        finally:
            stop.set()
            await asyncio.wait_for(task, 5)


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check`` (bounded by ``timeout``) while the event loop runs the client."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}")
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("damped", [False, True])
async def test_a_flapping_primary_gets_one_damped_failback_not_many(
    cluster: Cluster, damped: bool
) -> None:
    """The primary goes silent and answers again, five times, under 0.3 s probes.
    Undamped, the registration follows it back and forth. Damped (flap damping as
    ``register --follow`` sets it up for 0.3 s probes), each time it answers only one probe
    before going silent again: the registration stays on the backup, then fails back once
    when the primary stays up, as soon as its flap penalty has decayed below reuse.

    The flaps are counted in probes, not in wall-clock time: a fixed 0.3 s window lets
    three probes in when the machine is busy and the loop wakes late."""
    from siplocate.client.failover import Damping

    k = 3
    damping = Damping.for_probes(0.3, probes=k) if damped else Damping()
    stamps: dict[str, float] = {}  # event -> monotonic time it was last seen
    primary = cluster.primary
    verdicts: list[bool] = []  # what the client learned about the primary, in order
    # The primary stays up until the registration holds it (a probe answered before the first
    # REGISTER must not pause it, or the registration starts on the backup), flaps, and
    # stays up again at the end.
    steady = True

    def on_primary(target: Target, up: bool) -> None:
        if target.address != primary.address:
            return
        verdicts.append(up)
        if damped and up and not steady:
            primary.pause()  # one answered probe, then silent again before the next

    async with make_client(cluster) as client:
        monitor = HealthMonitor(client, interval=0.3)
        await monitor.probe_all()
        monitor.start()
        reg = Registration(
            client,
            expires=60,
            failback="probe",
            damping=damping,
            on_event=lambda e: stamps.__setitem__(e.event, time.monotonic()),
        )
        client.listeners.append(on_primary)  # after the registration's own listener
        stop = asyncio.Event()
        task = asyncio.create_task(reg.run(stop))

        async def verdict(action: Callable[[], None], up: bool) -> None:
            """Do ``action``, then wait until the client hears the primary is ``up``."""
            seen = len(verdicts)
            action()
            await until(lambda: up in verdicts[seen:], 5, f"primary seen {'up' if up else 'down'}")

        async def event(action: Callable[[], None], kind: str) -> None:
            """Do ``action``, then wait for one more registration event of ``kind``."""
            before = [e.event for e in reg.events].count(kind)
            action()
            await until(lambda: [e.event for e in reg.events].count(kind) > before, 5, kind)

        try:
            await wait_for(reg.events, "registered", 3)
            assert reg.current is not None and reg.current.address == primary.address
            steady = False
            for _ in range(5):  # bounded: five flaps
                if damped:
                    await verdict(primary.pause, False)
                    await verdict(primary.resume, True)  # on_primary pauses it at once
                else:
                    await event(primary.pause, "failover")
                    await event(primary.resume, "failback")
            flapping = [e.event for e in reg.events]
            if damped:
                assert flapping == ["registered", "failover"], flapping  # no failback
                assert verdicts.count(True) >= 5  # it did answer once per flap
                await verdict(primary.pause, False)  # silent once more (a sixth flap) ...
                steady = True
                target = next(t for t in client.last_targets if t.address == primary.address)
                ends = damping.reusable_at(target, time.monotonic())
                # five flaps within max-suppress: the penalty is at the ceiling
                assert damping.penalty_at(target, time.monotonic()) > damping.suppress
                rounds = monitor.rounds
                primary.resume()  # ... and now it stays up
                steady_from = time.monotonic()
                back = await wait_for(reg.events, "failback", 15)
                took = time.monotonic() - steady_from
                rounds = monitor.rounds - rounds
                assert back.target is not None and back.target.address == "127.0.0.2"
                print(f"\ndamped failback {took:.2f} s, {rounds} probe rounds after: {flapping}")
                # not before the penalty decayed below reuse (at most max-suppress after
                # the last flap), then at the next probe (a round may end during the
                # REGISTER); not at the 30 s refresh
                assert ends <= stamps["failback"], (ends, stamps)
                assert rounds <= (ends - steady_from) / 0.3 + 3, (rounds, ends - steady_from)
            else:  # dragged back and forth
                assert flapping == ["registered"] + ["failover", "failback"] * 5, flapping
        finally:
            primary.resume()
            stop.set()
            await asyncio.wait_for(task, 5)
            await monitor.stop()


@pytest.mark.parametrize("policy", ["default", "affinity"])
async def test_affinity_keeps_requests_on_the_registrar_while_it_answers(
    cluster: Cluster, policy: str
) -> None:
    """Registered on the backup (the primary was down), the primary comes back: under
    affinity 100 OPTIONS all go to the registrar; the default policy sends them to the top."""
    async with make_client(cluster, policy=policy) as client:
        cluster.primary.kill()
        outcome = await client.register(60)
        assert outcome.target is not None and outcome.target.address == "127.0.0.3"
        cluster.primary.start()
        await HealthMonitor(client, interval=1).probe_all()  # the primary is seen answering
        sent = []
        for _ in range(100):  # bounded: 100 requests
            result = await client.options()
            assert result.ok, result.describe()
            sent += [a.target.address for a in result.attempts]
        elsewhere = sum(1 for address in sent if address != "127.0.0.3")
        print(f"\n{policy}: {elsewhere} of {len(sent)} OPTIONS went elsewhere than the registrar")
        if policy == "affinity":
            assert elsewhere == 0
        else:
            assert elsewhere == len(sent) == 100  # the top of the list: the primary
        await client.unregister()


async def test_configured_ip_walks_like_the_grandstream_guide(cluster: Cluster) -> None:
    """--policy configured-ip: three tries without a response on the primary, then the
    backup; three uses of the backup, then the primary first again."""
    (a1, p1), (a2, p2) = cluster.addresses
    client = SipClient(
        cluster.aor,
        password=PASSWORD,
        policy="configured-ip",
        static=[f"{a1}:{p1}", f"{a2}:{p2}"],
        transports=("udp",),
        tries=3,
        failover_after=0.2,
        timers=Timers(t1=0.1),
    )
    async with client:
        cluster.primary.pause()
        try:
            first = await client.register(60)
            tried = [(a.target.address, a.status) for a in first.attempts]
            assert tried[:3] == [(a1, None)] * 3, tried  # three tries, no response
            assert first.target is not None and first.target.address == a2
            for _ in range(2):  # the backup's second and third uses
                again = await client.register(60)
                assert {a.target.address for a in again.attempts} == {a2}
        finally:
            cluster.primary.resume()
        back = await client.register(60)
        assert back.attempts[0].target.address == a1  # the primary first again
        assert back.target is not None and back.target.address == a1
        await client.unregister()

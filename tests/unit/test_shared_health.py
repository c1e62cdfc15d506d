"""The Redis health contract's pure parts: field and value encoding, expiry, reconnect backoff
(time injected through ManualClock, never slept)."""

from __future__ import annotations

import asyncio
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.client import RedisHealth, SipClient
from siplocate.client.shared_health import _Follower
from siplocate.clock import ManualClock
from siplocate.errors import BadInput
from siplocate.shared_health import (
    Backoff,
    Entry,
    decode_field,
    decode_message,
    encode_field,
    encode_message,
    keep_connected,
    redis_url,
)


def test_field_brackets_ipv6_only() -> None:
    assert encode_field(("udp", "192.0.2.1", 5060)) == "udp:192.0.2.1:5060"
    assert encode_field(("tls", "2001:db8::1", 5061)) == "tls:[2001:db8::1]:5061"
    assert decode_field("tls:[2001:db8::1]:5061") == ("tls", "2001:db8::1", 5061)
    assert decode_field("udp:192.0.2.1:5060") == ("udp", "192.0.2.1", 5060)


@pytest.mark.parametrize(
    "bad",
    [
        "udp:192.0.2.1",  # no port
        "udp:2001:db8::1:5060",  # IPv6 without brackets
        "udp:[192.0.2.1]:5060",  # IPv4 in brackets
        "carrier-pigeon:192.0.2.1:5060",
        "udp:example.com:5060",  # names are not health keys: addresses are
        "udp:192.0.2.1:0",
        "udp:192.0.2.1:70000",
        "udp:192.0.2.1:50x",
        "x" * 2000,
    ],
)
def test_field_rejects_what_is_not_a_target(bad: str) -> None:
    with pytest.raises(ValueError):
        decode_field(bad)


@given(
    st.sampled_from(["udp", "tcp", "tls"]),
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(1, 65535),
)
def test_field_round_trips(transport: str, address: object, port: int) -> None:
    key = (transport, str(address), port)
    assert decode_field(encode_field(key)) == key


def test_value_is_the_documented_json() -> None:
    entry = Entry(False, 1_700_000_000.25, 1_700_000_015.25, None, "prober-1")
    assert json.loads(entry.encode()) == {
        "up": False,
        "since": 1_700_000_000.25,
        "expires": 1_700_000_015.25,
        "rtt_ms": None,
        "by": "prober-1",
    }
    assert Entry.decode(entry.encode()) == entry
    message = json.loads(encode_message("udp:192.0.2.1:5060", entry))
    assert message["field"] == "udp:192.0.2.1:5060" and message["up"] is False
    assert decode_message(encode_message("udp:192.0.2.1:5060", entry)) == (
        ("udp", "192.0.2.1", 5060),
        entry,
    )


@pytest.mark.parametrize(
    "bad",
    [
        "[]",
        '{"up": "yes", "since": 1, "expires": 2, "rtt_ms": null, "by": "p"}',
        '{"up": true, "since": true, "expires": 2, "rtt_ms": null, "by": "p"}',
        '{"up": true, "since": 1, "rtt_ms": null, "by": "p"}',
        '{"up": true, "since": 1, "expires": 2, "rtt_ms": "fast", "by": "p"}',
        '{"up": true, "since": 1, "expires": 2, "rtt_ms": 1, "by": 7}',
        "not json",
    ],
)
def test_value_rejects_other_shapes(bad: str) -> None:
    with pytest.raises(ValueError):
        Entry.decode(bad)


def test_entry_past_expires_says_nothing() -> None:
    entry = Entry(False, 100.0, 115.0, None, "p")
    assert entry.fresh(114.9)
    assert not entry.fresh(115.0)
    assert not entry.fresh(1_000.0)


@pytest.mark.parametrize("url", ["redis://127.0.0.1:6379/0", "redis://[::1]:6380", "unix:///r.s"])
def test_redis_url_accepts(url: str) -> None:
    assert redis_url(url, "--publish") == url


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379", "127.0.0.1:6379", "redis://h:port/0"])
def test_redis_url_is_bad_input_otherwise(url: str) -> None:
    with pytest.raises(BadInput, match="--health"):
        redis_url(url, "--health")


def test_backoff_doubles_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.5, 4.0, rng=lambda: 1.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5
    low = Backoff(0.5, 4.0, rng=lambda: 0.0)
    assert [low.next() for _ in range(4)] == [0.25, 0.5, 1.0, 2.0]


async def test_reconnect_waits_out_the_backoff_on_the_injected_clock() -> None:
    clock = ManualClock()
    tries: list[float] = []
    lost: list[str] = []

    async def session() -> None:
        tries.append(clock.monotonic())
        if len(tries) == 4:
            backoff.reset()  # connected this time; the link then drops
        raise ConnectionError(f"down {len(tries)}")

    backoff = Backoff(1.0, 4.0, rng=lambda: 1.0)
    task = asyncio.create_task(
        keep_connected(session, backoff, clock, lambda e: lost.append(str(e)))
    )
    await clock.advance(20.0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # 0, +1, +2, +4 (connected, then lost: back to 1), +1, +2, +4, +4 ...
    assert tries[:7] == [0.0, 1.0, 3.0, 7.0, 8.0, 10.0, 14.0]
    assert lost[:2] == ["down 1", "down 2"]
    assert len(lost) == len(tries)


def _client_and_health() -> tuple[SipClient, RedisHealth, list[tuple[str, bool]]]:
    clock = ManualClock(1000.0)  # down-memory is monotonic: 0 here, when the wall reads 1000
    client = SipClient(
        "sip:a@example.test", static=["192.0.2.1", "192.0.2.2"], transports="udp", clock=clock
    )
    health = RedisHealth("redis://127.0.0.1:1/0", clock=clock)
    told: list[tuple[str, bool]] = []
    client.listeners.append(lambda t, up: told.append((t.address, up)))
    health.followers.append(_Follower(client))
    return client, health, told


def test_follower_skips_down_until_expiry_and_tells_once() -> None:
    from siplocate.target import Target, Transport

    client, health, told = _client_and_health()
    t = Target(Transport.UDP, "192.0.2.1", 5060, "192.0.2.1")
    k = ("udp", "192.0.2.1", 5060)
    assert health.apply(k, Entry(False, 990.0, 1010.0, None, "p"))
    assert client.failover.memory.until[k] == 10.0  # expires 1010 (wall) = 10 s from now
    health.apply(k, Entry(False, 990.0, 1020.0, None, "p"))
    assert client.failover.memory.until[k] == 20.0
    assert told == [("192.0.2.1", False)]  # the refresh extended it silently
    health.apply(k, Entry(True, 1001.0, 1030.0, 1.5, "p"))
    assert not client.is_down(t)
    assert told[-1] == ("192.0.2.1", True)
    # Past expires: ignored, counted.
    assert not health.apply(k, Entry(False, 900.0, 999.0, None, "p"))
    assert health.ignored == 1


def test_follower_keeps_the_clients_own_failure() -> None:

    from siplocate.target import Target, Transport

    client, health, told = _client_and_health()
    t = Target(Transport.UDP, "192.0.2.2", 5060, "192.0.2.2")
    client.mark(t, False)  # a request of its own timed out
    health.apply(("udp", "192.0.2.2", 5060), Entry(True, 990.0, 1030.0, 2.0, "p"))
    assert client.is_down(t)
    assert client.failover.memory.until[("udp", "192.0.2.2", 5060)] > client.clock.monotonic()
    assert told == [("192.0.2.2", False)]


def test_publisher_sends_changes_keeps_the_newest_and_counts_what_waits() -> None:
    from prometheus_client import CollectorRegistry

    from siplocate.target import Target, Transport
    from siplocate.watch.model import TargetHealth
    from siplocate.watch.publish import Publisher, entry_ttl

    registry = CollectorRegistry()
    pub = Publisher("redis://127.0.0.1:1/0", ttl=entry_ttl(1.0, 0.5), by="p", registry=registry)
    assert pub.ttl == 3.5
    h = TargetHealth(Target(Transport.UDP, "sip1", 5060, "2001:db8::1"))
    pub.saw(h)  # never probed yet: nothing to say
    assert pub.current == {}
    h.record(100.0, True, 200, None, 0.002)
    pub.saw(h)
    field = "udp:[2001:db8::1]:5060"
    assert pub.dirty == {field} and pub.current[field].up and pub.current[field].rtt_ms == 2.0
    h.record(101.0, True, 200, None, 0.003)
    pub.dirty.clear()
    pub.saw(h)  # same verdict: goes with the next refresh, not now
    assert pub.dirty == set() and pub.current[field].rtt_ms == 3.0
    h.record(102.0, False, None, "timeout", 0.5)
    pub.saw(h)
    h.record(103.0, True, 200, None, 0.001)
    pub.saw(h)
    # Redis away all along: only the newest verdict is kept; 3 changes counted as not sent.
    assert len(pub.current) == 1 and pub.current[field].up and pub.current[field].since == 103.0
    assert pub.dropped == 3
    assert registry.get_sample_value("siplocate_publish_dropped_total") == 3


async def test_rejoining_keeps_what_probing_alone_saw_down_for_down_for_only() -> None:
    """After a rejoin, a target the client's own probing saw down stays down ``down_for``
    seconds of the client's monotonic clock (not until a wall-clock instant read as
    monotonic, which would keep it down for good)."""
    from siplocate.client.health import HealthMonitor
    from siplocate.target import Target, Transport

    client, health, _ = _client_and_health()
    clock = client.clock
    assert isinstance(clock, ManualClock)
    t = Target(Transport.UDP, "192.0.2.1", 5060, "192.0.2.1")
    k = ("udp", "192.0.2.1", 5060)
    follower = health.followers[0]
    follower.monitor = HealthMonitor(client)
    follower.monitor.state[k] = False
    client.observed(t, False)  # probing alone saw it down: down until seen up
    await follower.rejoin(clock.wall())
    assert client.is_down(t)
    await clock.advance(client.failover.down_for - 1)
    assert client.is_down(t)
    await clock.advance(2)
    assert not client.is_down(t)

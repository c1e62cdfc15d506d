"""RFC 5626 pieces that need no server: STUN codec, keep-alive pacing, §4.5 backoff, the
instance ID file, what a flow's REGISTER carries and how its answer is read."""

from __future__ import annotations

import asyncio
import ipaddress
import random
import struct
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sipmessage import URI, Address, Response

from siplocate.client.outbound import (
    BASE_ALL_FAILED,
    BASE_SOME_OK,
    MAX_TIME,
    FlowId,
    Outbound,
    backoff,
    first_hop,
    flow_timer,
    keepalive_interval,
    load_instance,
    requires_outbound,
)
from siplocate.client.walker import Outcome
from siplocate.errors import BadInput
from siplocate.sip import stun
from siplocate.sip.message import (
    RequestSpec,
    StreamFramer,
    build_request,
    header_expires,
    parse_message,
)
from siplocate.target import Target, Transport

INSTANCE = "urn:uuid:00000000-0000-4000-8000-000000000001"


def stun_success(tid: bytes, address: str, port: int, *, xor: bool = True) -> bytes:
    """A Binding success response as a STUN server writes it (RFC 5389 §15.1, §15.2)."""
    ip = ipaddress.ip_address(address)
    raw = ip.packed
    family = 1 if ip.version == 4 else 2
    if xor:
        port ^= stun.MAGIC_COOKIE >> 16
        key = struct.pack("!I", stun.MAGIC_COOKIE) + tid
        raw = bytes(b ^ k for b, k in zip(raw, key, strict=False))
    value = struct.pack("!BBH", 0, family, port) + raw
    kind = stun.XOR_MAPPED_ADDRESS if xor else stun.MAPPED_ADDRESS
    attr = struct.pack("!HH", kind, len(value)) + value
    return stun.HEADER.pack(stun.BINDING_SUCCESS, len(attr), stun.MAGIC_COOKIE, tid) + attr


def test_binding_request_is_a_bare_rfc5389_header() -> None:
    request, tid = stun.binding_request()
    assert len(request) == 20 and len(tid) == 12
    assert stun.HEADER.unpack(request) == (stun.BINDING_REQUEST, 0, stun.MAGIC_COOKIE, tid)
    assert stun.is_stun(request) and stun.transaction_id(request) == tid
    assert not stun.is_stun(b"SIP/2.0 200 OK\r\n\r\n" + bytes(8))


@given(
    st.one_of(st.ip_addresses(v=4), st.ip_addresses(v=6)),
    st.integers(0, 65535),
    st.binary(min_size=12, max_size=12),
    st.booleans(),
)
def test_mapped_address_round_trips(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, port: int, tid: bytes, xor: bool
) -> None:
    assert stun.mapped_address(stun_success(tid, str(ip), port, xor=xor)) == (str(ip), port)


@given(st.binary(max_size=80))
def test_any_bytes_give_an_address_or_none_never_an_error(data: bytes) -> None:
    result = stun.mapped_address(data)
    assert result is None or isinstance(result, tuple)


def test_truncated_or_foreign_stun_gives_no_address() -> None:
    good = stun_success(bytes(12), "192.0.2.7", 5060)
    assert stun.mapped_address(good[:-4]) is None  # shorter than its length field says
    request, _ = stun.binding_request()
    assert stun.mapped_address(request) is None  # a request, not a success response


@given(
    st.sampled_from(list(Transport)), st.one_of(st.none(), st.integers(1, 10_000)), st.integers()
)
def test_keepalive_interval_follows_flow_timer_or_the_rfc_defaults(
    transport: Transport, timer: int | None, seed: int
) -> None:
    interval = keepalive_interval(transport, timer, random.Random(seed))
    if timer is not None:
        assert 0.8 * timer <= interval <= timer  # §4.4.1: 80-100 % of Flow-Timer
    elif transport == Transport.UDP:
        assert 24 <= interval <= 29
    else:
        assert 95 <= interval <= 120


@given(st.integers(0, 200), st.booleans(), st.integers())
def test_backoff_is_half_to_all_of_the_capped_exponential(
    failures: int, all_failed: bool, seed: int
) -> None:
    base = BASE_ALL_FAILED if all_failed else BASE_SOME_OK
    wait = min(MAX_TIME, base * 2.0 ** min(failures, 32))
    delay = backoff(failures, all_failed, random.Random(seed))
    assert 0.5 * wait <= delay <= wait <= MAX_TIME


def test_backoff_example_of_the_rfc() -> None:
    """§4.5: base-time 30 s and three failures wait min(1800, 30 * 2^3) = 240 s, of which
    a uniform 50-100 %."""
    delays = [backoff(3, True, random.Random(n)) for n in range(200)]
    assert min(delays) >= 120 and max(delays) <= 240 and max(delays) - min(delays) > 60


def test_instance_id_is_made_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "siplocate" / "instance-id"
    first = load_instance(path)
    assert first.startswith("urn:uuid:") and path.read_text().strip() == first
    assert load_instance(path) == first  # the same device after a restart
    assert load_instance(tmp_path / "other") != first


def test_a_bad_instance_id_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "id"
    bad.write_text("not a urn\n")
    with pytest.raises(BadInput, match="does not hold a urn:uuid"):
        load_instance(bad)
    with pytest.raises(BadInput, match="instance ID file"):
        load_instance(tmp_path)  # a directory
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(BadInput, match="Not a directory"):
        load_instance(blocked / "id")  # its parent is a file
    with pytest.raises(BadInput, match="cannot keep the instance ID"):
        load_instance(Path("/proc/self/siplocate-instance-id"))  # nothing can be written there


def test_a_flow_register_carries_reg_id_instance_and_supported() -> None:
    me = URI.parse("sip:alice@example.test")
    spec = RequestSpec(
        "REGISTER", URI.parse("sip:example.test"), Address(uri=me), Address(uri=me), "c", 1,
        contact_user="alice", contact_params=FlowId(INSTANCE, 2).contact_params(),
    )  # fmt: skip
    spec.headers.append(("Supported", "path, outbound"))
    request = build_request(spec, transport=Transport.TCP, local=("192.0.2.1", 5062))
    contact = Address.parse(request.headers.get("Contact") or "")
    assert str(contact.uri) == "sip:alice@192.0.2.1:5062;transport=tcp"
    assert contact.parameters.get("reg-id") == "2"
    assert contact.parameters.get("+sip.instance") == f'"<{INSTANCE}>"'
    assert request.headers.get("Supported") == "path, outbound"


def response(*headers: str) -> Response:
    head = (
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\n"
        "To: <sip:a@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 REGISTER\r\n"
    )
    message = parse_message((head + "".join(h + "\r\n" for h in headers) + "\r\n").encode())
    assert isinstance(message, Response)
    return message


def test_the_registrar_s_answer_is_read_per_flow() -> None:
    two = response(
        f'Contact: <sip:alice@192.0.2.1:1>;expires=60;+sip.instance="<{INSTANCE}>";reg-id=1',
        f'Contact: <sip:alice@192.0.2.1:2>;expires=30;+sip.instance="<{INSTANCE}>";reg-id=2',
        "Require: outbound",
        "Flow-Timer: 25",
    )
    assert header_expires(two, "alice", 1) == 60 and header_expires(two, "alice", 2) == 30
    assert requires_outbound(two) and flow_timer(two) == 25
    plain = response("Contact: <sip:alice@192.0.2.1:1>;expires=60", "Require: path, 100rel")
    assert not requires_outbound(plain) and flow_timer(plain) is None
    assert requires_outbound(response("Require: path", "Require: OutBound"))
    assert flow_timer(response("Flow-Timer: soon")) is None
    assert flow_timer(response("Flow-Timer: ٣٠")) is None  # digits, but not ASCII


def test_the_framer_counts_pongs_between_messages() -> None:
    framer = StreamFramer()
    assert framer.feed(b"\r\n") == [] and framer.crlfs == 1
    message = b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 0\r\n\r\n"
    assert framer.feed(b"\r\n" + message[:10]) == [] and framer.crlfs == 2
    assert framer.feed(message[10:]) == [message] and framer.crlfs == 2


def test_flows_take_distinct_hosts_not_two_addresses_of_one_host() -> None:
    """§4.2: one flow per first hop; an SRV target with an IPv4 and an IPv6 address (or a
    UDP and a TCP target) is one hop."""
    edge1_v4 = Target(Transport.TCP, "edge1.example.test", 5060, "192.0.2.1", 10, 0)
    edge1_v6 = Target(Transport.TCP, "edge1.example.test", 5060, "2001:db8::1", 10, 0)
    edge1_udp = Target(Transport.UDP, "EDGE1.example.test", 5060, "192.0.2.1", 10, 0)
    edge2 = Target(Transport.TCP, "edge2.example.test", 5060, "192.0.2.2", 20, 0)
    targets = [edge1_v4, edge1_v6, edge1_udp, edge2]
    up = lambda t: False  # noqa: E731
    assert first_hop(targets, [], up) == edge1_v4
    assert first_hop(targets, [edge1_v4], up) == edge2  # not edge1's other address
    assert first_hop(targets, [edge2], up) == edge1_v4
    assert first_hop(targets, [edge1_v6, edge2], up) is None  # no hop left for a third flow
    # Known-down hops come last; a flow keeps its previous hop while it qualifies.
    assert first_hop(targets, [], lambda t: t.host.lower().startswith("edge1")) == edge2
    assert first_hop(targets, [], up, previous=edge2) == edge2
    assert first_hop(targets, [], lambda t: t is edge2, previous=edge2) == edge1_v4


class FakeConn:
    """A flow whose edge hangs up as soon as it registered (``drops``), else answers pongs."""

    def __init__(self, target: Target, drops: bool) -> None:
        self.target = target
        self.lost = asyncio.Event()
        if drops:
            self.lost.set()

    async def keepalive(self, timeout: float) -> None:
        return None


class FakeClient:
    """What Outbound uses of SipClient: targets, REGISTER (always 200 with Require: outbound),
    flows; ``drops``: every connection is lost right after its REGISTER."""

    def __init__(self, drops: bool) -> None:
        self.outbound: object = None
        self.drops = drops
        self.registers = 0
        edge = Target(Transport.TCP, "edge1.example.test", 5060, "192.0.2.1", 10, 0)
        self.target = edge
        self.flows = self
        self.conn: FakeConn | None = None

    async def targets(self) -> tuple[list[Target], None]:
        return [self.target], None

    def is_down(self, target: Target) -> bool:
        return False

    async def register(self, expires: int, **kw: object) -> Outcome:
        self.registers += 1
        self.conn = FakeConn(self.target, self.drops)
        ok = response("Require: outbound", "Flow-Timer: 20")
        return Outcome("REGISTER", ok, self.target)

    async def unregister(self, **kw: object) -> None:
        return None

    def pooled(self, target: Target) -> FakeConn | None:
        return self.conn

    def drop(self, conn: object) -> None:
        return None


async def run_recording_waits(client: FakeClient, waits: int) -> list[tuple[float, int]]:
    """Run one flow until it has waited ``waits`` times (no real sleeping): each wait as
    (seconds, how many events it watched: 2 for a backoff, 3 for a keep-alive pause)."""
    stop = asyncio.Event()
    seen: list[tuple[float, int]] = []

    async def wait(delay: float, *events: asyncio.Event) -> None:
        seen.append((delay, len(events)))
        if len(seen) >= waits:
            stop.set()
        await asyncio.sleep(0)

    ob = Outbound(
        client,
        flows=1,
        instance=INSTANCE,
        rng=random.Random(1),
        wait=wait,  # type: ignore[arg-type]
    )
    await asyncio.wait_for(ob.run(stop), 5)
    return seen


async def test_an_edge_that_drops_every_flow_gets_the_backoff_not_a_hot_loop() -> None:
    client = FakeClient(drops=True)
    seen = await run_recording_waits(client, 6)
    backoffs = [delay for delay, watched in seen if watched == 2]
    # The first loss is retried at once; the n-th in a row waits 50-100 % of 30 s x 2^n
    # (§4.5, every flow down): 60-120 s, then 120-240 s.
    assert len(backoffs) == 2
    assert 60 <= backoffs[0] <= 120 and 120 <= backoffs[1] <= 240
    assert client.registers == 4  # one per wait cycle, not hundreds


async def test_a_flow_that_answered_keepalives_is_formed_again_at_once() -> None:
    client = FakeClient(drops=False)
    seen = await run_recording_waits(client, 3)
    assert all(watched == 3 for _, watched in seen)  # keep-alive pauses, never a backoff
    assert all(16 <= delay <= 20 for delay, _ in seen)  # 80-100 % of Flow-Timer 20
    assert client.registers == 1

"""The answering side: server transactions (RFC 3261 §17.2, RFC 6026) with timers driven by
hand, the UA core's answers (§8.2), and the client's matching of retransmissions, ACK,
CANCEL, BYE and retransmitted 2xx (over a recording stand-in for the socket)."""

from __future__ import annotations

import pytest
from sipmessage import Request, Response

from siplocate.client import Dialog, Incoming, SipClient
from siplocate.sip.message import parse_message
from siplocate.sip.server import (
    Acked,
    AnswerLimits,
    Arm,
    Reply,
    ServerTable,
    ServerTransaction,
    State,
    Timer,
    Unacked,
    build_response,
    decide,
    refusal,
)
from siplocate.sip.transaction import Timers
from siplocate.sip.transport import Connection
from siplocate.target import Target, Transport

T = Timers(t1=0.5, t2=4.0, t4=5.0)
KAM = Target(Transport.UDP, "127.0.0.2", 5060, "127.0.0.2")


def request(
    method: str = "OPTIONS",
    *,
    branch: str = "z9hG4bKkam1",
    to_tag: str | None = None,
    from_tag: str = "caller",
    call_id: str = "cid-1",
    cseq: int = 1,
    extra: str = "",
) -> Request:
    to = "<sip:alice@client.test>" + (f";tag={to_tag}" if to_tag else "")
    text = (
        f"{method} sip:alice@127.0.0.1:40000 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch={branch}\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.9:5099;branch=z9hG4bKbob;rport=5099\r\n"
        f"From: <sip:bob@client.test>;tag={from_tag}\r\nTo: {to}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {'INVITE' if method == 'ACK' else method}\r\n"
        f"Contact: <sip:bob@127.0.0.9:5099>\r\n{extra}Content-Length: 0\r\n\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


# -- server transactions ------------------------------------------------------------------------


def test_non_invite_repeats_its_final_for_retransmissions_until_timer_j() -> None:
    req = request()
    tx = ServerTransaction(req, reliable=False, timers=T)
    ok = build_response(req, 200, to_tag=tx.to_tag)
    assert tx.respond(ok) == [Reply(bytes(ok)), Arm(Timer.J, 32.0)]
    assert tx.receive(req) == [Reply(bytes(ok))]
    assert tx.respond(build_response(req, 500)) == []  # one final only
    assert tx.fire(Timer.J) == [] and tx.done
    assert tx.receive(req) == []


def test_non_invite_over_tcp_ends_at_once_and_provisional_is_repeated() -> None:
    req = request("NOTIFY")
    tx = ServerTransaction(req, reliable=True, timers=T)
    trying = build_response(req, 100)
    assert tx.respond(trying) == [Reply(bytes(trying))] and tx.state == State.PROCEEDING
    assert tx.receive(req) == [Reply(bytes(trying))]
    ok = build_response(req, 200, to_tag=tx.to_tag)
    assert tx.respond(ok) == [Reply(bytes(ok)), Arm(Timer.J, 0.0)]


def test_invite_non_2xx_final_is_retransmitted_until_the_ack() -> None:
    req = request("INVITE")
    tx = ServerTransaction(req, reliable=False, timers=T)
    busy = build_response(req, 486, to_tag=tx.to_tag)
    assert tx.respond(busy) == [Reply(bytes(busy)), Arm(Timer.H, 32.0), Arm(Timer.G, 0.5)]
    assert tx.fire(Timer.G) == [Reply(bytes(busy)), Arm(Timer.G, 1.0)]
    assert tx.fire(Timer.G) == [Reply(bytes(busy)), Arm(Timer.G, 2.0)]
    assert tx.fire(Timer.G) == [Reply(bytes(busy)), Arm(Timer.G, 4.0)]
    assert tx.fire(Timer.G) == [Reply(bytes(busy)), Arm(Timer.G, 4.0)]  # capped at T2
    assert tx.receive(request("ACK")) == [Acked(), Arm(Timer.I, 5.0)]
    assert tx.state == State.CONFIRMED
    assert tx.fire(Timer.G) == [] and tx.receive(request("INVITE")) == []
    assert tx.fire(Timer.I) == [] and tx.done


def test_invite_without_ack_gives_up_at_timer_h() -> None:
    req = request("INVITE")
    tx = ServerTransaction(req, reliable=True, timers=T)
    tx.respond(build_response(req, 480, to_tag=tx.to_tag))
    assert tx.fire(Timer.H) == [Unacked()] and tx.done


def test_invite_2xx_is_accepted_retransmitted_and_ends_on_ack_or_timer_l() -> None:
    req = request("INVITE")
    tx = ServerTransaction(req, reliable=False, timers=T)
    ok = build_response(req, 200, to_tag=tx.to_tag)
    assert tx.respond(ok) == [Reply(bytes(ok)), Arm(Timer.L, 32.0), Arm(Timer.G, 0.5)]
    assert tx.receive(req) == [Reply(bytes(ok))]  # INVITE retransmission: 2xx again
    assert tx.ack() == [Acked()] and tx.done
    tx2 = ServerTransaction(req, reliable=False, timers=T)
    tx2.respond(ok)
    assert tx2.fire(Timer.L) == [Unacked()] and tx2.done
    assert tx2.ack() == []


def test_live_server_transactions_are_bounded_and_the_rest_refused_statelessly() -> None:
    """A flood of INVITEs nobody ACKs (issue 17): at most ``limit`` transactions are kept; the
    rest get a 503 with Retry-After built from the request alone, the same for a
    retransmission (RFC 3261 §8.2.7: a stateless UAS tags consistently), and nothing kept."""
    table: ServerTable[ServerTransaction] = ServerTable(limit=3)
    live = []
    for i in range(5):
        req = request("INVITE", branch=f"z9hG4bKf{i}", call_id=f"f{i}")
        tx = ServerTransaction(req, reliable=False, timers=T)
        if table.add((f"z9hG4bKf{i}", "INVITE"), tx, call=(f"f{i}", 1)):
            live.append(tx)
    assert len(live) == len(table) == 3 and table.full
    assert table.get(("z9hG4bKf3", "INVITE")) is None and table.by_call(("f4", 1)) is None
    assert table.by_call(("f1", 1)) is live[1]  # the ACK for a 2xx finds its INVITE so
    refused = request("INVITE", branch="z9hG4bKf3", call_id="f3")
    busy = refusal(refused, retry_after=7)
    assert busy.code == 503 and busy.headers["Retry-After"] == "7"
    assert busy.headers.getlist("Via") == refused.headers.getlist("Via")
    assert busy.headers["Call-ID"] == "f3" and busy.headers["CSeq"] == "1 INVITE"
    assert ";tag=" in busy.headers["To"]
    assert refusal(refused, retry_after=7).headers["To"] == busy.headers["To"]  # retransmitted
    other = refusal(request("INVITE", branch="z9hG4bKf4", call_id="f4"), retry_after=7)
    assert other.headers["To"] != busy.headers["To"]
    # A transaction that ends (Timer H: never ACKed) makes room for the next request.
    live[0].respond(build_response(request("INVITE"), 480, to_tag=live[0].to_tag))
    assert live[0].fire(Timer.H) == [Unacked()] and live[0].done
    table.discard(("z9hG4bKf0", "INVITE"), call=("f0", 1))
    assert len(table) == 2 and table.by_call(("f0", 1)) is None and not table.full
    tx = ServerTransaction(refused, reliable=False, timers=T)
    assert table.add(("z9hG4bKf3", "INVITE"), tx, call=("f3", 1))
    assert sorted(k for k, _ in table.items()) == [
        ("z9hG4bKf1", "INVITE"), ("z9hG4bKf2", "INVITE"), ("z9hG4bKf3", "INVITE"),
    ]  # fmt: skip


def test_answer_limits_have_sane_defaults_and_refuse_nonsense() -> None:
    limits = AnswerLimits()
    assert limits.server_transactions >= 100 and limits.dialogs >= 1 and limits.retry_after > 0
    for bad in ({"server_transactions": 0}, {"dialogs": 0}, {"retry_after": -1}):
        with pytest.raises(ValueError):
            AnswerLimits(**bad)  # type: ignore[arg-type]


def test_build_response_copies_the_request_and_tags_the_to() -> None:
    req = request("OPTIONS")
    r = build_response(req, 200, to_tag="abc", headers=[("Allow", "INVITE")])
    assert r.headers.getlist("Via") == req.headers.getlist("Via")
    assert r.headers["To"].endswith(";tag=abc") and r.headers["Call-ID"] == "cid-1"
    assert r.headers["CSeq"] == "1 OPTIONS" and r.headers["Server"] == "siplocate"
    assert ";tag=" not in build_response(req, 100, to_tag="abc").headers["To"]
    tagged = request("BYE", to_tag="mine")
    assert build_response(tagged, 200, to_tag="other").headers["To"].endswith(";tag=mine")


@pytest.mark.parametrize(
    ("method", "extra", "code"),
    [
        ("OPTIONS", "", 200),
        ("NOTIFY", "", 200),
        ("BYE", "", 481),
        ("MESSAGE", "", 405),
        ("SUBSCRIBE", "", 405),
        ("FOO", "", 501),
        ("OPTIONS", "Require: 100rel, timer\r\n", 420),
    ],
)
def test_the_ua_core_answers(method: str, extra: str, code: int) -> None:
    status, headers = decide(request(method, extra=extra))
    assert status == code
    names = dict(headers)
    if code == 200 and method == "OPTIONS":
        assert "INVITE" in names["Allow"] and names["Accept"] == "application/sdp"
    if code in (405, 501):
        assert "OPTIONS" in names["Allow"]
    if code == 420:
        assert names["Unsupported"] == "100rel, timer"


# -- the client's matching, over a recording socket ----------------------------------------------


class Recorder(Connection):
    """Stands in for the registrar's flow: keeps what the client sends."""

    def __init__(self) -> None:
        super().__init__(KAM, lambda m, c: None, lambda e, c: None)
        self.local = ("127.0.0.1", 40000)
        self.sent: list[bytes] = []

    def send(self, data: bytes) -> None:
        self.sent.append(data)

    def responses(self) -> list[Response]:
        out = []
        for data in self.sent:
            msg = parse_message(data)
            if isinstance(msg, Response):
                out.append(msg)
        return out

    def codes(self) -> list[int]:
        return [r.code for r in self.responses()]


async def settle() -> None:
    import asyncio

    for _ in range(5):
        await asyncio.sleep(0)


async def test_client_answers_options_and_absorbs_the_retransmission() -> None:
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T)
    heard: list[Incoming] = []
    client.on_incoming = heard.append
    conn = Recorder()
    client.answerer.serve(request("OPTIONS"), conn)
    client.answerer.serve(request("OPTIONS"), conn)  # retransmitted: same answer, app told once
    assert conn.codes() == [200, 200]
    assert len(heard) == 1 and heard[0].status == 200
    await client.close()


async def test_incoming_invite_default_480_then_ack_matches() -> None:
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T)
    conn = Recorder()
    client.answerer.serve(request("INVITE"), conn)
    await settle()
    assert conn.codes() == [100, 480]
    client.answerer.serve(request("INVITE"), conn)  # retransmission before the ACK
    assert conn.codes() == [100, 480, 480]
    client.answerer.serve(request("ACK"), conn)
    client.answerer.serve(request("INVITE"), conn)  # after the ACK: absorbed, not answered
    assert conn.codes() == [100, 480, 480]
    await client.close()


async def test_cancel_before_the_application_answers_is_487() -> None:
    import asyncio

    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T)
    gate = asyncio.Event()

    async def slow(request: Request) -> int:
        await gate.wait()
        return 200

    client.on_invite = slow
    conn = Recorder()
    client.answerer.serve(request("INVITE"), conn)
    await settle()
    client.answerer.serve(request("CANCEL"), conn)
    gate.set()
    await settle()
    assert conn.codes() == [100, 200, 487]  # 200 to the CANCEL, 487 to the INVITE
    assert client.dialogs == {}  # the late acceptance made no dialog
    client.answerer.serve(request("CANCEL", branch="z9hG4bKother"), conn)
    assert conn.codes()[-1] == 481
    await client.close()


async def test_accepted_call_bye_reinvite_and_failing_application() -> None:
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T)
    client.on_invite = lambda request: 200
    conn = Recorder()
    client.answerer.serve(request("INVITE"), conn)
    await settle()
    ok = conn.responses()[-1]
    assert ok.code == 200 and ok.headers["Contact"] == "<sip:alice@127.0.0.1:40000>"
    (dialog,) = client.dialogs.values()
    tag = dialog.key[1]
    client.answerer.serve(request("ACK", branch="z9hG4bKack2xx", to_tag=tag), conn)
    client.answerer.serve(request("INVITE", branch="z9hG4bKre", to_tag=tag, cseq=2), conn)
    assert conn.codes()[-1] == 488  # re-INVITE declined, the session stays as it is
    client.answerer.serve(request("BYE", branch="z9hG4bKbye", to_tag=tag, cseq=3), conn)
    assert conn.codes()[-1] == 200 and dialog.ended and client.dialogs == {}
    client.answerer.serve(request("BYE", branch="z9hG4bKbye2", to_tag=tag, cseq=4), conn)
    assert conn.codes()[-1] == 481  # that dialog is gone
    client.answerer.serve(request("NOTIFY", branch="z9hG4bKn", to_tag="x"), conn)
    assert conn.codes()[-1] == 200

    def broken(request: Request) -> int:
        raise RuntimeError("application bug")

    client.on_invite = broken
    client.answerer.serve(request("INVITE", branch="z9hG4bKb2", call_id="cid-2"), conn)
    await settle()
    assert conn.codes()[-1] == 500
    await client.close()


async def test_retransmitted_2xx_to_our_invite_is_acked_again() -> None:
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T)
    conn = Recorder()
    spec = client.new_spec("INVITE", uri="sip:bob@client.test")
    ok = Response(code=200, phrase="OK")
    for name, value in [
        ("Via", "SIP/2.0/UDP 127.0.0.1:40000;branch=z9hG4bKours"),
        ("From", str(spec.from_addr)),
        ("To", "<sip:bob@client.test>;tag=bobtag"),
        ("Call-ID", spec.call_id),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:bob@127.0.0.9:5099>"),
    ]:
        ok.headers.add(name, value)
    dialog = Dialog.from_response(client, spec, ok, KAM)
    client.dialogs[dialog.key] = dialog
    dialog.ack(conn)
    client.answerer.stray(ok, conn)  # the 2xx again: our ACK was lost
    assert len(conn.sent) == 2 and conn.sent[0] == conn.sent[1]
    assert conn.sent[0].startswith(b"ACK sip:bob@127.0.0.9:5099 SIP/2.0")
    other = Response(code=200, phrase="OK")
    client.answerer.stray(other, conn)  # no CSeq at all: ignored
    assert len(conn.sent) == 2
    await client.close()


class StreamRecorder(Recorder):
    """A TCP flow: Timer I and J are 0, so a confirmed transaction ends on the next turn."""

    def __init__(self) -> None:
        super().__init__()
        self.target = Target(Transport.TCP, "127.0.0.2", 5060, "127.0.0.2")


def retry_after(conn: Recorder) -> list[str | None]:
    return [r.headers.get("Retry-After") for r in conn.responses()]


async def test_a_flood_of_unacked_invites_keeps_bounded_state_and_gets_503() -> None:
    """Issue 17: 20 INVITEs, never ACKed, against a bound of 5 live server transactions."""
    limits = AnswerLimits(server_transactions=5, dialogs=5, retry_after=7)
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T, answering=limits)
    heard: list[Incoming] = []
    client.on_incoming = heard.append
    conn = StreamRecorder()
    for i in range(20):
        client.answerer.serve(request("INVITE", branch=f"z9hG4bKf{i}", call_id=f"f{i}"), conn)
    await settle()
    assert conn.codes() == [100, 480] * 5 + [503] * 15
    assert retry_after(conn) == [None] * 10 + ["7"] * 15
    assert len(client.answerer.servers) == 5 and not client.answerer.tasks
    assert [i.status for i in heard] == [480] * 5  # refusals never reach the application
    # The hop-by-hop ACK for a 503 finds nothing and costs nothing; a retransmitted refused
    # INVITE is refused again, with the same To tag.
    client.answerer.serve(request("ACK", branch="z9hG4bKf7", call_id="f7"), conn)
    client.answerer.serve(request("INVITE", branch="z9hG4bKf7", call_id="f7"), conn)
    first, again = (r for r in conn.responses() if r.headers["Call-ID"] == "f7")
    assert again.code == 503 and again.headers["To"] == first.headers["To"]
    # Once the live ones are ACKed and over, new calls are answered again.
    for i in range(5):
        client.answerer.serve(request("ACK", branch=f"z9hG4bKf{i}", call_id=f"f{i}"), conn)
    await settle()
    assert len(client.answerer.servers) == 0
    client.answerer.serve(request("INVITE", branch="z9hG4bKnew", call_id="new"), conn)
    await settle()
    assert conn.codes()[-1] == 480
    await client.close()


async def test_dialogs_per_client_are_bounded() -> None:
    """Accepted calls beyond ``dialogs`` get 503 + Retry-After; a BYE makes room again."""
    limits = AnswerLimits(dialogs=2, retry_after=9)
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T, answering=limits)
    client.on_invite = lambda request: 200
    conn = StreamRecorder()
    for i in range(3):
        client.answerer.serve(request("INVITE", branch=f"z9hG4bKd{i}", call_id=f"d{i}"), conn)
    await settle()
    assert conn.codes() == [100, 200, 100, 200, 503] and retry_after(conn)[-1] == "9"
    assert len(client.dialogs) == 2
    call_id, tag, _ = next(iter(client.dialogs))
    bye = request("BYE", branch="z9hG4bKbye", to_tag=tag, call_id=call_id, cseq=2)
    client.answerer.serve(bye, conn)
    assert conn.codes()[-1] == 200 and len(client.dialogs) == 1
    client.answerer.serve(request("INVITE", branch="z9hG4bKd3", call_id="d3"), conn)
    await settle()
    assert conn.codes()[-1] == 200 and len(client.dialogs) == 2

    # An application that takes its time: the calls it is still deciding count too.
    async def later(request: Request) -> int:
        return 200

    client.on_invite = later
    client.dialogs.clear()
    for i in range(3):
        client.answerer.serve(request("INVITE", branch=f"z9hG4bKa{i}", call_id=f"a{i}"), conn)
    await settle()
    assert conn.codes()[-5:] == [100, 100, 503, 200, 200] and len(client.dialogs) == 2
    await client.close()


async def test_a_full_table_still_lets_a_call_end() -> None:
    """While a flood holds every transaction, the BYE of a call in progress and the CANCEL of
    a call being decided use a reserve (``dialogs`` more), so a flood cannot keep a call up;
    anything else is refused."""
    limits = AnswerLimits(server_transactions=3, dialogs=2, retry_after=7)
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], timers=T, answering=limits)
    gate = __import__("asyncio").Event()

    async def answer(request: Request) -> int:
        if request.headers["Call-ID"] == "slow":
            await gate.wait()
        return 200

    client.on_invite = answer
    conn = Recorder()  # UDP: answered transactions stay (Timer J, L)
    client.answerer.serve(request("INVITE", branch="z9hG4bKc1", call_id="call"), conn)
    client.answerer.serve(request("INVITE", branch="z9hG4bKs1", call_id="slow"), conn)
    client.answerer.serve(request("OPTIONS", branch="z9hG4bKo1", call_id="o1"), conn)
    await settle()
    assert len(client.answerer.servers) == 3 and len(client.dialogs) == 1
    client.answerer.serve(request("OPTIONS", branch="z9hG4bKo2", call_id="o2"), conn)
    assert conn.codes()[-1] == 503  # full
    tag = next(iter(client.dialogs))[1]
    client.answerer.serve(request("INFO", branch="z9hG4bKi", to_tag="forged", call_id="x"), conn)
    assert conn.codes()[-1] == 503  # "in dialog", but not one of ours: no reserve
    client.answerer.serve(request("CANCEL", branch="z9hG4bKs1", call_id="slow"), conn)
    assert conn.codes()[-2:] == [200, 487]  # the call being decided is cancelled
    client.answerer.serve(request("BYE", branch="z9hG4bKbye", to_tag=tag, call_id="call"), conn)
    assert conn.codes()[-1] == 200 and client.dialogs == {}  # the call in progress ends
    assert len(client.answerer.servers) <= 3 + 2
    gate.set()
    await client.close()

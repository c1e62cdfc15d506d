"""RFC 3261 §17.1 client transactions driven by hand: every timer is an input, nothing sleeps."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sipmessage import URI, Address, Request, Response

from siplocate.sip.message import RequestSpec, branch_of, build_request
from siplocate.sip.transaction import (
    Arm,
    Final,
    InviteClientTransaction,
    NonInviteClientTransaction,
    Provisional,
    Send,
    State,
    TimedOut,
    Timer,
    Timers,
    TransportError,
    new_transaction,
)
from siplocate.target import Transport

T = Timers(t1=0.5, t2=4.0, t4=5.0)


def request(method: str = "REGISTER") -> Request:
    spec = RequestSpec(
        method=method,
        uri=URI.parse("sip:example.test"),
        from_addr=Address.parse("<sip:alice@example.test>;tag=abc"),
        to_addr=Address.parse("<sip:alice@example.test>"),
        call_id="call-1",
        cseq=7,
    )
    return build_request(spec, transport=Transport.UDP, local=("127.0.0.1", 5099))


def response(req: Request, code: int, to_tag: str | None = "srv") -> Response:
    resp = Response(code, "Whatever")
    for via in req.headers.getlist("Via"):
        resp.headers.add("Via", via)
    resp.headers.add("From", req.headers["From"])
    to = req.headers["To"] + (f";tag={to_tag}" if to_tag else "")
    resp.headers.add("To", to)
    resp.headers.add("Call-ID", req.headers["Call-ID"])
    resp.headers.add("CSeq", req.headers["CSeq"])
    resp.headers.add("Content-Length", "0")
    return resp


def arms(effects: list[object]) -> dict[Timer, float]:
    return {e.timer: e.delay for e in effects if isinstance(e, Arm)}


def test_non_invite_udp_retransmits_with_backoff_capped_at_t2() -> None:
    req = request()
    tx = NonInviteClientTransaction(req, reliable=False, timers=T)
    start = tx.start()
    assert start[0] == Send(req)
    assert arms(start) == {Timer.F: 32.0, Timer.E: 0.5}
    delays = []
    for _ in range(6):
        effects = tx.fire(Timer.E)
        assert Send(req) in effects
        delays.append(arms(effects)[Timer.E])
    assert delays == [1.0, 2.0, 4.0, 4.0, 4.0, 4.0]
    assert tx.fire(Timer.F) == [TimedOut()]
    assert tx.state == State.TERMINATED
    assert tx.fire(Timer.E) == []


def test_non_invite_proceeding_retransmits_every_t2() -> None:
    req = request()
    tx = NonInviteClientTransaction(req, reliable=False, timers=T)
    tx.start()
    effects = tx.receive(response(req, 100))
    assert len(effects) == 1 and isinstance(effects[0], Provisional)
    assert effects[0].response.code == 100
    assert tx.state == State.PROCEEDING
    assert arms(tx.fire(Timer.E)) == {Timer.E: 4.0}


def test_non_invite_final_then_timer_k_absorbs_retransmissions() -> None:
    req = request()
    tx = NonInviteClientTransaction(req, reliable=False, timers=T)
    tx.start()
    ok = response(req, 200)
    effects = tx.receive(ok)
    assert isinstance(effects[0], Final) and effects[0].response is ok
    assert arms(effects) == {Timer.K: 5.0}
    assert tx.state == State.COMPLETED
    assert tx.receive(ok) == []  # retransmission: absorbed, not delivered twice
    assert tx.fire(Timer.E) == []  # no more retransmits once completed
    assert tx.fire(Timer.F) == []
    tx.fire(Timer.K)
    assert tx.done


def test_non_invite_reliable_has_no_retransmit_and_no_timer_k() -> None:
    req = request()
    tx = NonInviteClientTransaction(req, reliable=True, timers=T)
    assert arms(tx.start()) == {Timer.F: 32.0}
    effects = tx.receive(response(req, 200))
    assert [type(e) for e in effects] == [Final]
    assert tx.done


def test_transport_error_ends_pending_transaction_once() -> None:
    tx = NonInviteClientTransaction(request(), reliable=False, timers=T)
    tx.start()
    assert tx.transport_error("connection refused") == [TransportError("connection refused")]
    assert tx.transport_error("again") == []
    assert tx.done


def test_invite_udp_timer_a_doubles_without_cap_and_b_times_out() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=False, timers=T)
    assert arms(tx.start()) == {Timer.B: 32.0, Timer.A: 0.5}
    delays = [arms(tx.fire(Timer.A))[Timer.A] for _ in range(5)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert tx.fire(Timer.B) == [TimedOut()]


def test_invite_provisional_stops_retransmission_and_timer_b() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=False, timers=T)
    tx.start()
    ringing = response(req, 180)
    assert tx.receive(ringing) == [Provisional(ringing)]
    assert tx.state == State.PROCEEDING
    assert tx.fire(Timer.A) == []
    assert tx.fire(Timer.B) == []


def test_invite_non_2xx_is_acked_on_the_same_branch_and_reacked_on_retransmission() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=False, timers=T)
    tx.start()
    busy = response(req, 486, to_tag="t9")
    effects = tx.receive(busy)
    sends = [e.request for e in effects if isinstance(e, Send)]
    assert len(sends) == 1
    ack = sends[0]
    assert ack.method == "ACK"
    assert branch_of(ack) == branch_of(req)
    assert ack.uri == req.uri
    assert ack.headers["CSeq"] == "7 ACK"
    assert ack.headers["To"].endswith(";tag=t9")
    assert Final(busy) in effects
    assert arms(effects) == {Timer.D: 32.0}
    assert tx.receive(busy) == [Send(ack)]  # retransmitted final: ACK again, no second Final
    tx.fire(Timer.D)
    assert tx.done


def test_invite_2xx_terminates_at_once_leaving_ack_to_the_dialog() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=True, timers=T)
    tx.start()
    effects = tx.receive(response(req, 200))
    assert [type(e) for e in effects] == [Final]
    assert tx.done


def test_invite_reliable_non_2xx_has_timer_d_zero() -> None:
    req = request("INVITE")
    tx = InviteClientTransaction(req, reliable=True, timers=T)
    assert arms(tx.start()) == {Timer.B: 32.0}
    effects = tx.receive(response(req, 404))
    assert Timer.D not in arms(effects)
    assert tx.done


def test_timers_scale_with_t1() -> None:
    fast = Timers(t1=0.05)
    assert fast.b == fast.f == 3.2
    assert fast.d(False) == 32.0 and fast.d(True) == 0.0
    assert fast.k(False) == 5.0 and fast.k(True) == 0.0


EVENTS = st.lists(
    st.one_of(
        st.sampled_from([Timer.A, Timer.B, Timer.D, Timer.E, Timer.F, Timer.K]),
        st.sampled_from([100, 180, 200, 202, 401, 486, 503]),
        st.just("error"),
    ),
    max_size=30,
)


@given(method=st.sampled_from(["INVITE", "REGISTER"]), reliable=st.booleans(), events=EVENTS)
def test_any_event_sequence_delivers_at_most_one_outcome(
    method: str, reliable: bool, events: list[object]
) -> None:
    """Invariant: whatever happens, the TU hears exactly zero or one final outcome, and a
    terminated transaction never sends again."""
    req = request(method)
    tx = new_transaction(req, reliable=reliable, timers=T)
    effects = list(tx.start())
    outcomes = 0
    for event in events:
        was_done = tx.done
        if isinstance(event, Timer):
            out = tx.fire(event)
        elif isinstance(event, int):
            out = tx.receive(response(req, event))
        else:
            out = tx.transport_error("boom")
        if was_done:
            assert out == []
        outcomes += sum(isinstance(e, Final | TimedOut | TransportError) for e in out)
        effects += out
    assert outcomes <= 1
    if reliable:
        assert not any(isinstance(e, Arm) and e.timer in (Timer.A, Timer.E) for e in effects)

"""The request walker's rules, each proven with an injected clock and no sleeping.

``Drive`` is a synchronous driver of the walker: it applies the mark effects to a real
``Failover`` (as ``SipClient.mark`` does) and remembers what was sent and armed, so a test
reads as "at time t this happened, so the walker must do that".
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from sipmessage import URI, Address, Response

from siplocate.client.failover import Failover, Failure, Policy, Steering
from siplocate.client.walker import (
    MAX_STALE,
    NO_ANSWER,
    Abandon,
    Arm,
    Cancel,
    Credentials,
    Disarm,
    Done,
    Effect,
    MarkDown,
    MarkUp,
    Rules,
    Send,
    Timer,
    Walker,
    failure_text,
)
from siplocate.sip.auth import ANY_REALM, realm_allowed
from siplocate.sip.message import RequestSpec
from siplocate.target import Target, Transport

A = Target(Transport.UDP, "a.test", 5060, "127.0.0.2", 10, 0)
B = Target(Transport.UDP, "b.test", 5060, "127.0.0.3", 20, 0)
C = Target(Transport.TCP, "c.test", 5060, "127.0.0.4", 30, 0)
LIST = [A, B, C]
CHALLENGE = 'Digest realm="client.test", nonce="abc123", qop="auth", algorithm=MD5'


def spec(method: str = "REGISTER") -> RequestSpec:
    me = URI.parse("sip:alice@client.test")
    return RequestSpec(
        method=method,
        uri=URI.parse("sip:client.test"),
        from_addr=Address(uri=me),
        to_addr=Address(uri=me),
        call_id="call-1",
        cseq=1,
    )


def response(code: int, phrase: str = "X", **headers: str) -> Response:
    r = Response(code=code, phrase=phrase)
    for name, value in headers.items():
        r.headers.add(name.replace("_", "-"), value)
    return r


class Drive:
    """Walks one request by hand: ``now`` is the clock, effects are kept and marks applied."""

    def __init__(
        self, failover: Failover | None = None, now: float = 1000.0, **kwargs: object
    ) -> None:
        self.failover = failover or Failover(down_for=30)
        self.now = now
        self.effects: list[Effect] = []
        self.kwargs = kwargs

    def walk(self, method: str = "REGISTER", targets: list[Target] = LIST) -> Walker:
        self.walker = Walker(
            spec(method),
            targets,
            failover=self.failover,
            aor="sip:alice@client.test",
            **self.kwargs,  # type: ignore[arg-type]
        )
        self.apply(self.walker.start(self.now))
        return self.walker

    def apply(self, effects: list[Effect]) -> list[Effect]:
        for e in effects:
            if isinstance(e, MarkDown):
                self.failover.failed(e.target, self.now, e.failure, e.retry_after)
            elif isinstance(e, MarkUp):
                self.failover.succeeded(e.target, self.now)
        self.effects += effects
        return effects

    @property
    def sent(self) -> list[Target]:
        return [e.target for e in self.effects if isinstance(e, Send)]

    @property
    def last_send(self) -> Send:
        return [e for e in self.effects if isinstance(e, Send)][-1]

    @property
    def done(self) -> Done:
        done = [e for e in self.effects if isinstance(e, Done)]
        assert len(done) == 1, self.effects
        return done[0]

    def final(self, code: int, after: float = 0.01, **headers: str) -> list[Effect]:
        self.now += after
        w = self.walker
        return self.apply(w.final(w.attempt, response(code, **headers), self.now))

    def fire(self, timer: Timer, after: float) -> list[Effect]:
        self.now += after
        return self.apply(self.walker.timer(timer, self.now))


def test_first_target_answers_200() -> None:
    d = Drive(rules=Rules(budget=2.0))
    d.walk()
    assert d.effects == [Send(A, d.walker.spec, 1), Arm(Timer.BUDGET, 2.0)]
    effects = d.final(200, after=0.005)
    assert MarkUp(A) in effects and isinstance(effects[-1], Done)
    outcome = d.done.outcome
    assert outcome.ok and outcome.target == A and d.done.auth_error is None
    assert [(a.target, a.status) for a in outcome.attempts] == [(A, 200)]
    assert abs(outcome.attempts[0].ms - 5.0) < 1e-6


def test_digest_is_answered_once_per_target_with_a_new_cseq() -> None:
    d = Drive(credentials=Credentials("alice", "secret"))
    w = d.walk()
    d.final(401, WWW_Authenticate=CHALLENGE)
    assert d.sent == [A, A]
    assert w.spec.cseq == 2 and w.attempt == 2
    auth = dict(w.spec.headers)["Authorization"]
    assert auth.startswith("Digest ") and 'username="alice"' in auth
    d.final(200)
    assert d.done.outcome.ok and [a.status for a in d.done.outcome.attempts] == [401, 200]


def test_second_rejection_is_an_auth_error_without_failover() -> None:
    d = Drive(credentials=Credentials("alice", "wrong"))
    d.walk()
    d.final(401, WWW_Authenticate=CHALLENGE)
    d.final(401, WWW_Authenticate=CHALLENGE)
    assert d.sent == [A, A]  # never B: a wrong password is wrong everywhere
    assert d.done.auth_error is not None and "authentication failed" in d.done.auth_error
    assert not any(isinstance(e, MarkDown) for e in d.effects)


def test_stale_nonce_is_answered_again() -> None:
    d = Drive(credentials=Credentials("alice", "secret"))
    d.walk()
    d.final(401, WWW_Authenticate=CHALLENGE)
    d.final(407, Proxy_Authenticate=CHALLENGE + ", stale=true")
    assert d.sent == [A, A, A]
    assert "Proxy-Authorization" in dict(d.walker.spec.headers)
    d.final(200)
    assert d.done.outcome.ok


STALE = 'Digest realm="victim.test", nonce="n", qop="auth", stale=true'


def test_a_stale_forever_target_fails_after_max_stale_answers_and_the_walk_goes_on() -> None:
    """issue 17: a server calling every nonce stale got an unbounded REGISTER loop."""
    d = Drive(credentials=Credentials("alice", "secret"))
    d.walk()
    for _ in range(1 + MAX_STALE + 1):  # the first answer, MAX_STALE retries, one more
        d.final(401, WWW_Authenticate=STALE)
    assert d.sent == [A] * (2 + MAX_STALE) + [B]
    assert MarkDown(A, Failure.AUTH, None) in d.effects
    last = d.walker.outcome.attempts[-1]
    assert last.status == 401 and last.error is not None
    assert last.error.startswith("authentication failed: the nonce was stale 4 times")
    d.final(200)  # B answers: the request succeeds there
    assert d.done.outcome.ok and d.done.outcome.target == B


def test_stale_answers_are_counted_per_target_and_all_failing_is_one_clear_error() -> None:
    d = Drive(credentials=Credentials("alice", "secret"))
    w = d.walk()
    for _ in range(3 * (2 + MAX_STALE)):
        if w.done:
            break
        d.final(401, WWW_Authenticate=STALE)
    assert d.sent == [A] * 5 + [B] * 5 + [C] * 5
    done = d.done
    assert done.auth_error is None and not done.outcome.ok  # failed targets, not a bad password
    assert done.outcome.error is not None and "\n" not in done.outcome.error
    assert "401 (authentication failed: the nonce was stale" in done.outcome.error


def test_a_challenge_for_a_realm_not_configured_is_not_answered() -> None:
    d = Drive(credentials=Credentials("alice", "secret", frozenset({"victim.test"})))
    w = d.walk()
    d.final(401, WWW_Authenticate='Digest realm="attacker", nonce="00112233", algorithm=MD5')
    assert d.sent == [A, B]  # A failed without our password; B is asked
    assert "Authorization" not in dict(w.spec.headers)
    assert MarkDown(A, Failure.AUTH, None) in d.effects
    note = w.outcome.attempts[0].error
    assert note is not None and "realm 'attacker'" in note and "victim.test" in note
    d.final(401, WWW_Authenticate=STALE.replace(", stale=true", ""))  # B is victim.test
    assert d.sent == [A, B, B]
    assert 'realm="victim.test"' in dict(w.spec.headers)["Authorization"]
    d.final(200)
    assert d.done.outcome.ok and d.done.outcome.target == B


def test_of_several_challenges_the_one_for_a_configured_realm_is_answered() -> None:
    d = Drive(credentials=Credentials("alice", "secret", frozenset({"victim.test"})))
    w = d.walk()
    r = response(407)
    r.headers.add("Proxy-Authenticate", 'Digest realm="attacker", nonce="1", algorithm=SHA-256')
    r.headers.add("Proxy-Authenticate", 'Digest realm="victim.test", nonce="2", algorithm=MD5')
    d.apply(w.final(w.attempt, r, d.now))
    auth = dict(w.spec.headers)["Proxy-Authorization"]
    assert d.sent == [A, A] and 'realm="victim.test"' in auth and "algorithm=MD5" in auth


def test_the_default_realm_set_answers_any_realm() -> None:
    assert Credentials("alice", "pw").realms == frozenset({ANY_REALM})
    d = Drive(credentials=Credentials("alice", "secret"))
    w = d.walk()
    d.final(401, WWW_Authenticate='Digest realm="anything", nonce="00112233", algorithm=MD5')
    assert d.sent == [A, A] and 'realm="anything"' in dict(w.spec.headers)["Authorization"]


@given(realm=st.text(max_size=12), realms=st.sets(st.text(max_size=12), max_size=3))
def test_credentials_go_only_to_a_configured_realm(realm: str, realms: set[str]) -> None:
    d = Drive(credentials=Credentials("alice", "secret", frozenset(realms)))
    w = d.walk()
    quoted = realm.replace("\\", "\\\\").replace('"', '\\"')
    d.final(401, WWW_Authenticate=f'Digest realm="{quoted}", nonce="n", algorithm=MD5')
    answered = "Authorization" in dict(w.spec.headers)
    assert answered == (ANY_REALM in realms or realm in realms)
    assert answered == realm_allowed(realm, realms)


def test_challenge_without_password_is_an_auth_error_naming_no_cli_flag() -> None:
    d = Drive(credentials=Credentials("alice", None))
    d.walk()
    d.final(401, WWW_Authenticate=CHALLENGE)
    assert d.done.auth_error is not None and "no password" in d.done.auth_error
    assert "--" not in d.done.auth_error


def test_unusable_challenge_fails_this_target_only() -> None:
    d = Drive(credentials=Credentials("alice", "secret"))
    d.walk()
    d.final(401, WWW_Authenticate='Digest realm="x"')  # no nonce
    assert d.sent == [A, B]
    assert MarkDown(A, Failure.MALFORMED, None) in d.effects
    d.final(401, WWW_Authenticate="Basic realm=x")  # a scheme we do not speak
    assert d.sent == [A, B, C]


def test_503_retry_after_marks_down_for_that_long_then_the_top_again() -> None:
    d = Drive()
    d.walk()
    d.final(503, Retry_After="5")
    assert MarkDown(A, Failure.UNAVAILABLE, 5.0) in d.effects and d.sent == [A, B]
    d.final(200)
    assert d.done.outcome.target == B
    assert d.failover.order(LIST, d.now + 4.9)[0] == B  # still inside Retry-After
    assert d.failover.order(LIST, d.now + 5.0)[0] == A  # ran out: failback to the top


def test_malformed_retry_after_is_ignored_not_fatal() -> None:
    for value in ("²", "٣", "-1", "soon", "1e9", ""):
        d = Drive()
        d.walk()
        d.final(503, Retry_After=value)
        assert MarkDown(A, Failure.UNAVAILABLE, None) in d.effects, value
        assert d.sent == [A, B]
        assert d.failover.order(LIST, d.now + 29)[0] == B  # down_for applies instead


def test_silent_target_is_left_after_the_budget_and_late_answers_are_ignored() -> None:
    d = Drive(rules=Rules(budget=1.0))
    w = d.walk()
    first = w.attempt
    effects = d.fire(Timer.BUDGET, after=1.0)
    assert Abandon(first) in effects and MarkDown(A, Failure.TIMEOUT, None) in effects
    assert d.sent == [A, B]
    assert w.outcome.attempts[0].error == NO_ANSWER  # the one wording of a timeout
    assert w.final(first, response(200), d.now) == []  # the old transaction is stale
    assert w.provisional(first, d.now) == []
    d.final(200)
    assert d.done.outcome.target == B


def test_provisional_means_alive_so_the_budget_no_longer_applies() -> None:
    d = Drive(rules=Rules(budget=1.0))
    w = d.walk("OPTIONS")
    assert d.apply(w.provisional(w.attempt, d.now)) == [Disarm(Timer.BUDGET)]
    assert d.fire(Timer.BUDGET, after=1.5) == []  # a late budget timer changes nothing
    assert w.provisional(w.attempt, d.now) == []  # the second 1xx is not news
    d.final(200, after=5)
    assert d.done.outcome.target == A


def test_ringing_invite_is_cancelled_then_its_487_is_the_answer() -> None:
    d = Drive(rules=Rules(budget=1.0, cancel_wait=32), cancel_after=0.2)
    w = d.walk("INVITE")
    assert d.apply(w.provisional(w.attempt, d.now)) == [Disarm(Timer.BUDGET), Arm(Timer.RING, 0.2)]
    assert d.fire(Timer.RING, after=0.2) == [Cancel(w.attempt), Arm(Timer.CANCELLED, 32)]
    d.final(487)
    outcome = d.done.outcome
    assert not outcome.ok and outcome.response is not None and outcome.response.code == 487
    assert d.sent == [A]


def test_invite_ring_limit_defaults_to_timer_c_and_a_mute_cancel_gives_up() -> None:
    d = Drive(rules=Rules(ring_limit=180, cancel_wait=32))
    w = d.walk("INVITE")
    assert Arm(Timer.RING, 180) in d.apply(w.provisional(w.attempt, d.now))
    d.fire(Timer.RING, after=180)
    effects = d.fire(Timer.CANCELLED, after=32)
    assert Abandon(1) in effects and d.sent == [A, B]
    assert "after CANCEL" in (w.outcome.attempts[0].error or "")
    assert d.fire(Timer.RING, after=1) == []  # B has not rung: no CANCEL


def test_transport_error_and_timer_f_fail_over_and_all_failing_is_a_clear_error() -> None:
    d = Drive()
    w = d.walk()
    d.apply(w.transport_error(w.attempt, "connection refused", d.now))
    d.now += 32
    d.apply(w.timed_out(w.attempt, d.now))
    d.apply(w.malformed(w.attempt, "bad status code", d.now))
    assert d.sent == [A, B, C]
    kinds = [e.failure for e in d.effects if isinstance(e, MarkDown)]
    assert kinds == [Failure.TRANSPORT, Failure.TIMEOUT, Failure.MALFORMED]
    outcome = d.done.outcome
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.startswith("no server answered REGISTER for sip:alice@client.test")
    assert "connection refused" in outcome.error and "malformed response" in outcome.error
    # Every target is down now, yet the next request still tries them all, in order.
    assert d.failover.order(LIST, d.now) == LIST


def test_one_wording_per_failure_cause() -> None:
    """issue 18: a closed port or a silent server read the same in every command."""
    d = Drive(rules=Rules(budget=1.0))
    w = d.walk()
    d.fire(Timer.BUDGET, after=1.0)  # A: the failover budget runs out
    d.apply(w.timed_out(w.attempt, d.now))  # B: Timer F
    d.apply(
        w.transport_error(w.attempt, failure_text(Failure.TRANSPORT, "connection refused"), d.now)
    )
    errors = [a.error for a in d.done.outcome.attempts]
    assert errors == [NO_ANSWER, NO_ANSWER, "connection refused"]
    assert NO_ANSWER == "no answer (timeout)"
    assert failure_text(Failure.TIMEOUT, "Timer B/F") == NO_ANSWER
    assert (
        failure_text(Failure.MALFORMED, "bad status code") == "malformed response: bad status code"
    )


def test_status_outside_200_699_is_malformed() -> None:
    d = Drive()
    d.walk()
    d.final(99)
    d.final(700)
    assert d.sent == [A, B, C]
    assert [e.failure for e in d.effects if isinstance(e, MarkDown)] == [Failure.MALFORMED] * 2


def test_final_answers_other_than_failover_ones_end_the_walk() -> None:
    d = Drive()
    d.walk("INVITE")
    d.final(486)
    assert d.sent == [A] and d.done.outcome.response is not None
    assert MarkUp(A) in d.effects  # it answered: it is up, whatever it said


def test_failover_on_is_per_client() -> None:
    d = Drive(rules=Rules(failover_on=frozenset({503, 486, 408})))
    d.walk("INVITE")
    d.final(486)
    d.final(408)
    d.final(200)
    assert d.sent == [A, B, C] and d.done.outcome.target == C
    assert MarkDown(A, Failure.UNAVAILABLE, None) in d.effects


def test_n_tries_per_target_before_moving_on() -> None:
    d = Drive(rules=Rules(budget=1.0, tries=3))
    d.walk()
    for _ in range(3):
        d.fire(Timer.BUDGET, after=1.0)
    assert d.sent == [A, A, A, B]
    assert [e.target for e in d.effects if isinstance(e, MarkDown)] == [A]  # once, at the end
    d.final(503)  # an answer, even a 503, is not silence: no second try of B
    assert d.sent == [A, A, A, B, C]


def test_no_target_at_all() -> None:
    d = Drive()
    d.walk(targets=[])
    assert d.done.outcome.error == "no target to send REGISTER to"


def test_events_after_done_are_ignored() -> None:
    d = Drive()
    w = d.walk()
    d.final(200)
    assert w.final(w.attempt, response(200), d.now) == []
    assert w.timer(Timer.BUDGET, d.now) == []
    assert w.transport_error(w.attempt, "x", d.now) == []
    assert w.timed_out(w.attempt, d.now) == []
    assert w.malformed(w.attempt, "x", d.now) == []


def test_steering_only_prefer_and_from_top() -> None:
    f = Failover(Policy.STICKY, down_for=30)
    f.succeeded(B, 0)
    d = Drive(f, steering=Steering(only=[C]))
    d.walk()
    assert d.walker.order == [C]
    d = Drive(f, steering=Steering(prefer=C))
    d.walk()
    assert d.walker.order == [C, A, B]
    d = Drive(f, steering=Steering(from_top=True))
    d.walk()
    assert d.walker.order == [A, B, C]
    d = Drive(f)
    d.walk()
    assert d.walker.order == [B, A, C]  # sticky


# The rules the Kamailio tests used to prove by sleeping, with the clock injected instead.


def test_default_policy_returns_to_the_top_once_the_down_mark_expires() -> None:
    d = Drive(Failover(Policy.DEFAULT, down_for=0.2))
    w = d.walk("OPTIONS")
    d.apply(w.transport_error(w.attempt, "connection refused", d.now))
    d.final(200)
    assert d.done.outcome.target == B  # A failed at 1000.0, down until 1000.2
    assert Drive(d.failover, now=1000.19).walk("OPTIONS").order[0] == B
    assert Drive(d.failover, now=1000.2).walk("OPTIONS").order[0] == A


def test_sticky_stays_on_the_backup_after_the_primary_returns_until_it_fails() -> None:
    f = Failover(Policy.STICKY, down_for=0.2)
    d = Drive(f)
    w = d.walk("OPTIONS")
    d.apply(w.transport_error(w.attempt, "connection refused", d.now))
    d.final(200)
    later = Drive(f, now=d.now + 0.3)  # A's down-mark has run out
    later.walk("OPTIONS")
    assert later.sent == [B]
    later.apply(later.walker.transport_error(later.walker.attempt, "refused", later.now))
    later.final(200)
    assert later.done.outcome.target == A  # B failed: back to the list


def test_sticky_ttl_returns_to_the_top_when_the_dns_answer_expires() -> None:
    f = Failover(Policy.STICKY_TTL, down_for=0.2)
    f.failed(A, 1000, Failure.TRANSPORT)
    f.succeeded(B, 1000, expires=1002.0)  # the DNS answer's TTL ran out at 1002
    assert f.order(LIST, 1001.9)[0] == B
    assert f.order(LIST, 1002.0)[0] == A


def test_refresh_walks_from_the_top_after_the_primary_recovers() -> None:
    f = Failover(Policy.DEFAULT, down_for=0.5)
    d = Drive(f)
    w = d.walk()
    d.apply(w.transport_error(w.attempt, "connection refused", d.now))
    d.final(200)
    refresh = Drive(f, now=d.now + 0.6, steering=Steering(from_top=True))
    refresh.walk()
    assert refresh.sent == [A]


def test_outcome_and_attempt_render_for_the_cli() -> None:
    import pytest

    from siplocate.errors import OperationFailed

    d = Drive()
    w = d.walk()
    d.apply(w.transport_error(w.attempt, "connection refused", d.now))
    d.final(200)
    outcome = d.done.outcome
    assert outcome.describe() == "REGISTER 200 X from udp:127.0.0.3:5060"
    assert outcome.raise_for_status() is outcome
    assert outcome.attempts[0].as_dict() == {
        "transport": "udp", "host": "a.test", "address": "127.0.0.2", "port": 5060,
        "status": None, "error": "connection refused", "ms": 0.0,
    }  # fmt: skip
    d = Drive()
    d.walk(targets=[])
    with pytest.raises(OperationFailed, match="no target"):
        d.done.outcome.raise_for_status()


def test_failover_knows_what_is_down_and_probes_do_not_make_targets_sticky() -> None:
    import pytest

    from siplocate.client.failover import Failback
    from siplocate.errors import BadInput

    f = Failover(Policy.STICKY)
    f.failed(A, 0, Failure.TIMEOUT, until=float("inf"))
    assert f.is_down(A, 10**9)
    f.observed_up(A)
    assert not f.is_down(A, 1) and f.current is None
    assert Failback.parse(" Probe ") is Failback.PROBE
    with pytest.raises(BadInput, match="unknown failback mode"):
        Failback.parse("sometimes")


EVENTS = ["final", "provisional", "budget", "ring", "cancelled", "transport", "timeout", "bad"]


@given(
    codes=st.lists(st.sampled_from([100, 180, 200, 401, 404, 407, 486, 503, 600]), max_size=40),
    events=st.lists(st.sampled_from(EVENTS), max_size=40),
    tries=st.integers(1, 3),
    method=st.sampled_from(["REGISTER", "INVITE", "OPTIONS"]),
    stale=st.booleans(),
)
def test_any_event_sequence_is_bounded_and_ends_once(
    codes: list[int], events: list[str], tries: int, method: str, stale: bool
) -> None:
    """Whatever the servers do, each target gets at most ``tries`` silent tries plus one
    digest answer (plus MAX_STALE answers to stale nonces), and the walk ends with exactly
    one Done."""
    d = Drive(rules=Rules(budget=1.0, tries=tries), credentials=Credentials("alice", "pw"))
    w = d.walk(method)
    timers = {"budget": Timer.BUDGET, "ring": Timer.RING, "cancelled": Timer.CANCELLED}
    for i, event in enumerate(events):
        d.now += 0.5
        code = codes[i] if i < len(codes) else 200
        if event == "final" and code >= 200:
            challenge = CHALLENGE + (", stale=true" if stale else "")
            d.final(code, WWW_Authenticate=challenge, Proxy_Authenticate=challenge)
        elif event in ("final", "provisional"):
            d.apply(w.provisional(w.attempt, d.now))
        elif event in timers:
            d.apply(w.timer(timers[event], d.now))
        elif event == "transport":
            d.apply(w.transport_error(w.attempt, "refused", d.now))
        elif event == "timeout":
            d.apply(w.timed_out(w.attempt, d.now))
        else:
            d.apply(w.malformed(w.attempt, "bad", d.now))
    for target in LIST:
        assert d.sent.count(target) <= tries + 1 + (MAX_STALE if stale else 0)
    assert len([e for e in d.effects if isinstance(e, Done)]) == (1 if w.done else 0)
    if not w.done:  # still in flight: the next silence moves it on, never a stall
        assert w.target is not None

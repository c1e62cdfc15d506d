"""Damped failback (RFC 2439-style flap damping, issue 22 item 4), the failback modes and
operator-chosen failover triggers (issue 11), with an injected clock and a scripted client:
no sockets, no sleeping."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from siplocate.client.failover import Damping, Failback, Steering, parse_failover_on
from siplocate.client.registration import Registration
from siplocate.client.walker import Outcome
from siplocate.errors import BadInput
from siplocate.sip.message import Response
from siplocate.target import Target, Transport

ZONE = str(Path(__file__).resolve().parents[2] / "examples" / "zones" / "airties.test.zone")
PRIMARY = Target(Transport.UDP, "sip1.test", 5060, "127.0.0.2", 10, 0)
BACKUP = Target(Transport.UDP, "sip2.test", 5060, "127.0.0.3", 20, 0)


def test_damping_needs_k_answers_in_a_row() -> None:
    d = Damping(probes=3)
    for now, up in enumerate((True, True, False, True, True)):
        d.saw(PRIMARY, up, now)
    assert not d.may_fail_back(PRIMARY, 5.0)  # the silence in between restarted the count
    d.saw(PRIMARY, True, 5.0)
    assert d.may_fail_back(PRIMARY, 5.0)


def test_one_flap_suppresses_failback_for_two_half_lives() -> None:
    """penalty 1000 >= suppress 1000 at the failure; 1000 / 2**2 = 250 = reuse two
    half-lives later (10 probe intervals), then back at the next answer."""
    d = Damping.for_probes(1.0, probes=1)
    assert (d.half_life, d.max_suppress) == (5.0, 12.5)
    assert d.ceiling == pytest.approx(250 * 2**2.5)  # 1414: two flaps close together
    d.saw(PRIMARY, True, 100.0)
    assert d.may_fail_back(PRIMARY, 100.0)  # never failed: nothing to damp
    d.saw(PRIMARY, False, 101.0)  # the flap
    d.saw(PRIMARY, True, 102.0)
    assert d.penalty_at(PRIMARY, 101.0) == 1000.0 and d.suppressed(PRIMARY, 102.0)
    assert d.reusable_at(PRIMARY, 102.0) == pytest.approx(111.0)
    assert not d.may_fail_back(PRIMARY, 110.99)
    assert d.may_fail_back(PRIMARY, 111.01) and d.reusable_at(PRIMARY, 112.0) == 112.0
    assert d.penalty_at(PRIMARY, 111.0) == pytest.approx(250.0)


def test_only_an_answer_then_silence_is_a_flap() -> None:
    """Silence from a target never heard answering, or silence repeated, adds nothing."""
    d = Damping.for_probes(1.0, probes=1)
    for now in range(5):
        d.saw(PRIMARY, False, now)
    assert d.penalty_at(PRIMARY, 5.0) == 0.0
    d.saw(PRIMARY, True, 5.0)
    assert d.may_fail_back(PRIMARY, 5.0)  # down since it was first heard of: no flapping
    d.saw(PRIMARY, False, 6.0)
    d.saw(PRIMARY, False, 6.5)
    d.saw(PRIMARY, False, 11.0)
    assert d.penalty_at(PRIMARY, 11.0) == 500.0  # one flap, one half-life ago


def test_flaps_add_up_to_the_ceiling_and_max_suppress_bounds_the_wait() -> None:
    d = Damping.for_probes(1.0, probes=1)
    for now in range(0, 20, 2):  # ten flaps, one every other probe
        d.saw(PRIMARY, True, now)
        d.saw(PRIMARY, False, now + 1)
    assert d.penalty_at(PRIMARY, 19.0) == d.ceiling == pytest.approx(1414.2, abs=0.1)
    assert d.reusable_at(PRIMARY, 19.0) == pytest.approx(19.0 + d.max_suppress)
    d.saw(PRIMARY, True, 20.0)
    assert not d.may_fail_back(PRIMARY, 31.4) and d.may_fail_back(PRIMARY, 31.6)


def test_a_flap_while_suppressed_keeps_it_suppressed_below_the_suppress_threshold() -> None:
    """Hysteresis: once above ``suppress`` it stays suppressed down to ``reuse``."""
    d = Damping(penalty=600, suppress=1000, reuse=250, half_life=5, max_suppress=30)
    d.saw(PRIMARY, True, 0.0)
    d.saw(PRIMARY, False, 0.0)
    assert not d.suppressed(PRIMARY, 0.0)  # 600: one flap of this size is tolerated
    d.saw(PRIMARY, True, 0.0)
    d.saw(PRIMARY, False, 0.0)
    assert d.suppressed(PRIMARY, 0.0)  # 1200
    assert d.suppressed(PRIMARY, 5.0)  # 600: below suppress, above reuse: still held
    assert not d.suppressed(PRIMARY, 15.0)  # 150
    d.saw(PRIMARY, True, 10.0)
    d.saw(PRIMARY, False, 10.0)  # 300 + 600 = 900 < suppress, but it was held: still held
    assert d.suppressed(PRIMARY, 10.0) and d.reusable_at(PRIMARY, 10.0) > 10.0
    d.saw(PRIMARY, True, 30.0)
    d.saw(PRIMARY, False, 30.0)  # 56 + 600 < suppress, and free before: not held
    assert not d.suppressed(PRIMARY, 30.0)


def test_the_flap_history_is_bounded_and_forgets_the_longest_unheard_first() -> None:
    from siplocate.client.failover import DAMPING_TARGETS, key

    d = Damping.for_probes(1.0)
    many = [Target(Transport.UDP, f"h{i}.test", 5060, f"10.0.{i // 256}.{i % 256}", 10, 0)
            for i in range(DAMPING_TARGETS + 50)]  # fmt: skip
    d.saw(PRIMARY, True, 0.0)
    for i, target in enumerate(many):
        d.saw(target, True, float(i))
        d.saw(PRIMARY, True, float(i))  # heard of all along: kept
    assert len(d.history) == DAMPING_TARGETS
    assert key(PRIMARY) in d.history and key(many[-1]) in d.history
    assert key(many[0]) not in d.history


def test_undamped_is_the_default_and_bad_settings_are_refused() -> None:
    assert not Damping().damped
    assert Damping(probes=3).damped and Damping.for_probes(1.0, probes=1).damped
    d = Damping()
    for now, up in enumerate((True, False, True, False, True)):
        d.saw(PRIMARY, up, now)
    assert d.may_fail_back(PRIMARY, 4.0) and d.penalty_at(PRIMARY, 4.0) == 0.0
    with pytest.raises(BadInput, match="at least 1"):
        Damping(probes=0)
    for bad in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(BadInput, match="half-life"):
            Damping(half_life=bad)
    with pytest.raises(BadInput, match="penalty"):
        Damping(penalty=-1)
    for reuse, suppress in ((1000, 1000), (0, 1000), (2000, 1000), (float("nan"), 1000)):
        with pytest.raises(BadInput, match="reuse < suppress"):
            Damping(reuse=reuse, suppress=suppress)
    with pytest.raises(BadInput, match="nothing would be damped"):
        Damping(half_life=5, max_suppress=5)  # ceiling 500 < suppress 1000
    with pytest.raises(BadInput, match="nothing would be damped"):
        Damping(max_suppress=float("nan"))


#: A verdict stream: (seconds since the previous verdict, answered?).
VERDICTS = st.lists(
    st.tuples(st.floats(0, 30, allow_nan=False), st.booleans()), min_size=1, max_size=40
)


@st.composite
def dampings(draw: st.DrawFn) -> Damping:
    """Any valid damping: thresholds, half-life and a max-suppress long enough to suppress."""
    reuse = draw(st.floats(1, 5000))
    suppress = draw(st.floats(reuse * 1.01, reuse * 20))
    half_life = draw(st.floats(0.1, 100))
    max_suppress = half_life * math.log2(suppress / reuse) * draw(st.floats(1.01, 10))
    penalty = draw(st.floats(0, 5000))
    return Damping(penalty, suppress, reuse, half_life, max_suppress, draw(st.integers(1, 5)))


@given(dampings(), VERDICTS, st.floats(0, 100))
def test_the_penalty_is_bounded_and_only_a_flap_raises_it(
    d: Damping, verdicts: list[tuple[float, bool]], later: float
) -> None:
    now, last_up = 0.0, None
    for dt, up in verdicts:
        before = d.penalty_at(PRIMARY, now + dt)
        assert 0.0 <= before <= d.penalty_at(PRIMARY, now) + 1e-9  # decays, never grows
        now += dt
        d.saw(PRIMARY, up, now)
        after = d.penalty_at(PRIMARY, now)
        assert 0.0 <= after <= d.ceiling * (1 + 1e-9)
        if last_up and not up:
            assert after <= before + d.penalty + 1e-9
        else:
            assert after == pytest.approx(before)
        last_up = up
    assert d.penalty_at(PRIMARY, now + later) <= d.penalty_at(PRIMARY, now) + 1e-9


@given(dampings(), VERDICTS, st.floats(0, 0.99), st.floats(0, 0.99))
def test_suppressed_until_below_reuse_and_never_past_max_suppress(
    d: Damping, verdicts: list[tuple[float, bool]], a: float, b: float
) -> None:
    now, last_flap, last_up = 0.0, -math.inf, None
    for dt, up in verdicts:
        now += dt
        d.saw(PRIMARY, up, now)
        if last_up and not up and d.penalty > 0:
            last_flap = now
        last_up = up
    if not d.suppressed(PRIMARY, now):
        assert d.penalty_at(PRIMARY, now) < d.suppress or d.penalty == 0
        return
    ends = d.reusable_at(PRIMARY, now)
    assert now < ends <= last_flap + d.max_suppress * (1 + 1e-9)
    assert not d.may_fail_back(PRIMARY, now)
    # Suppressed all the way to ``ends`` (above reuse, decaying), then free.
    early, late = sorted((now + a * (ends - now), now + b * (ends - now)))
    assert d.reuse <= d.penalty_at(PRIMARY, late) <= d.penalty_at(PRIMARY, early)
    assert d.suppressed(PRIMARY, early) and d.suppressed(PRIMARY, late)
    assert not d.suppressed(PRIMARY, ends + 1e-6 * d.half_life)


#: The recommended damping for any probe interval, from 50 ms to a minute.
INTERVALS = st.floats(0.05, 60)


@st.composite
def in_step_flapping(draw: st.DrawFn) -> list[tuple[bool, float]]:
    """Probe verdicts of a primary that answered, then flaps, again and again: silent on
    ``s`` probes in a row (1-5), then answering 1 to ``10 - s``, so at most 10 probes from
    one flap to the next (in step with the probes it answers up to 9 between two silences).
    Each verdict comes with when it is heard, within its probe's first 40 %."""
    verdicts = [True] * draw(st.integers(1, 5))
    for _ in range(draw(st.integers(1, 12))):
        silent = draw(st.integers(1, 5))
        verdicts += [False] * silent + [True] * draw(st.integers(1, 10 - silent))
    late = draw(st.lists(st.floats(0, 0.4), min_size=len(verdicts), max_size=len(verdicts)))
    return list(zip(verdicts, late, strict=True))


@given(INTERVALS, in_step_flapping())
def test_a_primary_flapping_with_the_probes_never_gets_the_failback(
    interval: float, verdicts: list[tuple[bool, float]]
) -> None:
    """With the defaults one flap holds failback for 10 probe intervals (two half-lives,
    the penalty decaying through the silence too), longer than a flap in step with the
    probes takes to come round: at no probe of the flapping, nor between two probes, may
    it fail back."""
    d = Damping.for_probes(interval)
    flapped, last_up = False, True
    for i, (up, late) in enumerate(verdicts):
        now = (i + late) * interval
        flapped = flapped or (last_up and not up)
        d.saw(PRIMARY, up, now)
        last_up = up
        if flapped:
            assert d.suppressed(PRIMARY, now)
            assert not d.may_fail_back(PRIMARY, now)
            assert not d.may_fail_back(PRIMARY, now + 0.5 * interval)


@given(INTERVALS, VERDICTS, st.integers(1, 5))
def test_a_primary_that_stays_up_comes_back_within_max_suppress_of_its_last_flap(
    interval: float, history: list[tuple[float, bool]], probes: int
) -> None:
    """Whatever it did before, once it answers every probe the failback is allowed no
    sooner than 10 probe intervals after its last flap (the suppression of one flap) and
    no later than 12.5 (max-suppress) plus the probe that hears it, or ``probes`` answers
    after it came back if that is later."""
    d = Damping.for_probes(interval, probes)
    assert d.max_suppress == pytest.approx(12.5 * interval)
    now, last_flap, last_up = 0.0, -math.inf, None
    for dt, up in history:  # dt in probe intervals
        now += dt * interval
        d.saw(PRIMARY, up, now)
        if last_up and not up:
            last_flap = now
        last_up = up
    back_up = now + interval  # from here on every probe is answered
    latest = max(last_flap + d.max_suppress, back_up + (probes - 1) * interval) + interval
    t = back_up
    while t <= latest + interval:  # bounded: at most 18 + probes probes
        d.saw(PRIMARY, True, t)
        if d.may_fail_back(PRIMARY, t):
            break
        t += interval
    assert t <= latest * (1 + 1e-9), (t, last_flap, back_up)
    assert t >= last_flap + 10 * interval * (1 - 1e-9)


def test_the_stays_up_bound_in_probe_intervals() -> None:
    """The figures the README and the CLI help state: one flap holds 10 probe intervals,
    flaps in a row at most 12.5 after the last one, at any interval."""
    for interval in (1.0, 2.0, 30.0):
        d = Damping.for_probes(interval)
        d.saw(PRIMARY, True, 0.0)
        d.saw(PRIMARY, False, interval)  # one flap
        assert d.reusable_at(PRIMARY, interval) == pytest.approx(11 * interval)
        for i in range(2, 12):  # silent on every other probe: the penalty at the ceiling
            d.saw(PRIMARY, i % 2 == 0, i * interval)
        last_flap = 11 * interval
        assert d.penalty_at(PRIMARY, last_flap) == pytest.approx(d.ceiling)
        assert d.reusable_at(PRIMARY, last_flap) == pytest.approx(last_flap + 12.5 * interval)


def test_failover_on_takes_codes_and_classes() -> None:
    codes = parse_failover_on("408, 5xx,486")
    assert {408, 486, 500, 503, 599} <= codes and 404 not in codes and 600 not in codes
    assert len(codes) == 102
    assert parse_failover_on("503") == frozenset({503})
    for bad in ("2xx", "200", "99", "abc", "", "5x", "\u0665\u0660\u0663"):
        with pytest.raises(BadInput, match="expected a final code"):
            parse_failover_on(bad)


@dataclass
class ScriptedClient:
    """Just what a Registration uses of a SipClient: REGISTER answered by whichever
    server the steering reaches first among those up (the walk's own down-skipping)."""

    up: dict[Target, bool] = field(default_factory=lambda: {PRIMARY: True, BACKUP: True})
    last_targets: list[Target] = field(default_factory=lambda: [PRIMARY, BACKUP])
    listeners: list[object] = field(default_factory=list)
    registers: list[Target] = field(default_factory=list)

    async def register(self, expires: int, *, binding: object, steering: Steering) -> Outcome:
        order = list(self.last_targets)
        if steering.prefer is not None:
            order.remove(steering.prefer)
            order.insert(0, steering.prefer)
        for target in order:
            tell(self, target, self.up[target])  # what SipClient.mark tells after each try
            if self.up[target]:
                self.registers.append(target)
                return Outcome("REGISTER", Response(200, "OK"), target)
        return Outcome("REGISTER", None, None, error="no server answered")

    async def unregister(self, *, binding: object) -> None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tell(client: ScriptedClient, target: Target, up: bool) -> None:
    """What SipClient.observed does after a probe: every listener hears the verdict."""
    for listener in client.listeners:
        listener(target, up)  # type: ignore[operator]


async def flapping(damping: Damping) -> tuple[list[str], Registration, ScriptedClient, Clock]:
    """Registered on the primary; it dies (failover), then flaps up/down at every probe for
    10 s while the registration refreshes every second (the worst case for dragging)."""
    client = ScriptedClient()
    clock = Clock()
    reg = Registration(
        client,  # type: ignore[arg-type]
        expires=60,
        failback=Failback.PROBE,
        damping=damping,
        clock=clock,
    )
    assert (await reg.once()).event == "registered" and reg.current == PRIMARY
    client.up[PRIMARY] = False
    tell(client, PRIMARY, False)
    assert (await reg.once()).event == "failover" and reg.current == BACKUP
    events = []
    for second in range(10):
        clock.now += 1
        client.up[PRIMARY] = second % 2 == 0
        tell(client, PRIMARY, client.up[PRIMARY])
        tell(client, BACKUP, True)
        events.append((await reg.once()).event)
    return events, reg, client, clock


async def test_a_flapping_primary_drags_an_undamped_client_back_and_forth() -> None:
    events, *_ = await flapping(Damping())
    assert events.count("failback") == 5 and events.count("failover") == 5


async def test_damped_failback_waits_until_the_flap_penalty_decays_below_reuse() -> None:
    """Five flaps in 10 s take the penalty to the ceiling (1414: two flaps): no failback
    while flapping, then the failback at the first refresh once it decayed below reuse,
    within max-suppress (12.5 probe intervals) of the last flap."""
    events, reg, client, clock = await flapping(Damping.for_probes(1.0))
    assert set(events) == {"refreshed"} and reg.current == BACKUP  # stayed on the backup
    last_flap = clock.now  # the last second was a silent one
    assert reg.damping.penalty_at(PRIMARY, last_flap) == reg.damping.ceiling
    ends = reg.damping.reusable_at(PRIMARY, last_flap)
    assert ends == pytest.approx(last_flap + reg.damping.max_suppress)
    client.up[PRIMARY] = True  # steady from now on
    steady = []
    for _ in range(20):  # bounded: 20 probe intervals
        clock.now += 1
        tell(client, PRIMARY, True)
        steady.append((await reg.once()).event)
        if steady[-1] == "failback":
            break
    assert steady[-1] == "failback" and set(steady[:-1]) == {"refreshed"}, steady
    assert ends <= clock.now <= ends + 1  # at the first refresh it allows
    # It dies again at once: failover is never damped; the failback waits out one flap's
    # suppression (two half-lives = 10 s) and a little more for what was left of the
    # earlier flaps, its answers in a row notwithstanding.
    client.up[PRIMARY] = False
    tell(client, PRIMARY, False)
    assert (await reg.once()).event == "failover"
    died = clock.now
    ends = reg.damping.reusable_at(PRIMARY, died)
    assert died + 10 < ends < died + reg.damping.max_suppress
    client.up[PRIMARY] = True
    while clock.now + 1 < ends:  # bounded: less than 15 s
        clock.now += 1
        tell(client, PRIMARY, True)
        assert (await reg.once()).event == "refreshed"
    clock.now = ends + 0.01
    tell(client, PRIMARY, True)
    assert (await reg.once()).event == "failback"


async def on_the_backup(
    failback: Failback, damping: Damping | None = None
) -> tuple[Registration, ScriptedClient, Clock]:
    """Registered on the primary, which failed once (failover to the backup) and answers
    again; nothing has woken the registration yet."""
    client = ScriptedClient()
    clock = Clock()
    reg = Registration(
        client,  # type: ignore[arg-type]
        expires=60,
        failback=failback,
        damping=damping,
        clock=clock,
    )
    assert (await reg.once()).event == "registered" and reg.current == PRIMARY
    client.up[PRIMARY] = False
    tell(client, PRIMARY, False)
    assert (await reg.once()).event == "failover" and reg.current == BACKUP
    client.up[PRIMARY] = True
    tell(client, PRIMARY, True)
    return reg, client, clock


async def test_failback_never_stays_on_the_registrar_while_it_answers() -> None:
    reg, client, clock = await on_the_backup(Failback.NEVER)
    for _ in range(5):
        clock.now += 1
        tell(client, PRIMARY, True)
        assert (await reg.once()).event == "refreshed"
    assert client.registers[-5:] == [BACKUP] * 5
    client.up[BACKUP] = False  # only the registrar's failure moves it
    tell(client, BACKUP, False)
    assert (await reg.once()).event == "failback" and reg.current == PRIMARY


@pytest.mark.parametrize("failback", [Failback.REFRESH, Failback.PROBE])
async def test_a_refresh_walks_from_the_top_unless_failback_is_never(failback: Failback) -> None:
    reg, _, _ = await on_the_backup(failback)
    assert (await reg.once()).event == "failback" and reg.current == PRIMARY


async def test_a_damped_refresh_waits_out_the_suppression() -> None:
    """The refresh rule obeys damping too: one failure at 1000 s holds the primary until
    its penalty decays below reuse, at 1010 s (two half-lives)."""
    reg, _, clock = await on_the_backup(Failback.REFRESH, Damping.for_probes(1.0, 1))
    assert reg.damping.reusable_at(PRIMARY, clock.now) == pytest.approx(1010.0)
    clock.now = 1009.9
    assert (await reg.once()).event == "refreshed" and reg.current == BACKUP
    clock.now = 1010.1
    assert (await reg.once()).event == "failback" and reg.current == PRIMARY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--failover-on", "2xx"], "expected a final code"),
        (["--failback-after", "0"], "--failback-after must be at least 1"),
        (["--hold-down", "30s"], "--hold-down is gone: failback is now damped by a flap"),
        (["--half-life", "-1s"], "--half-life"),
        (["--half-life", "soon"], "--half-life"),
        (["--reuse", "1000"], "reuse < suppress"),
        (["--suppress", "nan"], "reuse < suppress"),
        (["--max-suppress", "1s"], "nothing would be damped"),
        (["--tries", "0"], "tries per target must be at least 1"),
    ],
)
def test_register_refuses_bad_failover_settings_in_one_line(args: list[str], message: str) -> None:
    from typer.testing import CliRunner

    from siplocate.cli import app

    result = CliRunner().invoke(
        app, ["register", "sip:alice@example.test", "-z", ZONE, "--follow", *args]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.output


def test_register_damping_defaults_scale_with_the_probe_interval() -> None:
    from siplocate.cli.client import damping_options

    d = damping_options(2.0, 3, None, None, None, None, None)
    assert d == Damping.for_probes(2.0, 3)
    assert (d.half_life, d.max_suppress, d.suppress, d.reuse) == (10.0, 25.0, 1000.0, 250.0)
    d = damping_options(2.0, 3, "4s", 1500, 300, None, None)
    assert (d.half_life, d.max_suppress, d.suppress, d.reuse) == (4.0, 10.0, 1500.0, 300.0)
    assert damping_options(2.0, 3, None, None, None, "60s", None).max_suppress == 60
    assert damping_options(None, 3, None, None, None, None, None).probes == 1  # no probes
    assert damping_options(1.0, 2, "0", None, None, None, None) == Damping(probes=2)  # off


def test_register_options_reach_the_client() -> None:
    from siplocate.cli.client import build_client

    client = build_client(
        "sip:alice@example.test", password_file=None, user=None, policy="default",
        server=None, failover_after="1s", t1="500ms", ca_file=None, nameserver=None,
        zone=None, transports="udp", failover_on="408,5xx", tries=3,
    )  # fmt: skip
    assert client.rules.failover_on == parse_failover_on("408,5xx") and client.rules.tries == 3


def test_affinity_puts_the_registrar_first_while_it_answers() -> None:
    from siplocate.client.failover import Failover, Failure, Policy

    f = Failover(Policy.AFFINITY)
    assert f.order([PRIMARY, BACKUP], 0) == [PRIMARY, BACKUP]  # not registered: the top
    f.registrar = BACKUP
    f.succeeded(PRIMARY, 1)  # another request answered by the primary changes nothing
    assert f.order([PRIMARY, BACKUP], 2) == [BACKUP, PRIMARY]
    assert f.order([PRIMARY, BACKUP], 2, Steering(from_top=True)) == [PRIMARY, BACKUP]
    f.failed(BACKUP, 3, Failure.TIMEOUT)  # the registrar stops answering: the top again
    assert f.order([PRIMARY, BACKUP], 4) == [PRIMARY, BACKUP]
    assert f.order([PRIMARY], 40) == [PRIMARY]  # it left the DNS answer: never tried


async def test_a_registrar_that_leaves_the_dns_answer_makes_the_registration_move() -> None:
    from siplocate.client import SipClient, StaticResolution

    class Moving:
        """A resolver whose answer loses the backup after the first look."""

        def __init__(self) -> None:
            self.answers = [[PRIMARY, BACKUP], [PRIMARY]]

        async def locate(self, target: str, *, key: object | None = None) -> StaticResolution:
            return StaticResolution(self.answers.pop(0) if len(self.answers) > 1 else [PRIMARY])

    client = SipClient("sip:alice@example.test", resolver=Moving(), policy="affinity")
    heard: list[tuple[Target, bool]] = []
    client.listeners.append(lambda target, up: heard.append((target, up)))
    await client.targets()
    client.failover.registrar = BACKUP  # as register() leaves it after a 200 from the backup
    assert heard == []
    await client.targets()  # the backup is gone from DNS
    assert heard == [(BACKUP, False)] and client.failover.registrar is None


def test_configured_ip_is_the_grandstream_walk() -> None:
    """Primary first; silence moves on (the walker gives each server ``tries``); a backup
    keeps 3 answered requests, then the primary is first again, down or not."""
    from siplocate.client.failover import Failover, Failure, Policy

    b2 = Target(Transport.UDP, "192.0.2.12", 5060, "192.0.2.12", 0, 0)
    servers = [PRIMARY, BACKUP, b2]
    f = Failover(Policy.CONFIGURED_IP)
    assert f.order(servers, 0) == servers
    f.failed(PRIMARY, 0, Failure.TIMEOUT)  # three tries without a response
    f.succeeded(BACKUP, 1)  # the first use of the backup
    orders = []
    for t in range(2, 4):
        orders.append(f.order(servers, t, Steering(from_top=True))[0])
        f.succeeded(BACKUP, t)
    assert orders == [BACKUP, BACKUP]
    assert f.order(servers, 5) == servers  # three uses on the backup: the primary again
    assert f.order(servers, 5, Steering(prefer=b2))[0] == b2  # a dialog's server still wins


def test_configured_ip_takes_a_primary_and_two_backups() -> None:
    from siplocate.client import SipClient

    with pytest.raises(BadInput, match="at most two backups"):
        SipClient(
            "sip:a@example.test",
            policy="configured-ip",
            static=["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"],
        )
    client = SipClient("sip:a@example.test", policy="configured-ip", static=["192.0.2.1"])
    assert client.policy == "configured-ip"

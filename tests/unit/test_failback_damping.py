"""Damped failback and operator-chosen failover triggers (issue 11 items 3 and 4), with an
injected clock and a scripted client: no sockets, no sleeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from siplocate.errors import BadInput
from siplocate.failover import Damping, Failback, Steering, parse_failover_on
from siplocate.registration import Registration
from siplocate.sip.message import Response
from siplocate.target import Target, Transport
from siplocate.walker import Outcome

ZONE = str(Path(__file__).resolve().parents[2] / "examples" / "zones" / "airties.test.zone")
PRIMARY = Target(Transport.UDP, "sip1.test", 5060, "127.0.0.2", 10, 0)
BACKUP = Target(Transport.UDP, "sip2.test", 5060, "127.0.0.3", 20, 0)


def test_damping_needs_k_answers_in_a_row() -> None:
    d = Damping(probes=3)
    for up in (True, True, False, True, True):
        d.saw(PRIMARY, up)
    assert not d.may_fail_back(PRIMARY, 0.0)  # the silence in between restarted the count
    d.saw(PRIMARY, True)
    assert d.may_fail_back(PRIMARY, 0.0)


def test_hold_down_spaces_failbacks() -> None:
    d = Damping(probes=1, hold_down=30)
    d.saw(PRIMARY, True)
    assert d.may_fail_back(PRIMARY, 100.0)  # no failback yet: nothing to hold down
    d.failed_back(100.0)
    assert not d.may_fail_back(PRIMARY, 129.9)
    assert d.may_fail_back(PRIMARY, 130.0)


def test_undamped_is_the_default_and_bad_settings_are_refused() -> None:
    assert not Damping().damped
    assert Damping(probes=3).damped and Damping(hold_down=1).damped
    with pytest.raises(BadInput, match="at least 1"):
        Damping(probes=0)
    with pytest.raises(BadInput, match="hold-down"):
        Damping(hold_down=-1)
    with pytest.raises(BadInput, match="hold-down"):
        Damping(hold_down=float("nan"))


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


async def test_damped_failback_waits_for_k_answers_in_a_row_then_the_hold_down() -> None:
    events, reg, client, clock = await flapping(Damping(probes=3, hold_down=30))
    assert set(events) == {"refreshed"}  # stayed on the backup all along
    assert reg.current == BACKUP
    client.up[PRIMARY] = True  # steady from now on
    steady = []
    for _ in range(3):
        clock.now += 1
        tell(client, PRIMARY, True)
        steady.append((await reg.once()).event)
    assert steady == ["refreshed", "refreshed", "failback"] and reg.current == PRIMARY
    # It dies again at once: failover is never damped; failback waits for the hold-down.
    client.up[PRIMARY] = False
    tell(client, PRIMARY, False)
    assert (await reg.once()).event == "failover"
    client.up[PRIMARY] = True
    for _ in range(5):
        clock.now += 1
        tell(client, PRIMARY, True)
        assert (await reg.once()).event == "refreshed"
    clock.now += 30  # the hold-down since the last failback is over
    tell(client, PRIMARY, True)
    assert (await reg.once()).event == "failback"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--failover-on", "2xx"], "expected a final code"),
        (["--failback-after", "0"], "--failback-after must be at least 1"),
        (["--hold-down", "-1s"], "--hold-down"),
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


def test_register_options_reach_the_client() -> None:
    from siplocate.cli.client import build_client

    client = build_client(
        "sip:alice@example.test", password_file=None, user=None, policy="default",
        server=None, failover_after="1s", t1="500ms", ca_file=None, nameserver=None,
        zone=None, transports="udp", failover_on="408,5xx", tries=3,
    )  # fmt: skip
    assert client.rules.failover_on == parse_failover_on("408,5xx") and client.rules.tries == 3


def test_affinity_puts_the_registrar_first_while_it_answers() -> None:
    from siplocate.failover import Failover, Failure, Policy

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
    from siplocate.failover import Failover, Failure, Policy

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

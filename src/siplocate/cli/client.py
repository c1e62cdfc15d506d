"""``siplocate register``, ``options`` and ``probe``: the failover-aware client from the shell.

Every attempt is shown (target, transport, response, latency) so a failover is visible,
and ``--json`` gives the same facts to scripts.
"""

from __future__ import annotations

import contextlib
import functools
import json as jsonlib
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, OperationFailed
from . import app, bulk
from .common import (
    PLUGIN_UNKNOWN,
    JsonOpt,
    NameserverOpt,
    PortOpt,
    TransportsOpt,
    ZoneOpt,
    console,
    err_console,
    handle_errors,
    plugin_line,
    print_json,
    run,
    warn,
)
from .resolve import ModeOpt, make_resolver

# The SIP client (ssl, sipmessage, asyncio) is imported by the commands that use it, so
# `siplocate --help` and the DNS commands start without it.
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from rich.table import Table

    from ..client import Attempt, Outcome, RegEvent, SipClient
    from ..client.failover import Damping, Failback
    from ..client.shared_health import HealthEvent, SharedView
    from ..resolver import Resolver
    from ..sip.transport import Connection


def parse_duration(text: str, option: str) -> float:
    """``2s``, ``500ms``, ``1.5`` (seconds) -> seconds; BadInput naming the option."""
    raw = text.strip().lower()
    scale = 1.0
    if raw.endswith("ms"):
        raw, scale = raw[:-2], 0.001
    elif raw.endswith("s"):
        raw = raw[:-1]
    try:
        value = float(raw) * scale
    except ValueError:
        raise BadInput(f"{option}: {text!r} is not a duration (e.g. 2s, 500ms)") from None
    if not value > 0 or value != value or value == float("inf"):
        raise BadInput(f"{option}: {text!r} must be a positive duration")
    return value


def check_regular(path: Path, what: str) -> Path:
    """A CA file must be a regular file (a FIFO would block the TLS set-up forever)."""
    from ..localfile import check_regular as regular

    return regular(path, what)


def read_password(path: Path | None) -> str | None:
    """First line of the password file (without its newline); BadInput if unreadable."""
    if path is None:
        return None
    from ..localfile import exposed, read_text  # refuses FIFOs and devices, bounded

    text = read_text(path, "--password-file", 64 * 1024)
    lines = text.splitlines()
    if not lines or not lines[0]:
        raise BadInput(f"--password-file {path} is empty")
    loose = exposed(path, "password file", "anyone who reads it can register as this user")
    if loose is not None:
        warn(loose)
    return lines[0]


def _attempt_result(a: Attempt) -> str:
    result = f"{a.status}" if a.status is not None else (a.error or "no answer")
    return result + (f" ({a.error})" if a.status is not None and a.error else "")


def attempt_widths(attempts: Sequence[Attempt]) -> tuple[int, int, int]:
    """Host, address:port and result columns as wide as the longest of ``attempts``, so the
    usual lines fit 80 columns and a batch stays aligned."""
    return (
        max((len(a.target.host) for a in attempts), default=0),
        max((len(a.target.hostport) for a in attempts), default=0),
        max((len(_attempt_result(a)) for a in attempts), default=0),
    )


def attempt_line(a: Attempt, widths: tuple[int, int, int] = (28, 22, 28)) -> str:
    """One try: transport, host, address:port, status or why none, time."""
    host, hostport, result = widths
    t = a.target
    return (
        f"  {t.transport.value:<4} {t.host:<{host}}  {t.hostport:<{hostport}}  "
        f"{_attempt_result(a):<{result}} {a.ms:7.1f} ms"
    )


PasswordFileOpt = Annotated[
    Path | None,
    typer.Option("--password-file", metavar="FILE", help="Read the digest password from FILE."),
]
RealmOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--realm",
        metavar="REALM",
        help="Answer digest challenges only for this realm (repeatable; '*' = any, the "
        "default): a server challenging another realm fails without getting the password.",
    ),
]
FailoverAfterOpt = Annotated[
    str,
    typer.Option(
        "--failover-after",
        metavar="DURATION",
        help="Failover budget: move to the next target after this long without an answer "
        "(e.g. 2s, 500ms; 'rfc' waits for Timer B/F).",
    ),
]
T1Opt = Annotated[str, typer.Option("--t1", metavar="DURATION", help="RFC 3261 T1 (RTT estimate).")]
CaFileOpt = Annotated[
    Path | None,
    typer.Option("--ca-file", metavar="FILE", help="Also trust this CA for TLS (PEM)."),
]
ServerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sip-server",
        metavar="ADDR[:PORT]",
        help="static/configured-ip policy: the SIP servers, primary, then backups, in order "
        "(repeatable; IPs, no DNS).",
    ),
]
VerboseOpt = Annotated[
    bool,
    typer.Option(
        "-v",
        "--verbose",
        help="Print each SIP message sent and received, with time, direction and peer, on "
        "stderr (--json output is unchanged).",
    ),
]

#: C0 controls (but tab and newline), DEL and C1 controls: shown as \xNN, never sent to the
#: terminal (a hostile server's bytes must not move the cursor or retitle the window).
_CONTROLS = {c: f"\\x{c:02x}" for c in [*range(0x20), 0x7F, *range(0x80, 0xA0)] if c not in (9, 10)}


def wire_text(direction: str, data: bytes, conn: Connection, at: float) -> str:
    """One message on the wire for ``-v``: a heading (time, direction, size, peer, our
    address), then the message as text, then a blank line."""
    from ..sip.stun import is_stun

    t, (host, port) = conn.target, conn.local
    local = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    when = time.strftime("%H:%M:%S", time.localtime(at)) + f".{int(at * 1000) % 1000:03d}"
    way = "to" if direction == "sent" else "from"
    head = f"{when} {direction} {len(data)} bytes {way} {t.transport} {t.hostport} (local {local})"
    if is_stun(data):
        body = "(STUN binding, RFC 5626 keep-alive)"
    elif not data.strip():
        body = "(CRLF keep-alive)"
    else:
        text = data.decode("utf-8", errors="backslashreplace").replace("\r\n", "\n")
        body = text.translate(_CONTROLS).rstrip("\n")
    return f"{head}\n{body}\n\n"


def show_wire(direction: str, data: bytes, conn: Connection) -> None:
    """The ``-v`` tap: each message on stderr as it is sent or received (stamped with the
    wall time: it is shown)."""
    from ..clock import SYSTEM_CLOCK  # here: the clock loads asyncio, which --help never needs

    sys.stderr.write(wire_text(direction, data, conn, SYSTEM_CLOCK.wall()))
    sys.stderr.flush()


def build_client(
    aor: str,
    *,
    password_file: Path | None,
    user: str | None,
    policy: str,
    server: list[str] | None,
    failover_after: str,
    t1: str,
    ca_file: Path | None,
    nameserver: list[str] | None,
    zone: list[Path] | None,
    transports: str,
    mode: str = "naptr",
    failover_on: str = "503",
    tries: int = 1,
    realms: list[str] | None = None,
) -> SipClient:
    from ..client import SipClient
    from ..client.failover import Policy, parse_failover_on
    from ..resolver.rules import DnsMode
    from ..sip.transaction import Timers

    pol = Policy.parse(policy)
    if DnsMode.parse(mode) is DnsMode.STATIC:  # the static policy is the static DNS mode
        if pol not in (Policy.DEFAULT, Policy.STATIC):
            raise BadInput(
                f"--mode static walks the --sip-server list in order, not --policy {pol}"
            )
        pol = Policy.STATIC
    if server and not pol.configured:
        raise BadInput("--sip-server is for --mode static (configured addresses, no DNS)")
    if pol.configured and not server:
        raise BadInput(f"--policy {pol} needs at least one --sip-server ADDRESS[:PORT]")
    budget = (
        None
        if failover_after.strip().lower() in ("rfc", "off", "none")
        else (parse_duration(failover_after, "--failover-after"))
    )
    timers = Timers(t1=parse_duration(t1, "--t1"))
    resolver = None if pol.configured else make_resolver(nameserver, zone, transports, mode=mode)
    return SipClient(
        aor,
        password=read_password(password_file),
        username=user,
        resolver=resolver,
        transports=transports,
        policy=pol,
        static=server,
        failover_after=budget,
        timers=timers,
        tries=tries,
        failover_on=parse_failover_on(failover_on),
        ca_file=check_regular(ca_file, "--ca-file") if ca_file else None,
        realms=realms,
    )


@app.command()
@handle_errors
def register(
    aor: Annotated[str, typer.Argument(metavar="sip:USER@DOMAIN", help="Address-of-record.")],
    password_file: PasswordFileOpt = None,
    realm: RealmOpt = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Digest user name (default: the AOR's user).")
    ] = None,
    policy: Annotated[
        str | None,
        typer.Option(
            "--policy",
            metavar="POLICY",
            help="default, sticky-ttl, sticky, affinity, static or configured-ip (default: "
            "affinity with --follow, so requests go to the registrar while it answers; else "
            "default).",
        ),
    ] = None,
    server: ServerOpt = None,
    expires: Annotated[int, typer.Option("--expires", help="Requested lifetime, seconds.")] = 3600,
    once: Annotated[bool, typer.Option("--once", help="Register once and exit (default).")] = False,
    follow: Annotated[
        bool,
        typer.Option(
            "--follow", help="Stay registered: refresh, fail over, fail back; Ctrl-C ends."
        ),
    ] = False,
    probe_interval: Annotated[
        str | None,
        typer.Option(
            "--probe-interval",
            metavar="DURATION",
            help="With --follow: OPTIONS every target this often to detect failures early.",
        ),
    ] = None,
    failover_after: FailoverAfterOpt = "2s",
    failback: Annotated[
        str,
        typer.Option(
            "--failback", help="refresh (next refresh), probe (as soon as seen up), never."
        ),
    ] = "refresh",
    failback_after: Annotated[
        int,
        typer.Option(
            "--failback-after",
            metavar="N",
            help="With --probe-interval: fail back only once the higher-ranked server "
            "answered N probes in a row, i.e. N probe intervals (like Kamailio's "
            "ds_inactive_threshold).",
        ),
    ] = 3,
    half_life: Annotated[
        str | None,
        typer.Option(
            "--half-life",
            metavar="DURATION",
            help="Flap damping (RFC 2439): each time a server that answered fails (a flap), "
            "it gets a penalty of 1000 that halves every DURATION; 0 turns it off. Default: "
            "5 probe intervals (5s at 1s probes; 5s without --probe-interval).",
        ),
    ] = None,
    suppress: Annotated[
        float | None,
        typer.Option(
            "--suppress",
            metavar="PENALTY",
            help="No failback to a server once its penalty reaches PENALTY (default 1000: "
            "at its first flap) ...",
        ),
    ] = None,
    reuse: Annotated[
        float | None,
        typer.Option(
            "--reuse",
            metavar="PENALTY",
            help="... until it decays below PENALTY (default 250: 2 half-lives after one "
            "flap = 10 probe intervals, 10s at 1s probes).",
        ),
    ] = None,
    max_suppress: Annotated[
        str | None,
        typer.Option(
            "--max-suppress",
            metavar="DURATION",
            help="Longest suppression after a server's last flap, however often it "
            "flapped (caps the penalty; default 2.5 half-lives = 12.5 probe intervals, "
            "12.5s at 1s probes).",
        ),
    ] = None,
    hold_down: Annotated[
        str | None, typer.Option("--hold-down", hidden=True, help="Replaced by --half-life.")
    ] = None,
    failover_on: Annotated[
        str,
        typer.Option(
            "--failover-on",
            metavar="CODES",
            help="Final responses that send the request to the next server, e.g. "
            "408,5xx,486 (no answer always does).",
        ),
    ] = "503",
    tries: Annotated[
        int | None,
        typer.Option(
            "--tries",
            metavar="N",
            help="Unanswered tries per server before moving on (default 1; 3 with "
            "--policy configured-ip, as the Grandstream guide says).",
        ),
    ] = None,
    outbound: Annotated[
        bool,
        typer.Option(
            "--outbound",
            help="With --follow: RFC 5626 outbound, a registration per flow through distinct "
            "servers (edge proxies), kept alive by CRLF/STUN; losing one costs nothing.",
        ),
    ] = False,
    flows: Annotated[
        int, typer.Option("--flows", metavar="N", help="With --outbound: flows to keep (1-16).")
    ] = 2,
    instance_file: Annotated[
        Path | None,
        typer.Option(
            "--instance-file",
            metavar="PATH",
            help="With --outbound: where this device's +sip.instance UUID is kept "
            "(default: $XDG_STATE_HOME/siplocate/instance-id, made on first use).",
        ),
    ] = None,
    health: Annotated[
        str | None,
        typer.Option(
            "--health",
            metavar="redis://HOST:PORT/DB",
            help="With --follow: take server health from a `watch --publish` prober through "
            "Redis instead of probing; probe alone (every --probe-interval, default 1s) while "
            "Redis is away.",
        ),
    ] = None,
    t1: T1Opt = "500ms",
    ca_file: CaFileOpt = None,
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    mode: ModeOpt = "naptr",
    json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """REGISTER sip:USER@DOMAIN through the RFC 3263 target list, failing over as needed.

    Examples:

      siplocate register sip:alice@example.com --password-file pw.txt

      siplocate register sip:alice@example.com --password-file pw.txt --follow --probe-interval 1s

      siplocate register sip:alice@pbx --policy static --sip-server 192.0.2.10 \
        --sip-server 192.0.2.11

      siplocate register sip:alice@example.com --password-file pw.txt --mode srv

      siplocate register sip:alice@example.com --password-file pw.txt --realm example.com

      siplocate register sip:alice@example.com --transports tcp --follow --outbound --flows 2

      siplocate register sip:alice@example.com --follow --health redis://127.0.0.1:6379/0

    Exit codes: 0 registered (or --follow ended by SIGINT/SIGTERM), 1 not registered, 2 bad input.
    """
    if once and follow:
        raise BadInput("--once and --follow exclude each other")
    if expires < 1 or expires > 2**31:
        raise BadInput("--expires must be between 1 and 2^31 seconds")
    interval = parse_duration(probe_interval, "--probe-interval") if probe_interval else None
    if interval is not None and not follow:
        raise BadInput("--probe-interval needs --follow")
    if outbound and not follow:
        raise BadInput("--outbound needs --follow (flows are kept alive while it runs)")
    if outbound and interval is not None:
        raise BadInput("--outbound keeps each flow alive itself: drop --probe-interval")
    if health is not None:
        _check_health(health, follow and not outbound)
    if not 1 <= flows <= 16:
        raise BadInput(f"--flows must be between 1 and 16, not {flows}")
    from ..client.failover import Failback

    back = Failback.parse(failback)
    damping = damping_options(
        interval, failback_after, half_life, suppress, reuse, max_suppress, hold_down
    )
    client = build_client(
        aor,
        password_file=password_file,
        user=user,
        policy=policy or ("affinity" if follow and not server and mode != "static" else "default"),
        server=server,
        failover_after=failover_after,
        t1=t1,
        ca_file=ca_file,
        nameserver=nameserver,
        zone=zone,
        transports=transports,
        mode=mode,
        failover_on=failover_on,
        tries=tries
        if tries is not None
        else (3 if (policy or "").strip().lower() == "configured-ip" else 1),
        realms=realm,
    )
    if client.aor.user is None:
        raise BadInput(f"{aor!r} needs a user part: sip:USER@DOMAIN")
    if verbose:
        client.on_wire = show_wire
    if follow and outbound:
        from ..client.outbound import load_instance

        instance = load_instance(instance_file)  # a bad file is bad input, before any traffic
        code = run(_follow_outbound(client, expires, flows, instance, json))
    elif follow:
        code = run(_follow(client, expires, interval, back, json, damping, health))
    else:
        code = run(_once(client, expires, json))
    raise typer.Exit(code)


def damping_options(
    interval: float | None,
    failback_after: int,
    half_life: str | None,
    suppress: float | None,
    reuse: float | None,
    max_suppress: str | None,
    hold_down: str | None,
) -> Damping:
    """The damped failback ``register --follow`` asked for: ``Damping.for_probes`` with the
    knobs given on the command line (BadInput for a bad one or the retired --hold-down)."""
    import dataclasses

    from ..client.failover import Damping

    if hold_down is not None:
        raise BadInput(
            "--hold-down is gone: failback is now damped by a flap penalty; use --half-life "
            "(0 for none) and --max-suppress (see 'Damped failback' in the README)"
        )
    if failback_after < 1:
        raise BadInput(f"--failback-after must be at least 1, not {failback_after}")
    # Probes are what --failback-after counts: without them only the flap penalty applies.
    probes = failback_after if interval else 1
    if half_life is not None and half_life.strip().lower() in ("0", "0s", "0ms"):
        return Damping(probes=probes)
    half = parse_duration(half_life, "--half-life") if half_life is not None else None
    d = Damping.for_probes(interval or 1.0, probes, half)
    return dataclasses.replace(  # checked again, as any Damping
        d,
        suppress=d.suppress if suppress is None else suppress,
        reuse=d.reuse if reuse is None else reuse,
        max_suppress=d.max_suppress
        if max_suppress is None
        else parse_duration(max_suppress, "--max-suppress"),
    )


async def _once(client: SipClient, expires: int, json: bool) -> int:
    from ..client import Outcome
    from ..sip.auth import AuthError

    async with client:
        try:
            outcome = await client.register(expires)
        except AuthError as exc:
            if json and isinstance(exc.outcome, Outcome):
                print_json(_once_json(exc.outcome))
            elif isinstance(exc.outcome, Outcome):
                _print_attempts(exc.outcome)
            raise
    if json:
        print_json(_once_json(outcome))
    else:
        _print_attempts(outcome)
        if outcome.ok and outcome.target is not None:
            t = outcome.target
            console.print(
                f"registered at {t.transport} {t.hostport} ({t.host}) for {client.granted} s"
            )
    if not outcome.ok:
        err_console.print(f"siplocate: error: {outcome.describe()}", markup=False)
        return 1
    return 0


def _once_json(outcome: Outcome) -> dict[str, object]:
    t = outcome.target if outcome.ok else None
    registered = (
        {"transport": t.transport.value, "host": t.host, "address": t.address, "port": t.port}
        if t is not None
        else None
    )
    return {"registered": registered, "attempts": [a.as_dict() for a in outcome.attempts]}


def _print_attempts(outcome: Outcome) -> None:
    widths = attempt_widths(outcome.attempts)
    for a in outcome.attempts:
        console.print(attempt_line(a, widths), markup=False)


async def _follow(
    client: SipClient,
    expires: int,
    interval: float | None,
    failback: Failback,
    json: bool,
    damping: Damping | None = None,
    health: str | None = None,
) -> int:
    import asyncio

    from ..client import Registration
    from ..client.health import HealthMonitor
    from ..client.shared_health import RedisHealth

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    show = _shower(json)
    retry = min(5.0, interval) if interval else 5.0
    registration = Registration(
        client,
        expires=expires,
        failback=failback.value,
        on_event=show,
        retry_interval=retry,
        damping=damping,
    )
    shared = None
    if health is not None:
        shared = RedisHealth(
            health, fallback_interval=interval or 1.0, on_event=_health_shower(json)
        )
    monitor = HealthMonitor(client, interval=interval) if interval and not shared else None
    async with client:
        if shared is not None:  # the shared verdicts first, then the first REGISTER
            await shared.attach(client).ready(3.0)
        if monitor is not None:
            with contextlib.suppress(OperationFailed):
                await monitor.probe_all()
            monitor.start()
        try:
            await registration.run(stop)
        finally:
            if monitor is not None:
                await monitor.stop()
            if shared is not None:
                await shared.stop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return 0


def _check_health(url: str, allowed: bool) -> None:
    """--health: a redis URL, redis-py installed, and --follow without --outbound."""
    from ..shared_health import redis_module, redis_url

    if not allowed:
        raise BadInput("--health needs --follow (and no --outbound)")
    redis_url(url, "--health")
    redis_module()


def _health_shower(json: bool) -> Callable[[HealthEvent], None]:
    """How ``register --follow --health`` tells of following Redis or probing alone."""

    def show(event: HealthEvent) -> None:
        if json:
            sys.stdout.write(jsonlib.dumps(event.as_dict()) + "\n")
            sys.stdout.flush()
            return
        when = time.strftime("%H:%M:%S", time.localtime(event.at))
        console.print(f"{when} health-{event.event:<4} {event.url}", markup=False)
        if event.detail:
            err_console.print(f"siplocate: {event.detail}", markup=False)

    return show


def _shower(json: bool) -> Callable[[RegEvent], None]:
    """How ``register --follow`` prints its events: JSON lines, or a line each."""

    def show(event: RegEvent) -> None:
        if json:
            sys.stdout.write(jsonlib.dumps(event.as_dict()) + "\n")
            sys.stdout.flush()
            return
        for a in event.attempts:
            console.print(attempt_line(a), markup=False, style="dim")
        when = time.strftime("%H:%M:%S", time.localtime(event.at))
        t = event.target
        where = f"{t.transport} {t.hostport} ({t.host})" if t is not None else ""
        flow = f"flow {event.flow} " if event.flow is not None else ""
        console.print(f"{when} {event.event:<11} {flow}{where}", markup=False)
        if event.event in ("lost", "flow-failed", "fallback"):
            err_console.print(f"siplocate: {flow}{event.detail}", markup=False)

    return show


async def _follow_outbound(
    client: SipClient, expires: int, flows: int, instance: str, json: bool
) -> int:
    import asyncio

    from ..client.outbound import Outbound

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    keeper = Outbound(
        client, flows=flows, expires=expires, instance=instance, on_event=_shower(json)
    )
    async with client:
        try:
            await keeper.run(stop)
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
    return 0


@app.command()
@handle_errors
def options(
    target: Annotated[
        str,
        typer.Argument(
            metavar="sip:[USER@]DOMAIN",
            help="Whose servers to ask; USER is the From and digest user.",
        ),
    ],
    password_file: PasswordFileOpt = None,
    realm: RealmOpt = None,
    user: Annotated[
        str | None, typer.Option("--user", help="Digest user name (default: the URI's user).")
    ] = None,
    server: ServerOpt = None,
    failover_after: FailoverAfterOpt = "2s",
    t1: T1Opt = "500ms",
    ca_file: CaFileOpt = None,
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    mode: ModeOpt = "naptr",
    json: JsonOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """OPTIONS to DOMAIN through its RFC 3263 target list, as a request walks: failover,
    digest answered if challenged.

    Unlike probe (one OPTIONS to each target, no auth), this is the ping a phone sends.

    Example: siplocate options sip:alice@example.com --password-file pw.txt -v

    Exit codes: 0 a 2xx came back, 1 none did (or authentication failed), 2 bad input.
    """
    client = build_client(
        target,
        password_file=password_file,
        user=user,
        policy="default",
        server=server,
        failover_after=failover_after,
        t1=t1,
        ca_file=ca_file,
        nameserver=nameserver,
        zone=zone,
        transports=transports,
        mode=mode,
        realms=realm,
    )
    if verbose:
        client.on_wire = show_wire
    raise typer.Exit(run(_options(client, json)))


async def _options(client: SipClient, json: bool) -> int:
    from ..client import Outcome
    from ..sip.auth import AuthError

    async with client:
        try:
            outcome = await client.options()
        except AuthError as exc:
            if isinstance(exc.outcome, Outcome):
                _show_options(exc.outcome, json)
            raise
    _show_options(outcome, json)
    if not outcome.ok:
        err_console.print(f"siplocate: error: {outcome.describe()}", markup=False)
        return 1
    return 0


def _show_options(outcome: Outcome, json: bool) -> None:
    """What ``options`` found: the answer (status, phrase, who) and every attempt."""
    r, t = outcome.response, outcome.target
    answer = (
        {
            "status": r.code,
            "phrase": r.phrase,
            "transport": t.transport.value,
            "host": t.host,
            "address": t.address,
            "port": t.port,
        }
        if r is not None and t is not None
        else None
    )
    if json:
        print_json({"answer": answer, "attempts": [a.as_dict() for a in outcome.attempts]})
        return
    _print_attempts(outcome)
    if r is not None and t is not None:
        console.print(f"answered {r.code} {r.phrase} by {t.transport} {t.hostport} ({t.host})")


@app.command()
@handle_errors
def probe(
    domains: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DOMAIN...",
            help="SIP domain or URI whose targets to probe; several, or - for standard input.",
        ),
    ] = None,
    file: bulk.FileOpt = None,
    concurrency: bulk.ConcurrencyOpt = bulk.DEFAULT_CONCURRENCY,
    timeout: Annotated[
        str, typer.Option("--timeout", metavar="DURATION", help="Wait this long per target.")
    ] = "2s",
    t1: T1Opt = "500ms",
    ca_file: CaFileOpt = None,
    nameserver: NameserverOpt = None,
    port: PortOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    json: JsonOpt = False,
    plugin: Annotated[
        bool,
        typer.Option(
            "--plugin",
            help="Monitoring-plugins output (Nagios, Icinga): one status line with perfdata "
            "per target; exit 0 OK (all answer), 1 WARNING (some), 2 CRITICAL (none), "
            "3 UNKNOWN (DNS failure, bad input).",
        ),
    ] = False,
    health: Annotated[
        str | None,
        typer.Option(
            "--health",
            metavar="redis://HOST:PORT/DB",
            help="Report what a `watch --publish` prober says of each target it covers "
            "instead of probing it; the others are probed (all when Redis is away).",
        ),
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """OPTIONS to every target of DOMAIN, in parallel: who answers, and how fast.

    Example: siplocate probe example.com --nameserver 127.0.0.1:5300

    Several DOMAINs, -f FILE or - (standard input) share one DNS cache, --concurrency at
    a time, printed in input order (one JSON line each under --json).

    Exit codes: 0 at least one target answered (for every input), 1 none did (for any
    input), 2 bad input (with --plugin, one input only: 0 all answered, 1 some, 2 none,
    3 unknown).
    """
    from ..errors import SiplocateError

    options = (timeout, t1, ca_file, nameserver, port, zone, transports, verbose)
    if plugin:
        try:
            if json or health is not None:
                other = "--json" if json else "--health"
                raise BadInput(f"--plugin and {other} exclude each other")
            inputs = bulk.Inputs(domains, file)
            if inputs.single is None:
                raise BadInput("--plugin checks one domain")
            client_for, budget, _ = _probe_clients(*options)
            attempts = run(_probe(client_for(inputs.single), budget))
        except (SiplocateError, OSError, ValueError) as exc:
            typer.echo(plugin_line(PLUGIN_UNKNOWN, str(exc) or type(exc).__name__))
            raise typer.Exit(PLUGIN_UNKNOWN) from None
        code, line = plugin_status(attempts)
        typer.echo(line)
        raise typer.Exit(code)
    client_for, budget, resolver = _probe_clients(*options)
    inputs = bulk.Inputs(domains, file)
    shared = _shared_view(health) if health is not None else None
    if inputs.single is None:
        one = functools.partial(_probe_one, client_for, budget, shared)
        form = "json" if json else "text"
        bulk.run_all(inputs, one, concurrency=concurrency, form=form, cleanup=resolver.close)
        return
    domain = inputs.single
    client = client_for(domain)
    if client.aor.note:  # an IDN: the A-label asked, on stderr as check and resolve say it
        err_console.print(f";; {client.aor.shown}", markup=False)
    attempts = run(_probe(client, budget, shared))
    if json:
        print_json(_probe_json(client, attempts, shared))
    else:
        console.print(_probe_table(attempts))
    if not _any_up(attempts, shared):
        raise OperationFailed(f"no target of {domain} answered OPTIONS")


def _probe_clients(
    timeout: str,
    t1: str,
    ca_file: Path | None,
    nameserver: list[str] | None,
    port: int | None,
    zone: list[Path] | None,
    transports: str,
    verbose: bool,
) -> tuple[Callable[[str], SipClient], float, Resolver]:
    """What probe's inputs share: a client maker over one Resolver, the per-target budget,
    and the Resolver (closed at the end)."""
    from ..client import SipClient
    from ..sip.transaction import Timers

    budget = parse_duration(timeout, "--timeout")
    resolver = make_resolver(nameserver, zone, transports, port=port)
    timers = Timers(t1=parse_duration(t1, "--t1"))
    ca = check_regular(ca_file, "--ca-file") if ca_file else None

    def client_for(domain: str) -> SipClient:
        client = SipClient(
            domain,
            resolver=resolver,
            transports=transports,
            failover_after=budget,
            timers=timers,
            ca_file=ca,
        )
        if verbose:
            client.on_wire = show_wire
        return client

    return client_for, budget, resolver


def plugin_status(attempts: list[Attempt]) -> tuple[int, str]:
    """``probe --plugin``: OK when every target answers, WARNING when some do, CRITICAL
    when none does; perfdata is each target's answer time (``U`` when it did not answer)."""
    answered = [a for a in attempts if a.status is not None]
    code = 0 if len(answered) == len(attempts) else 1 if answered else 2
    text = f"{len(answered)}/{len(attempts)} targets answer"
    silent = [
        f"{a.target.transport} {a.target.hostport} {a.error}" for a in attempts if a not in answered
    ]
    if silent:
        text += f" (not: {'; '.join(silent)})"
    perfdata = " ".join(
        f"'{a.target.transport} {a.target.hostport}'="
        + (f"{a.ms:.1f}ms;;;0" if a.status is not None else "U;;;0")
        for a in attempts
    )
    return code, plugin_line(code, text, perfdata)


async def _probe_one(
    client_for: Callable[[str], SipClient],
    budget: float,
    shared: SharedView | None,
    domain: str,
) -> bulk.Outcome:
    """One input of a many-input probe (failed when no target answered)."""
    client = client_for(domain)
    attempts = await _probe(client, budget, shared)
    failure = None
    if not _any_up(attempts, shared):
        failure = OperationFailed(f"no target of {domain} answered OPTIONS")
    show = functools.partial(console.print, _probe_table(attempts))
    return bulk.Outcome(_probe_json(client, attempts, shared), show=show, failure=failure)


def _shared_view(url: str) -> SharedView:
    """probe --health: the fleet's verdicts, or none (every target probed) without Redis."""
    from ..client.shared_health import SharedView
    from ..shared_health import redis_module, redis_url

    redis_url(url, "--health")
    redis_module()
    try:
        return run(SharedView.read(url))
    except Exception as exc:  # Redis away: say so once, probe everything
        err_console.print(f"siplocate: --health {url}: {exc}; probing every target", markup=False)
        return SharedView({}, 0.0)


def _any_up(attempts: list[Attempt], shared: SharedView | None) -> bool:
    return any(a.status is not None or (shared is not None and shared.up(a)) for a in attempts)


def _probe_json(
    client: SipClient, attempts: list[Attempt], shared: SharedView | None = None
) -> dict[str, object]:
    rows = [shared.as_dict(a) if shared is not None else a.as_dict() for a in attempts]
    return {"domain": str(client.aor), "targets": rows}


def _probe_table(attempts: list[Attempt]) -> Table:
    """probe's table: one row per target, its status (or why none) and latency."""
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for col in ("transport", "host", "address:port", "status", "latency"):
        table.add_column(col, justify="right" if col == "latency" else "left")
    for a in attempts:
        status = str(a.status) if a.status is not None else (a.error or "no answer")
        if a.status is not None and a.error:
            status += f" ({a.error})"
        latency = f"{a.ms:.1f} ms" if a.status is not None else "-"
        table.add_row(a.target.transport.value, a.target.host, a.target.hostport, status, latency)
    return table


async def _probe(
    client: SipClient, budget: float, shared: SharedView | None = None
) -> list[Attempt]:
    import asyncio

    async with client:
        targets, _ = await client.targets()
        if shared is None:
            return list(await asyncio.gather(*(client.probe(t, budget) for t in targets)))
        own = [t for t in targets if not shared.covers(t)]
        answers = dict(zip(own, await asyncio.gather(*(client.probe(t, budget) for t in own)),
                           strict=True))  # fmt: skip
        return [answers[t] if t in answers else shared.attempt(t) for t in targets]

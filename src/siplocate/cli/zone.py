"""Server-side commands: ``zone render|lint|apply``, ``check``, ``drain``, ``undrain``, ``enum``."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, NotFound
from . import app
from .bulk import DEFAULT_CONCURRENCY, ConcurrencyOpt, FileOpt, Inputs, Outcome, run_all
from .common import (
    DEFAULT_TIMEOUT,
    JsonOpt,
    NameserverOpt,
    PortOpt,
    TimeoutOpt,
    ZoneOpt,
    console,
    err_console,
    handle_errors,
    lookup_source,
    parse_seconds,
    print_json,
    run,
)
from .common import warn as _warn

# Heavy modules (dnspython's query machinery, TOML, RE2, the resolver) are imported inside
# each command, so `siplocate --help` and the other commands start fast.
if TYPE_CHECKING:
    import dns.name

    from ..dns.source import DnsSource
    from ..zone.drain import DrainResult
    from ..zone.lint import Finding
    from ..zone.update import Server

#: ENUM defaults, repeated here so --help needs no import of siplocate.enum (a test keeps
#: them equal).
DEFAULT_SUFFIX = "e164.arpa"
DEFAULT_ISN_ROOT = "freenum.org"

zone_app = typer.Typer(
    name="zone",
    help="Write, check and apply the DNS records of a SIP service (plans, lint, RFC 2136).",
    no_args_is_help=True,
)
app.add_typer(zone_app, name="zone")

PlanArg = Annotated[Path, typer.Argument(metavar="PLAN", help="Plan file (TOML), as in README.")]
ServerOpt = Annotated[
    str,
    typer.Option(
        "--server",
        "-s",
        metavar="SERVER",
        help="The primary to update: ADDRESS, ADDRESS:PORT, [IPV6]:PORT, ADDRESS#PORT or a name.",
    ),
]
KeyOpt = Annotated[
    Path | None,
    typer.Option(
        "--key",
        "-k",
        metavar="KEYFILE",
        help="TSIG key file as `tsig-keygen -a hmac-sha256 NAME` writes it. Without it the "
        "update goes unsigned (only for servers that allow updates by address).",
    ),
]
KeyNameOpt = Annotated[
    str | None, typer.Option("--key-name", help="Which key, when the file holds several.")
]
AxfrOpt = Annotated[
    bool,
    typer.Option(
        "--axfr/--no-axfr",
        help="Read the live records by a signed zone transfer (else one query per RRset; "
        "used anyway when the transfer is refused).",
    ),
]


SERVER_TIMEOUT = 5.0  # one TCP exchange (query, transfer or update) with the primary
ServerTimeoutOpt = Annotated[
    float,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=parse_seconds,
        help="Wait at most SECONDS for each answer from the primary (2, 1.5, 2s or 500ms).",
    ),
]


def _note(message: str) -> None:
    """How an input was read (A-labels, an SRV owner name), on stderr as dig's ;; lines."""
    err_console.print(f";; {message}", markup=False)


def _server(
    server: str,
    key: Path | None,
    key_name: str | None,
    axfr: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    sends: bool = True,
) -> Server:
    """The primary from --server/--key; ``sends`` False (dry runs, listings): no unsigned
    update will go out, so no warning about one."""
    from ..zone.keys import load_key
    from ..zone.update import Server

    tsig = None
    if key is not None:
        tsig = load_key(key, key_name)
        for w in tsig.warnings:
            _warn(w)
    elif sends:
        _warn("no --key: sending an unsigned update")
    primary = Server.parse(server, tsig, timeout)
    primary.use_axfr = axfr
    return primary


# --------------------------------------------------------------------------- zone render


@zone_app.command("render")
@handle_errors
def render_cmd(
    plan: PlanArg,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="bind (whole zone file), nsupdate or json.")
    ] = "bind",
) -> None:
    """Print the NAPTR, SRV, A and AAAA records a plan describes.

    Examples:

      siplocate zone render plan.toml > example.com.zone

      siplocate zone render plan.toml -f nsupdate | nsupdate -k key.conf

    The bind output is a complete zone (SOA, NS, records) that passes named-
    checkzone.
    """
    from ..zone.plan import load_plan
    from ..zone.render import FORMATS, render_bind, render_json, render_nsupdate

    if fmt not in FORMATS:
        raise BadInput(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    loaded = load_plan(plan)
    if fmt == "json":
        print_json(render_json(loaded))
    elif fmt == "nsupdate":
        typer.echo(render_nsupdate(loaded), nl=False)
    else:
        typer.echo(render_bind(loaded), nl=False)


# --------------------------------------------------------------------------- lint / check


_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def _print_findings(findings: list[Finding], json: bool) -> None:
    """Findings as JSON, or for people one line each, ``WHERE: severity code message``: WHERE
    is ``file:line`` (zone lint) or the name (check), so both read and grep alike. Names and
    records are printed as text: nothing from DNS or a file is read as markup."""
    from rich.text import Text

    from ..zone.lint import Severity

    if json:
        print_json([f.as_dict() for f in findings])
        return
    for f in findings:
        severity = f.severity.value
        where = f"{f.file}:{f.line}" if f.line is not None else (f.file or f.name)
        affects = f" [affects: {', '.join(f.profiles)}]" if f.profiles else ""
        console.print(
            Text.assemble(
                f"{where}: ", (severity, _STYLE[severity]), f" {f.code} {f.message}{affects}"
            )
        )
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    summary = ", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items())
    console.print(summary if findings else "no findings")


@zone_app.command("lint")
@handle_errors
def lint_cmd(
    files: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE...", help="Zone files; give the zones of off-site targets too."
        ),
    ] = None,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            metavar="ZONE",
            help="The zone's origin, for a file without $ORIGIN whose SOA owner is relative "
            "(default: $ORIGIN, else the SOA record's owner; never the file name).",
        ),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print every rule: code, severity, scope, meaning.")
    ] = False,
    explain: Annotated[
        str | None, typer.Option("--explain", metavar="CODE", help="Print one rule.")
    ] = None,
    json: JsonOpt = False,
) -> None:
    """Check zone files offline for the mistakes that break SIP clients.

    Prints one line per finding, `file:line: severity code message`, in line
    order, with the line numbers named-checkzone gives. Every finding has a
    stable code; --json adds the name and records involved. Lines that do not
    parse are reported and skipped; the rest of the file is still checked.

    The origin comes from --origin, else $ORIGIN, else the SOA record's owner
    (as in `dig AXFR` output), never from the file name. A file with no SOA
    (an empty file, /dev/null) is an error.

    Examples:

      siplocate zone lint examples/zones/broken/freeswitch-dtu.zone

      siplocate zone lint sipdomain.test.zone elsewhere.test.zone --json

      siplocate zone lint db.example --origin example.com

      siplocate zone lint --explain srv-target-cname

    Exit codes: 0 no error-level finding, 1 at least one, 2 bad input.
    """
    if list_rules or explain is not None:
        _print_rules(explain, json)
        return
    if not files:
        raise BadInput("give the zone FILE(s) to lint (or --list-rules, --explain CODE)")
    from ..zone.lint import has_errors, lint_zone_files

    if origin is not None:
        origin = _domain(origin).to_text()
    findings, _ = lint_zone_files(files, origin)
    _print_findings(findings, json)
    if has_errors(findings):
        raise typer.Exit(1)


def _print_rules(code: str | None, json: bool) -> None:
    """The lint registry (or the rule ``code``): ``code severity scope: meaning`` a line."""
    import difflib

    from ..zone.rules import RULES

    rules = list(RULES.values())
    if code is not None:
        if code not in RULES:
            near = difflib.get_close_matches(code, RULES, 3, 0.6)
            hint = f" (did you mean {', '.join(near)}?)" if near else " (see --list-rules)"
            raise BadInput(f"no lint rule {code!r}{hint}")
        rules = [RULES[code]]
    if json:
        print_json([
            {"code": r.code, "severity": r.severity.value, "scope": r.scope.value,
             "meaning": r.meaning}
            for r in rules
        ])  # fmt: skip
        return
    for r in rules:
        console.print(f"{r.code} {r.severity.value} {r.scope.value}: {r.meaning}", markup=False)


@app.command("check")
@handle_errors
def check_cmd(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET...",
            help="SIP domain or sip:/sips: URI to check; several, or - for standard input.",
        ),
    ] = None,
    file: FileOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    nameserver: NameserverOpt = None,
    port: PortOpt = None,
    zone: ZoneOpt = None,
    timeout: TimeoutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check a SIP domain's live NAPTR, SRV and A/AAAA records (lint rules).

    Asks what an RFC 3263 client asks and runs the same rules as `zone lint`,
    printed the same way: one line per finding, `name: severity code message`.
    If the domain cannot be looked up (no answer, REFUSED, SERVFAIL) or does
    not exist (NXDOMAIN), that is the one-line error: nothing is judged from
    records that were never read.

    Examples:

      siplocate check example.com

      siplocate check sip:alice@example.com --nameserver 127.0.0.1:5300 --json

      siplocate check example.com @127.0.0.1 -p 5300

      siplocate check -f domains.txt -n 127.0.0.1:5300 --json   (one JSON line each)

    Several TARGETs, -f FILE or - (standard input) share one DNS cache, --concurrency at
    a time, printed in input order; a summary line goes to stderr.

    Exit codes: 0 no error-level finding, 1 at least one (or DNS unreachable,
    REFUSED, NXDOMAIN; for any input), 2 bad input.
    """
    from ..zone.lint import has_errors

    source = lookup_source(nameserver, zone, timeout, port)
    inputs = Inputs(targets, file)
    if inputs.single is None:
        from .resolve import make_resolver

        resolver = make_resolver(nameserver, zone, "udp,tcp,tls", timeout, source=source)
        one = functools.partial(_check_many, resolver.cache)  # one cache for every input
        form = "json" if json else "text"
        run_all(inputs, one, concurrency=concurrency, form=form, cleanup=resolver.close)
        return
    findings = run(_check(source, inputs.single))
    _print_findings(findings, json)
    if has_errors(findings):
        raise typer.Exit(1)


async def _check(source: DnsSource, target: str) -> list[Finding]:
    """check's findings for one SIP domain or URI."""
    import dns.name
    import dns.rdatatype

    from ..target import SipUri
    from ..zone.lint import gather, lint_snapshot

    parsed = SipUri.parse(target)
    if parsed.note:
        _note(parsed.shown)
    if parsed.is_numeric:
        raise BadInput(f"{target}: an IP address has no DNS records to check")
    if parsed.port is not None:
        _warn(f"{target} has a port: clients skip NAPTR/SRV for it; checking the domain anyway")
    domain = dns.name.from_text(parsed.lookup_host)
    # The first question decides whether there is anything to judge at all.
    first = await source.answer(domain, dns.rdatatype.NAPTR)
    if first.nxdomain:
        raise NotFound(f"{domain} does not exist (NXDOMAIN): no records to check")
    return lint_snapshot(await gather(source, [domain]))


async def _check_many(source: DnsSource, target: str) -> Outcome:
    """One input of a many-input check: ``{"findings": [...]}``, failed when any finding is
    an error."""
    from ..errors import SiplocateError
    from ..zone.lint import has_errors

    findings = await _check(source, target)
    errors = sum(1 for f in findings if f.severity.value == "error")
    failure = SiplocateError(f"{errors} error-level finding{'s' * (errors != 1)}")
    return Outcome(
        {"findings": [f.as_dict() for f in findings]},
        show=functools.partial(_print_findings, findings, False),
        failure=failure if has_errors(findings) else None,
    )


# --------------------------------------------------------------------------- apply


@zone_app.command("apply")
@handle_errors
def apply_cmd(
    plan: PlanArg,
    server: ServerOpt,
    key: KeyOpt = None,
    key_name: KeyNameOpt = None,
    axfr: AxfrOpt = True,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the difference, change nothing.")
    ] = False,
    timeout: ServerTimeoutOpt = SERVER_TIMEOUT,
    json: JsonOpt = False,
) -> None:
    """Make a live zone match PLAN: a diff, then one signed RFC 2136 UPDATE.

    Only the RRsets the plan owns are touched (NAPTR at the domain, the SIP
    SRV names, A/AAAA of its servers). Each replaced RRset is a prerequisite,
    so if someone changed it since it was read the server rejects the whole
    update and nothing is half-applied.

    Examples:

      siplocate zone apply plan.toml -s 192.0.2.53 -k key.conf --dry-run

      siplocate zone apply plan.toml -s 127.0.0.1:5300 -k key.conf

    Exit codes: 0 applied (or nothing to do), 1 rejected or unreachable, 2 bad
    input.
    """
    import dns.rdatatype

    from ..zone.apply import apply_plan
    from ..zone.plan import load_plan

    loaded = load_plan(plan)
    primary = _server(server, key, key_name, axfr, timeout=timeout, sends=not dry_run)
    result = apply_plan(loaded, primary, dry_run=dry_run)
    undone: dict[str, list[str]] = {}
    for d in result.undone_drains():
        undone.setdefault(str(d.host), []).append(str(d.srv_name))
    for host, names in undone.items():
        verb = "would put" if dry_run else "puts"
        _warn(
            f"{host} is drained; this apply {verb} it back in rotation ({', '.join(names)}): "
            f"drain it again afterwards, or `siplocate undrain {host}` to clear the drain record"
        )
    if json:
        print_json(
            {
                "zone": str(result.zone),
                "applied": result.applied,
                "dry_run": dry_run,
                "drains": [d.as_dict() for d in result.drains],
                "changes": [
                    {
                        "name": str(ch.name),
                        "type": dns.rdatatype.to_text(ch.rdtype),
                        "diff": ch.lines(),
                    }
                    for ch in result.changes
                ],
            }
        )
        return
    if not result.changes:
        console.print(f"{loaded.domain}: live records already match the plan; nothing sent",
                      markup=False)  # fmt: skip
        return
    typer.echo(result.diff_text(), nl=False)
    n = len(result.changes)
    if dry_run:
        console.print(f"dry run: {n} RRset(s) would change in zone {result.zone}", markup=False)
    else:
        console.print(f"applied: {n} RRset(s) changed in zone {result.zone} in one update",
                      markup=False)  # fmt: skip


# --------------------------------------------------------------------------- drain / undrain

DomainOpt = Annotated[
    str,
    typer.Option(
        "--domain", "-d", metavar="DOMAIN", help="The SIP domain whose SRV records name HOST."
    ),
]
HostArg = Annotated[
    str, typer.Argument(metavar="HOST", help="SRV target, relative to --domain or ending in '.'.")
]


def _no_state_file(value: str | None) -> None:
    if value is not None:
        raise typer.BadParameter(
            "drain state lives in the zone now (TXT at _siplocate-drain.DOMAIN, written in "
            "the same update); see `drain --list`"
        )


GoneStateOpt = Annotated[
    str | None,
    typer.Option("--state-file", hidden=True, callback=_no_state_file, metavar="FILE"),
]
OptionalHostArg = Annotated[
    str | None,
    typer.Argument(metavar="HOST", help="SRV target, relative to --domain or ending in '.'."),
]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _report(result: DrainResult, json: bool, verb: str) -> None:
    for w in result.warnings:
        _warn(w)
    if json:
        print_json(
            {
                "action": verb,
                "changed": bool(result.changes),
                "note": result.note,
                "host": str(result.host),
                "zone": str(result.zone),
                "ttl": result.ttl,
                "clear_at": datetime.fromtimestamp(result.clear_at, UTC).isoformat(),
                "warnings": result.warnings,
                "diff": [line for ch in result.changes for line in ch.lines()],
            }
        )
        return
    if not result.changes:
        console.print(result.note or f"{result.host}: nothing changed")
        return
    for ch in result.changes:
        for line in ch.lines():
            console.print(line)
    console.print(f"{verb} {result.host}: {len(result.changes)} RRset(s) changed in one update")


def _wait(
    result: DrainResult,
    what: str,
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    step: float = 5.0,
    json: bool = False,
) -> None:
    """Sleep until caches holding the old records have expired, saying how long is left
    (on stderr; under --json the closing line goes there too, stdout keeps one document)."""
    deadline = result.clear_at
    for _ in range(int(result.ttl / step) + 3):  # bounded by the TTL
        left = deadline - clock()
        if left <= 0:
            break
        err_console.print(f"waiting for the old TTL: {left:.0f} s left (until {_when(deadline)})")
        sleep(min(left, step))
    (err_console if json else console).print(f"TTL passed at {_when(deadline)}: {what}")


def _domain(text: str) -> dns.name.Name:
    from ..zone.drain import check_name

    return check_name(text, "domain")


def _list(server: Server, domain: dns.name.Name, json: bool) -> None:
    from ..zone.drain import DRAIN_PRIORITY, read_state

    state = read_state(server, domain)
    markers = state.markers
    if markers.foreign:
        _warn(f"{markers.foreign} TXT record(s) at {state.marker} are not drain records; ignored")
    for d in markers.outside:
        _warn(f"a drain record names {d.srv_name}, not a SIP SRV name of {domain}; ignored")
    for problem in markers.problems:
        _warn(f"{problem.describe()}: `undrain` will not guess. {problem.fix} with nsupdate "
              f"({'; '.join(problem.nsupdate(state.marker))}; send)")  # fmt: skip
    if json:
        print_json({"zone": str(state.zone), "drains": [d.as_dict() for d in state.drains]})
        return
    if not state.drains:
        console.print(f"no host is drained in {domain}")
        return
    for d in state.drains:
        console.print(
            f"{d.host} {d.srv_name} priority {d.priority} -> {DRAIN_PRIORITY} "
            f"(weight {d.weight}, port {d.port}) since {_when(d.since)}"
        )


@app.command("drain")
@handle_errors
def drain_cmd(
    domain: DomainOpt,
    server: ServerOpt,
    host: OptionalHostArg = None,
    key: KeyOpt = None,
    key_name: KeyNameOpt = None,
    axfr: AxfrOpt = True,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stay until the old records' TTL has passed.")
    ] = False,
    list_: Annotated[
        bool, typer.Option("--list", help="List the drains recorded in the zone; change nothing.")
    ] = False,
    timeout: ServerTimeoutOpt = SERVER_TIMEOUT,
    state_file: GoneStateOpt = None,
    json: JsonOpt = False,
) -> None:
    """Take HOST out of rotation: move its SRV records behind every other server.

    HOST's SRV records (all SIP transports of the domain) get priority 65535,
    so every client that follows SRV priorities tries it only when all others
    fail. The drain is recorded in the zone itself, in a TXT record at
    _siplocate-drain.DOMAIN written in the same update, so every admin sees it
    (`drain --list`) and `undrain` restores each record's priority. Draining a
    drained host changes nothing and exits 0, as undraining an undrained one.

    Examples:

      siplocate drain sip1 -d example.com -s 192.0.2.53 -k key.conf --wait

      siplocate drain --list -d example.com -s 192.0.2.53 -k key.conf

    Exit codes: 0 drained (or already drained), 1 no such host or the server
    refused, 2 bad input.
    """
    from ..zone.drain import DRAIN_PRIORITY, drain

    zone_domain = _domain(domain)
    if list_:
        _list(
            _server(server, key, key_name, axfr, timeout=timeout, sends=False),
            zone_domain,
            json,
        )
        return
    if host is None:
        raise BadInput("give the HOST to drain (or --list)")
    result = drain(_server(server, key, key_name, axfr, timeout=timeout), zone_domain, host)
    _report(result, json, "drained")
    if not result.changes:
        return
    if not json:
        console.print(
            f"clients that cached the old records (TTL {result.ttl} s) may still pick "
            f"{result.host} until {_when(result.clear_at)}"
        )
    if wait:
        _wait(result, f"no client that follows DNS should choose {result.host} now "
                      f"(it is at priority {DRAIN_PRIORITY})", json=json)  # fmt: skip


@app.command("undrain")
@handle_errors
def undrain_cmd(
    host: HostArg,
    domain: DomainOpt,
    server: ServerOpt,
    key: KeyOpt = None,
    key_name: KeyNameOpt = None,
    axfr: AxfrOpt = True,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget",
            help="Only clear HOST's drain record; leave its SRV records as they are.",
        ),
    ] = False,
    timeout: ServerTimeoutOpt = SERVER_TIMEOUT,
    state_file: GoneStateOpt = None,
    json: JsonOpt = False,
) -> None:
    """Put HOST back: give its drained SRV records their priority again.

    Works whatever else was drained or undrained since; a record that is no
    longer at priority 65535 (a `zone apply` restored it) is left as it is and
    the drain record is cleared.

    Examples:

      siplocate undrain sip1 -d example.com -s 192.0.2.53 -k key.conf

      siplocate undrain sip1 --forget -d example.com -s 192.0.2.53 -k key.conf

    Exit codes: 0 undrained (or not drained), 1 the server refused, 2 bad input.
    """
    from ..zone.drain import undrain

    primary = _server(server, key, key_name, axfr, timeout=timeout)
    result = undrain(primary, _domain(domain), host, forget=forget)
    _report(result, json, "forgot" if forget else "undrained")
    if result.ttl and not json and not forget:
        console.print(
            f"clients pick up the restored records within {result.ttl} s "
            f"(by {_when(result.clear_at)})"
        )


# --------------------------------------------------------------------------- enum


@app.command("enum")
@handle_errors
def enum_cmd(
    number: Annotated[str, typer.Argument(help="E.164 number (+441632960083) or ISN (1234*256).")],
    suffix: Annotated[
        str, typer.Option("--suffix", help="ENUM tree for E.164 numbers.")
    ] = DEFAULT_SUFFIX,
    isn_root: Annotated[
        str, typer.Option("--isn-root", help="Root domain for ISN numbers (RFC 3872).")
    ] = DEFAULT_ISN_ROOT,
    nameserver: NameserverOpt = None,
    port: PortOpt = None,
    zone: ZoneOpt = None,
    timeout: TimeoutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Turn a phone number into SIP URIs via ENUM (E2U+sip/E2U+sips NAPTR).

    +44 1632 960083 is looked up at 3.8.0.0.6.9.2.3.6.1.4.4.e164.arpa; 123*543
    at 3.2.1.543.freenum.org. The URIs print in order/preference order, one
    per line, ready for `siplocate resolve`.

    Examples:

      siplocate enum +441632960083 --nameserver 127.0.0.1:5300

      siplocate enum '1234*256' --isn-root freenum.org

    Exit codes: 0 URIs found, 1 none (or DNS unreachable), 2 bad input.
    """
    from ..enum import enum_lookup

    source = lookup_source(nameserver, zone, timeout, port)
    result = run(enum_lookup(source, number, suffix=suffix, isn_root=isn_root))
    if json:
        print_json(result.as_dict())
        return
    for record in result.records:
        typer.echo(record.uri)
    others = [rec for rec, why in result.skipped if why.startswith("service ")]
    for rec, why in result.skipped:
        if not why.startswith("service "):
            _warn(f"skipped {rec}: {why}")
    if others:  # other ENUM services (mailto, tel) are normal: one line, in a stable order
        _warn(f"{len(others)} non-SIP NAPTR record(s) skipped: {'; '.join(others)}")

"""Server-side commands: ``zone render|lint|apply``, ``check``, ``drain``, ``undrain``, ``enum``."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, DnsError, NotFound, SiplocateError
from . import app
from .common import (
    JsonOpt,
    NameserverOpt,
    ZoneOpt,
    console,
    err_console,
    handle_errors,
    print_json,
    run,
)

# Heavy modules (dnspython's query machinery, TOML, RE2) are imported inside each command,
# so `siplocate --help` and the other commands start fast.
if TYPE_CHECKING:
    import dns.name

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
        "--server", "-s", metavar="HOST[:PORT]", help="The primary to update (IP address)."
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
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-file",
        metavar="FILE",
        help="Where drain keeps the records it replaced "
        "(default: $XDG_STATE_HOME/siplocate/drains.json).",
    ),
]


def _warn(message: str) -> None:
    err_console.print(f"siplocate: warning: {message}", markup=False)


def _server(server: str, key: Path | None, key_name: str | None, axfr: bool = True) -> Server:
    from ..zone.keys import load_key
    from ..zone.update import Server

    tsig = None
    if key is not None:
        tsig = load_key(key, key_name)
        for w in tsig.warnings:
            _warn(w)
    else:
        _warn("no --key: sending an unsigned update")
    primary = Server.parse(server, tsig)
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


def _print_findings(findings: list[Finding], json: bool, *, lines: bool = False) -> None:
    """Findings as JSON, or for people: ``file:line: severity code message`` (zone lint) or
    a heading, the records and the message (check). Names and records are printed as text:
    nothing from DNS or a file is read as markup."""
    from rich.text import Text

    from ..zone.lint import Severity

    if json:
        print_json([f.as_dict() for f in findings])
        return
    for f in findings:
        severity = f.severity.value
        if lines:
            where = f"{f.file}:{f.line}" if f.line is not None else (f.file or f.name)
            console.print(
                Text.assemble(f"{where}: ", (severity, _STYLE[severity]), f" {f.code} {f.message}"),
                markup=False,
                highlight=False,
            )
            continue
        console.print(
            Text.assemble((severity, _STYLE[severity]), " ", (f.code, "bold"), f" {f.name}"),
            markup=False,
            highlight=False,
        )
        for record in f.records:
            console.print(Text(f"    {record}"), markup=False)
        console.print(Text(f"    {f.message}"), markup=False)
    counts = {s: sum(1 for f in findings if f.severity == s) for s in Severity}
    summary = ", ".join(f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items())
    console.print(summary if findings else "no findings", markup=False)


@zone_app.command("lint")
@handle_errors
def lint_cmd(
    files: Annotated[
        list[Path],
        typer.Argument(
            metavar="FILE...", help="Zone files; give the zones of off-site targets too."
        ),
    ],
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            metavar="ZONE",
            help="The zone's origin, for a file without $ORIGIN whose SOA owner is relative "
            "(default: $ORIGIN, else the SOA record's owner; never the file name).",
        ),
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

    Exit codes: 0 no error-level finding, 1 at least one, 2 bad input.
    """
    from ..zone.lint import has_errors, lint_zone_files

    if origin is not None:
        origin = _domain_name(origin).to_text()
    findings, _ = lint_zone_files(files, origin)
    _print_findings(findings, json, lines=True)
    if has_errors(findings):
        raise typer.Exit(1)


def _json_error(exc: SiplocateError) -> None:
    """The JSON error object of a failed command (the shape cli/common.py documents on the
    admincli branch: kind, message, exit_code); the one line on stderr follows as usual."""
    kind = "not-found" if isinstance(exc, NotFound) else "dns-error"
    print_json({"error": {"kind": kind, "message": str(exc), "exit_code": exc.exit_code}})


def _domain_name(text: str) -> dns.name.Name:
    """A domain name from the command line, or BadInput naming what is wrong with it."""
    import dns.exception
    import dns.name

    try:
        return dns.name.from_text(text)
    except dns.exception.DNSException as exc:
        raise BadInput(f"{text!r} is not a domain name: {exc}") from None


@app.command("check")
@handle_errors
def check_cmd(
    target: Annotated[str, typer.Argument(help="SIP domain or sip:/sips: URI to check.")],
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    json: JsonOpt = False,
) -> None:
    """Check a SIP domain's live NAPTR, SRV and A/AAAA records (lint rules).

    Asks what an RFC 3263 client asks and runs the same rules as `zone lint`.
    If the domain cannot be looked up (no answer, REFUSED, SERVFAIL) or does
    not exist (NXDOMAIN), that is the one-line error: nothing is judged from
    records that were never read.

    Examples:

      siplocate check example.com

      siplocate check sip:alice@example.com --nameserver 127.0.0.1:5300 --json

    Exit codes: 0 no error-level finding, 1 at least one (or DNS unreachable,
    REFUSED, NXDOMAIN), 2 bad input.
    """
    import dns.name
    import dns.rdatatype

    from ..dns import make_source
    from ..target import SipTarget
    from ..zone.lint import gather, has_errors, lint_snapshot

    parsed = SipTarget.parse(target)
    if parsed.is_numeric:
        raise BadInput(f"{target}: an IP address has no DNS records to check")
    if parsed.port is not None:
        _warn(f"{target} has a port: clients skip NAPTR/SRV for it; checking the domain anyway")
    source = make_source(nameserver, list(zone) if zone else None)
    domain = dns.name.from_text(parsed.lookup_host)

    async def walk() -> list[Finding]:
        # The first question decides whether there is anything to judge at all.
        first = await source.answer(domain, dns.rdatatype.NAPTR)
        if first.nxdomain:
            raise NotFound(f"{domain} does not exist (NXDOMAIN): no records to check")
        return lint_snapshot(await gather(source, [domain]))

    try:
        findings = run(walk())
    except (DnsError, NotFound) as exc:
        if json:
            _json_error(exc)
        raise
    _print_findings(findings, json)
    if has_errors(findings):
        raise typer.Exit(1)


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
    result = apply_plan(loaded, _server(server, key, key_name, axfr), dry_run=dry_run)
    if json:
        print_json(
            {
                "zone": str(result.zone),
                "applied": result.applied,
                "dry_run": dry_run,
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
    str, typer.Option("--domain", "-d", help="The SIP domain whose SRV records name HOST.")
]
HostArg = Annotated[
    str, typer.Argument(metavar="HOST", help="SRV target, relative to --domain or ending in '.'.")
]


def _when(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def _report(result: DrainResult, json: bool, verb: str, state: Path) -> None:
    if json:
        print_json(
            {
                "action": verb,
                "host": str(result.host),
                "zone": str(result.zone),
                "ttl": result.ttl,
                "clear_at": datetime.fromtimestamp(result.clear_at, UTC).isoformat(),
                "state_file": str(state),
                "diff": [line for ch in result.changes for line in ch.lines()],
            }
        )
        return
    for ch in result.changes:
        for line in ch.lines():
            console.print(line, markup=False)
    console.print(
        f"{verb} {result.host}: {len(result.changes)} SRV RRset(s) changed in one update",
        markup=False,
    )


def _wait(result: DrainResult, what: str) -> None:
    """Sleep (bounded by the TTL) until caches holding the old records have expired."""
    deadline = result.clear_at
    while (left := deadline - time.time()) > 0:
        time.sleep(min(left, 5.0))
    console.print(f"TTL passed at {_when(deadline)}: {what}", markup=False)


@app.command("drain")
@handle_errors
def drain_cmd(
    host: HostArg,
    domain: DomainOpt,
    server: ServerOpt,
    key: KeyOpt = None,
    key_name: KeyNameOpt = None,
    axfr: AxfrOpt = True,
    state_file: StateOpt = None,
    wait: Annotated[
        bool, typer.Option("--wait", help="Stay until the old records' TTL has passed.")
    ] = False,
    json: JsonOpt = False,
) -> None:
    """Take HOST out of rotation: move its SRV records behind every other server.

    HOST's SRV records (all SIP transports of the domain) get priority 65535,
    so every client that follows SRV priorities tries it only when all others
    fail. The old records are saved (see --state-file) for `undrain`, which
    restores them exactly.

    Example:

      siplocate drain sip1 -d example.com -s 192.0.2.53 -k key.conf --wait
    """
    import dns.name

    from ..zone.drain import DRAIN_PRIORITY, default_state_file, drain

    state = state_file or default_state_file()
    result = drain(_server(server, key, key_name, axfr), dns.name.from_text(domain), host, state)
    _report(result, json, "drained", state)
    if not json:
        console.print(
            f"clients that cached the old records (TTL {result.ttl} s) may still pick "
            f"{result.host} until {_when(result.clear_at)}; records saved in {state}",
            markup=False,
        )
    if wait:
        _wait(result, f"no client that follows DNS should choose {result.host} now "
                      f"(it is at priority {DRAIN_PRIORITY})")  # fmt: skip


@app.command("undrain")
@handle_errors
def undrain_cmd(
    host: HostArg,
    domain: DomainOpt,
    server: ServerOpt,
    key: KeyOpt = None,
    key_name: KeyNameOpt = None,
    axfr: AxfrOpt = True,
    state_file: StateOpt = None,
    json: JsonOpt = False,
) -> None:
    """Put HOST back: restore exactly the SRV records `drain` replaced.

    Fails cleanly (nothing changed) if someone edited those SRV records since
    the drain.

    Example:

      siplocate undrain sip1 -d example.com -s 192.0.2.53 -k key.conf
    """
    import dns.name

    from ..zone.drain import default_state_file, undrain

    state = state_file or default_state_file()
    result = undrain(_server(server, key, key_name, axfr), dns.name.from_text(domain), host, state)
    _report(result, json, "undrained", state)
    if not json:
        console.print(
            f"clients pick up the restored records within {result.ttl} s "
            f"(by {_when(result.clear_at)})",
            markup=False,
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
    zone: ZoneOpt = None,
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
    from ..dns import make_source
    from ..enum import enum_lookup

    source = make_source(nameserver, list(zone) if zone else None)
    result = run(enum_lookup(source, number, suffix=suffix, isn_root=isn_root))
    if json:
        print_json(result.as_dict())
        return
    for record in result.records:
        typer.echo(record.uri)
    for rec, why in result.skipped:
        if not why.startswith("service "):  # other ENUM services (mailto, tel) are normal
            _warn(f"skipped {rec}: {why}")

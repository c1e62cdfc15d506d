"""What every command shares: DNS source options, JSON output, and turning errors into one line.

Text from DNS or from files is never interpreted: both consoles have markup and emoji codes
switched off, and styling is applied with explicit ``rich.text.Text`` spans.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from ..dns.source import DnsSource

# typer 0.2x vendors click as typer._click; its exception classes are what the parser raises.
from typer._click.exceptions import ClickException, UsageError
from typer.core import TyperGroup

from ..errors import BadInput, DnsError, NotFound, OperationFailed, SiplocateError

P = ParamSpec("P")
R = TypeVar("R")


class _LazyConsole:
    """A rich Console made on first use: rich costs start-up time that --help never needs."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._console: Console | None = None

    def __getattr__(self, name: str) -> Any:
        if self._console is None:
            from rich.console import Console

            options = dict(self._options)
            if options.pop("stdout_width", False):  # decided when first used, as before
                tty = sys.stdout.isatty() or os.environ.get("COLUMNS")
                options["width"] = None if tty else 160
            self._console = Console(**options)
        return getattr(self._console, name)


def unwrapped(lazy: Console) -> Console:
    """The Console behind a lazy one, made now: rich's Live and Progress need the object."""
    lazy.is_terminal  # noqa: B018  (first use makes it)
    return cast("Console", getattr(lazy, "_console", lazy))


# Piped output is not cut to 80 columns: scripts and logs get whole host names.
console = cast(
    "Console",
    _LazyConsole(highlight=False, soft_wrap=True, markup=False, emoji=False, stdout_width=True),
)
err_console = cast(
    "Console",
    _LazyConsole(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False),
)

#: The ``kind`` of a JSON error object, by exception class (most specific first).
ERROR_KINDS: tuple[tuple[type[BaseException], str], ...] = (
    (BadInput, "bad-input"),
    (NotFound, "not-found"),
    (DnsError, "dns-error"),
    (OperationFailed, "operation-failed"),
    (SiplocateError, "failed"),
)


def _zone_files(value: list[Path] | None) -> list[Path] | None:
    """--zone: refuse FIFOs, devices and directories before anything opens them."""
    from ..localfile import check_regular

    try:
        return [check_regular(p, "zone file") for p in value] if value else value
    except BadInput as exc:
        raise typer.BadParameter(str(exc)) from None


NameserverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        "-n",
        metavar="SERVER",
        help="Ask this DNS server: ADDRESS, ADDRESS:PORT, [IPV6]:PORT, ADDRESS#PORT or a host "
        "name (repeatable; tried in order); @SERVER anywhere on the line, as dig takes it, is "
        "the same. Default: /etc/resolv.conf.",
    ),
]
PortOpt = Annotated[
    int | None,
    typer.Option(
        "--port",
        "-p",
        metavar="PORT",
        min=1,
        max=65535,
        help="Port of the DNS servers given without one (and of /etc/resolv.conf's), as dig's -p.",
    ),
]
ZoneOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--zone",
        "-z",
        metavar="FILE",
        callback=_zone_files,
        help="Answer from this zone file instead of the network (repeatable; offline).",
    ),
]
TransportsOpt = Annotated[
    str,
    typer.Option(
        "--transports",
        "-t",
        metavar="LIST",
        help="Transports this client supports, comma-separated: udp,tcp,tls,sctp,tls-sctp,ws,wss.",
    ),
]
#: Seconds one DNS try waits by default (LiveSource's own default).
DEFAULT_TIMEOUT = 1.5
#: With --timeout T a lookup gives up after LOOKUP_TRIES * T in all (DNS tries per question).
LOOKUP_TRIES = 5


def timed_out(message: str) -> None:
    """A DNS try that timed out, on stderr as it happens (as dig's ";; communications
    error to ..."): a silent nameserver is seen at once, not after the whole lookup gave up."""
    err_console.print(f";; {message}")


def lookup_source(
    nameserver: list[str] | None,
    zone: list[Path] | None,
    timeout: float | None = None,
    port: int | None = None,
) -> DnsSource:
    """The DNS source of a lookup command from -n/@SERVER, -p, --zone and --timeout: zone
    files, or live nameservers whose failed tries are reported on stderr."""
    from ..dns import make_source
    from ..limits import DEFAULT_LIMITS

    limits = DEFAULT_LIMITS
    if timeout is not None:
        import dataclasses

        limits = dataclasses.replace(DEFAULT_LIMITS, deadline=LOOKUP_TRIES * timeout)
    if zone and port is not None:
        raise BadInput("-p/--port is the port of the DNS servers to ask; --zone asks none")
    if zone:
        return make_source(nameserver, list(zone), limits=limits)
    return make_source(
        nameserver,
        None,
        timeout=timeout or DEFAULT_TIMEOUT,
        limits=limits,
        port=port,
        on_timeout=timed_out,
    )


def asked(source: object) -> str:
    """Where a lookup's answers came from, for its summary line: ``from zone files``,
    ``from 127.0.0.1:5300``, ``from 10.0.0.2:53 (/etc/resolv.conf)``."""
    servers = getattr(source, "servers", None)
    if servers is None:
        return "from zone files"
    names = ", ".join(f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in servers)
    return f"from {names}" + (
        " (/etc/resolv.conf)" if getattr(source, "from_resolv_conf", 0) else ""
    )


def parse_seconds(value: float | str | None) -> float | None:
    """--timeout: ``2``, ``1.5``, ``2s`` or ``500ms``; anything else names the right spelling."""
    if value is None or isinstance(value, float):
        return value
    text = value.strip().lower()
    scale = 0.001 if text.endswith("ms") else 1.0
    number = text.removesuffix("ms").removesuffix("s")
    try:
        seconds = float(number) * scale
    except ValueError:
        seconds = -1.0
    if not 0.01 <= seconds <= 300:  # also rejects nan and inf
        raise typer.BadParameter(
            f"{value!r}: give seconds from 0.01 to 300, e.g. --timeout 2 or --timeout 500ms"
        )
    return seconds


TimeoutOpt = Annotated[
    float | None,
    typer.Option(
        "--timeout",
        metavar="SECONDS",
        parser=parse_seconds,
        show_default="1.5 per try, 32 s in all",
        help="Wait at most SECONDS for each DNS try, and give up after 5 times that in all "
        "(2, 1.5, 2s or 500ms).",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]


_printed_json = False  # a command already wrote its JSON document: no second one on error


#: The monitoring-plugins states (Nagios, Icinga), by exit code: 0 OK ... 3 UNKNOWN.
PLUGIN_STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
PLUGIN_UNKNOWN = 3


def plugin_line(code: int, text: str, perfdata: str = "") -> str:
    """The one status line of a monitoring plugin: ``SIPLOCATE STATE - text | perfdata``
    (the text may hold no ``|``, which starts the performance data)."""
    line = f"SIPLOCATE {PLUGIN_STATES[code]} - {' '.join(text.replace('|', '/').split())}"
    return f"{line} | {perfdata}" if perfdata else line


def warn(message: str) -> None:
    """One warning line on stderr; the command goes on."""
    err_console.print(f"siplocate: warning: {message}", markup=False)


def print_json(data: object) -> None:
    """JSON on stdout, one document, stable key order as built."""
    global _printed_json
    _printed_json = True
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def error_object(message: str, code: int, kind: str) -> dict[str, Any]:
    """The JSON error shape every command prints under --json (documented in the README)."""
    return {"error": {"kind": kind, "message": message, "exit_code": code}}


def error_kind(exc: BaseException) -> str:
    """``kind`` for an exception: bad-input, not-found, dns-error, operation-failed, failed."""
    for cls, kind in ERROR_KINDS:
        if isinstance(exc, cls):
            return kind
    return "bad-input" if isinstance(exc, ValueError) else "failed"


def fail(
    message: str,
    code: int = 1,
    *,
    as_json: bool = False,
    kind: str = "failed",
    extra: dict[str, Any] | None = None,
) -> None:
    """One line on stderr (and the JSON error object on stdout under --json); exit ``code``.

    A command that already printed its JSON document (with its own error fields) keeps
    stdout to that one document."""
    if as_json and not _printed_json:
        print_json({**(extra or {}), **error_object(message, code, kind)})
    err_console.print(f"siplocate: error: {message}")
    raise typer.Exit(code)


def os_error_text(exc: OSError) -> str:
    """``connection refused`` rather than ``[Errno 111] Connection refused``."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return text[:1].lower() + text[1:] if exc.strerror else text


#: The exceptions a command reports as one line (anything else is a bug, and shows as one).
REPORTED = (SiplocateError, RecursionError, ValueError, OSError)


def describe(exc: BaseException) -> tuple[str, int, str]:
    """(message, exit code, kind) of a REPORTED error: one rule for the one-line error of a
    command and for the error object of each failed input of a many-input run."""
    if isinstance(exc, SiplocateError):
        return str(exc), exc.exit_code, error_kind(exc)
    if isinstance(exc, RecursionError):
        return "input nested too deeply", BadInput.exit_code, "bad-input"
    code = BadInput.exit_code if isinstance(exc, ValueError) else 1
    text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
    return text or type(exc).__name__, code, error_kind(exc)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SiplocateError into one clear line and its exit code, never a traceback.

    A command with a ``json`` parameter set also gets the JSON error object on stdout.
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        global _printed_json
        as_json = bool(kwargs.get("json"))
        _printed_json = False
        try:
            return func(*args, **kwargs)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except REPORTED as exc:
            message, code, kind = describe(exc)
            extra = getattr(exc, "json_extra", None)
            fail(message, code, as_json=as_json, kind=kind, extra=extra)
        raise AssertionError("unreachable")

    return wrapper


#: The lookup commands: they take dig's ``@SERVER`` (and ``+short`` where --short exists).
DIG_COMMANDS = frozenset({"resolve", "check", "probe", "enum", "compare"})

_DNS_PRIMARY = (
    "is the DNS primary of the zone commands (zone apply, drain, undrain); to ask a DNS server "
    "use -n/--nameserver or @SERVER; static SIP servers are --sip-server (resolve, register, "
    "options)"
)
_TSIG_KEY = (
    "is the TSIG key file of the zone commands (zone apply, drain, undrain); the Call-ID hash "
    "key of resolve is --hash-key"
)
_ASK = "is the DNS server a lookup asks; the primary to update is -s/--server"
#: One meaning per flag: a flag given to a command that does not have it, and what it means
#: where it does (the one-line hint instead of "no such option").
FLAG_MEANINGS: dict[str, str] = {
    "--server": _DNS_PRIMARY,
    "-s": _DNS_PRIMARY,
    "--key": _TSIG_KEY,
    "-k": _TSIG_KEY,
    "--nameserver": _ASK,
    "-n": _ASK,
    "--sip-server": "names static SIP servers (resolve; register and options with --mode static)",
}


def dig_argv(group: Any, argv: list[str]) -> list[str]:
    """The command line with dig's habits read as options, before click sees it: ``@SERVER``
    -> ``--nameserver SERVER`` and ``+short`` -> ``--short`` on the lookup commands; a flag
    that means something else elsewhere (``resolve --server``) is BadInput with the hint.

    Option values are skipped by asking the command which of its options take one, so
    ``--user @x`` stays a value."""
    i, command, path = 0, group, []
    while i < len(argv) and hasattr(command, "commands"):  # root options, then the (sub)command
        if argv[i].startswith("-"):
            i += 1
            continue
        sub = command.commands.get(argv[i])
        if sub is None:
            return argv
        command, i = sub, i + 1
        path.append(sub.name or "")
    if hasattr(command, "commands"):
        return argv
    name = " ".join(path)
    options = [
        p for p in command.params if getattr(p, "opts", None) and p.param_type_name == "option"
    ]
    known = {o for p in options for o in (*p.opts, *p.secondary_opts)}
    valued = {o for p in options if not p.is_flag and not p.count for o in p.opts}
    dig = name in DIG_COMMANDS
    out = argv[:i]
    while i < len(argv):
        token = argv[i]
        i += 1
        if token == "--":
            out += argv[i - 1 :]
            break
        flag = token.split("=", 1)[0]
        if token in valued:
            out += argv[i - 1 : i + 1]
            i += 1
        elif flag.startswith("-") and flag not in known and flag in FLAG_MEANINGS:
            raise BadInput(f"{name}: {flag} {FLAG_MEANINGS[flag]}")
        elif dig and token.startswith("@") and len(token) > 1:
            out += ["--nameserver", token[1:]]
        elif dig and token in ("+short", "--short"):
            if "--short" not in known:
                raise BadInput(f"{name} has no short form (+short/--short is for resolve)")
            out.append("--short")
        else:
            out.append(token)
    return out


class OneLineErrors(TyperGroup):
    """The root command: usage errors as ONE line (and a JSON error object under --json)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        _real_metavars(self)
        try:
            argv = dig_argv(self, argv)
            result = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
            code = result if isinstance(result, int) else 0
        except ClickException as exc:
            code = exc.exit_code
            ctx = getattr(exc, "ctx", None)
            where = ctx.command_path if ctx is not None else "siplocate"
            message = " ".join(exc.format_message().split())
            if type(exc).__name__ == "NoArgsIsHelpError":  # bare `siplocate`: the help
                typer.echo(exc.format_message())
                code = 0
                if standalone_mode:
                    sys.exit(code)
                return code
            if isinstance(exc, UsageError):
                message = f"{message} (see '{where} --help')"
                kind = "usage"
            else:
                kind = "failed"
            if _plugin(argv):  # a monitoring system reads stdout and the exit code
                code = PLUGIN_UNKNOWN
                typer.echo(plugin_line(code, message))
            elif "--json" in argv:
                print_json(error_object(message, code, kind))
            err_console.print(f"siplocate: error: {message}")
        except SiplocateError as exc:  # raised by a callback, outside handle_errors
            code = exc.exit_code
            if _plugin(argv):
                code = PLUGIN_UNKNOWN
                typer.echo(plugin_line(code, str(exc)))
            elif "--json" in argv:
                print_json(error_object(str(exc), code, error_kind(exc)))
            err_console.print(f"siplocate: error: {exc}")
        except typer.Abort:
            err_console.print("siplocate: aborted")
            code = 1
        if standalone_mode:
            sys.exit(code)
        return code


def _plugin(argv: list[str]) -> bool:
    """``probe ... --plugin``: its usage errors are UNKNOWN (3) on stdout, as plugins say."""
    return argv[:1] == ["probe"] and "--plugin" in argv


def _real_metavars(command: Any) -> None:
    """Give every argument and valued option a metavar (``TARGET``, ``--seed SEED``) so help
    never shows typer's ``<str>``/``<int>`` placeholders; explicit metavars are kept."""
    for param in getattr(command, "params", ()):
        if param.metavar is None and not getattr(param, "is_flag", False):
            param.metavar = (param.name or "value").upper()
        if hasattr(param, "_usage_display_name"):  # a typer argument: NAME, not {NAME} <str>
            shown = param.metavar + (
                "..." if param.nargs != 1 and "..." not in param.metavar else ""
            )
            usage = shown if param.required else f"[{shown}]"
            param._usage_display_name = lambda usage=usage: usage
            param.display_type_rich = lambda ctx: None
    for sub in getattr(command, "commands", {}).values():
        _real_metavars(sub)


def run(coro: Coroutine[Any, Any, R]) -> R:
    """Run one coroutine to completion for a CLI command."""
    import asyncio  # here, not at the top: asyncio loads ssl, which --help never needs

    return asyncio.run(coro)

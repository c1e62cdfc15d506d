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
        "name (repeatable; tried in order). Default: /etc/resolv.conf.",
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
        except SiplocateError as exc:
            extra = getattr(exc, "json_extra", None)
            fail(str(exc), exc.exit_code, as_json=as_json, kind=error_kind(exc), extra=extra)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except RecursionError:
            fail("input nested too deeply", BadInput.exit_code, as_json=as_json, kind="bad-input")
        except (ValueError, OSError) as exc:
            code = BadInput.exit_code if isinstance(exc, ValueError) else 1
            text = os_error_text(exc) if isinstance(exc, OSError) else str(exc)
            fail(text or type(exc).__name__, code, as_json=as_json, kind=error_kind(exc))
        raise AssertionError("unreachable")

    return wrapper


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

"""What every command shares: DNS source options, JSON output, and turning errors into one line."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar, cast

import typer

if TYPE_CHECKING:
    from rich.console import Console

from ..errors import BadInput, SiplocateError

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
                options["width"] = None if sys.stdout.isatty() else 160
            self._console = Console(**options)
        return getattr(self._console, name)


# Piped output is not cut to 80 columns: scripts and logs get whole host names.
console = cast("Console", _LazyConsole(highlight=False, soft_wrap=True, stdout_width=True))
err_console = cast("Console", _LazyConsole(stderr=True, highlight=False, soft_wrap=True))

NameserverOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--nameserver",
        "-n",
        metavar="HOST[:PORT]",
        help="Ask this DNS server (repeatable; tried in order). Default: /etc/resolv.conf.",
    ),
]
ZoneOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--zone",
        "-z",
        metavar="FILE",
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead.")]


def print_json(data: object) -> None:
    """JSON on stdout, one document, stable key order as built."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def fail(message: str, code: int = 1) -> None:
    """Print one line to stderr and exit with ``code``."""
    err_console.print(f"siplocate: error: {message}", markup=False)
    raise typer.Exit(code)


def handle_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Turn SiplocateError into one clear line and its exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SiplocateError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            raise typer.Exit(130) from None
        except (ValueError, OSError) as exc:
            code = BadInput.exit_code if isinstance(exc, ValueError) else 1
            fail(str(exc) or type(exc).__name__, code)
        raise AssertionError("unreachable")

    return wrapper


def run(coro: Coroutine[Any, Any, R]) -> R:
    """Run one coroutine to completion for a CLI command."""
    import asyncio  # here, not at the top: asyncio loads ssl, which --help never needs

    return asyncio.run(coro)

"""The ``siplocate`` command: a thin shell over the library's public API.

Each sub-module registers its commands on ``app``; this file only assembles them.
"""

from __future__ import annotations

import typer

from .common import OneLineErrors

app = typer.Typer(
    name="siplocate",
    help="Find, explain, test and manage the servers behind a SIP domain (RFC 3263/2782).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, ...)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain click help: real metavars, no boxes, no markup from text
    cls=OneLineErrors,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"siplocate {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Find, explain, test and manage the servers behind a SIP domain (RFC 3263/2782)."""


# Each module registers its commands on ``app``; the order here is the order in --help.
from . import client as _client  # noqa: E402,F401
from . import compare as _compare  # noqa: E402,F401
from . import resolve as _resolve  # noqa: E402,F401
from . import watch as _watch  # noqa: E402,F401
from . import zone as _zone  # noqa: E402,F401


def main() -> None:
    """Console-script entry point."""
    app()

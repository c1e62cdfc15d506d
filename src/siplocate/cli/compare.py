"""``siplocate compare``: what each kind of SIP client does with one domain, side by side."""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, DnsError, NotFound
from . import app
from .bulk import DEFAULT_CONCURRENCY, ConcurrencyOpt, FileOpt, Inputs, Outcome, run_all
from .common import (
    JsonOpt,
    NameserverOpt,
    TimeoutOpt,
    ZoneOpt,
    asked,
    console,
    handle_errors,
    lookup_source,
    print_json,
    run,
)

# The resolver, the profiles and rich are imported when the command runs: --help starts fast.
if TYPE_CHECKING:
    from rich.table import Table

    from ..locate import Resolver
    from ..profiles.catalogue import Profile
    from ..profiles.compare import Plan, Seen


@app.command()
@handle_errors
def compare(
    domains: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DOMAIN...",
            help="The SIP domain, e.g. example.com; several, or - for standard input.",
        ),
    ] = None,
    file: FileOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    profile: Annotated[
        list[str] | None,
        typer.Option(
            "--profile",
            "-p",
            metavar="KEY",
            help="Only these profiles (repeatable; RFC 3263 is always worked out, as the "
            "reference). Keys: rfc3263, grandstream-a, grandstream-srv, grandstream-naptr, "
            "grandstream-static, yealink-dns-srv, baresip, pjsua, kamailio, sofia-sip, sipsimple.",
        ),
    ] = None,
    aor: Annotated[
        str | None,
        typer.Option(
            "--aor",
            metavar="URI",
            help="The account (e.g. sip:alice@example.com): clients that order servers by a "
            "fixed hash of it (baresip) show its own order instead of the spread over accounts.",
        ),
    ] = None,
    timeout: TimeoutOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show, for each kind of SIP client, the server it tries first, its try order, its load
    split and what goes wrong for it with DOMAIN's records (one DNS walk for all of them).

    Examples:

      siplocate compare example.com --nameserver 127.0.0.1:5300

      siplocate compare onsip.test --zone examples/zones/onsip.test.zone

      siplocate compare weights.diverge.test -z tests/zones/diverge.test.zone -p kamailio --json

    Several DOMAINs, -f FILE or - (standard input) share one DNS cache, --concurrency at
    a time, printed in input order (one JSON line each under --json).

    Exit codes: 0 compared (every input), 1 no client finds a server (or DNS unreachable;
    for any input), 2 bad input.
    """
    from ..profiles.catalogue import BY_KEY, PROFILES
    from .resolve import make_resolver

    chosen = PROFILES
    if profile:
        unknown = [k for k in profile if k not in BY_KEY]
        if unknown:
            raise BadInput(
                f"unknown profile {unknown[0]!r} (known: {', '.join(p.key for p in PROFILES)})"
            )
        chosen = tuple(p for p in PROFILES if p.key in profile)
    source = lookup_source(nameserver, zone, timeout)
    resolver = make_resolver(nameserver, zone, "udp,tcp,tls", timeout, source=source)
    inputs = Inputs(domains, file)
    if inputs.single is None:
        one = functools.partial(_compare_one, resolver, chosen, aor, asked(source))
        form = "json" if json else "text"
        run_all(inputs, one, concurrency=concurrency, form=form, cleanup=resolver.close)
        return
    started = time.perf_counter()
    seen = run(_look(resolver, inputs.single))
    plans, data, nothing = _judge(seen, chosen, aor)
    elapsed = (time.perf_counter() - started) * 1000
    if json:
        if nothing is not None:
            raise nothing
        print_json(data)
        return
    console.print(compare_table(seen, plans))
    console.print(summary(seen, elapsed, asked(source)), style="dim")
    if nothing is not None:
        raise nothing


def _judge(
    seen: Seen, chosen: tuple[Profile, ...], aor: str | None
) -> tuple[list[Plan], dict[str, object], NotFound | None]:
    """Every chosen profile applied to one walk: the plans, compare's JSON, and the
    NotFound to raise when no client kind finds a server."""
    from ..profiles.compare import compare as apply_all

    if seen.domain in seen.unanswered:  # "could not look" is not "nothing there"
        raise DnsError(seen.unanswered[seen.domain])
    plans = apply_all(seen, chosen, aor)
    data: dict[str, object] = {
        "domain": seen.domain,
        "profiles": [p.as_dict() for p in plans],
        "trace": [e.as_dict() for e in seen.trace],
    }
    nothing = None
    if not any(p.targets for p in plans if p.profile.mode != "static"):
        nothing = NotFound(f"no client kind finds a server for {seen.domain}")
        nothing.json_extra = data  # type: ignore[attr-defined]
    return plans, data, nothing


async def _compare_one(
    resolver: Resolver, chosen: tuple[Profile, ...], aor: str | None, where: str, domain: str
) -> Outcome:
    """One input of a many-input compare (the shared Resolver stays open)."""
    from ..profiles.compare import look

    started = time.perf_counter()
    seen = await look(resolver, domain)
    plans, data, nothing = _judge(seen, chosen, aor)
    elapsed = (time.perf_counter() - started) * 1000

    def show() -> None:
        console.print(compare_table(seen, plans))
        console.print(summary(seen, elapsed, where), style="dim")

    return Outcome(data, show=show, failure=nothing)


async def _look(resolver: Resolver, domain: str) -> Seen:
    from ..profiles.compare import look

    try:
        return await look(resolver, domain)
    finally:
        resolver.close()  # inside the loop: the sockets close with it


def compare_table(seen: Seen, plans: list[Plan]) -> Table:
    """One row per profile; every cell holding DNS data is plain text, never markup."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=f"What each kind of client does with {seen.domain}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_lines=True,
        pad_edge=False,
    )
    for col in ("client", "first try", "then", "first attempts", "what is wrong for it"):
        table.add_column(col, overflow="fold")
    for p in plans:
        first = p.first
        if first is None:
            head = "configured IPs (no DNS)" if p.profile.mode == "static" else "nothing"
        else:
            head = f"{first.transport.value} {first.hostport}\n{first.host}"
        then = "\n".join(f"{t.transport.value} {t.hostport}" for t in p.targets[1:])
        split = "\n".join(f"{s.share:.0%} {s.host}" for s in p.split if len(p.split) > 1)
        table.add_row(
            Text(p.profile.key),
            Text(head),
            Text(then),
            Text(split),
            Text("\n".join(f"- {x}" for x in p.problems)),
        )
    return table


def summary(seen: Seen, elapsed_ms: float, where: str = "") -> str:
    """``33 DNS answers from zone files, one walk for every profile, in 13.3 ms``."""
    from ..trace import Query

    answers = sum(1 for e in seen.trace if isinstance(e, Query))
    where = f" {where}" if where else ""
    return f"{answers} DNS answers{where}, one walk for every profile, in {elapsed_ms:.1f} ms"

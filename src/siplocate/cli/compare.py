"""``siplocate compare``: what each kind of SIP client does with one domain, side by side."""

from __future__ import annotations

import functools
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

    from ..profiles.catalogue import Profile
    from ..profiles.compare import Plan, Seen
    from ..resolver import Resolver


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
            "grandstream-static, yealink-dns-srv, baresip, pjsua, kamailio, "
            "kamailio-dns-srv-lb, freeswitch (or sofia-sip), sipsimple, asterisk, freepbx, "
            "opensips, linphone, polycom, snom, cisco-cucm, cisco-telepresence, "
            "teams-direct-routing, 3cx, avaya-aura, sipgo, sipsak.",
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
    from ..profiles.catalogue import PROFILES, find
    from .resolve import make_resolver

    chosen = PROFILES
    if profile:
        unknown = [k for k in profile if find(k) is None]
        if unknown:
            raise BadInput(
                f"unknown profile {unknown[0]!r} (known: {', '.join(p.key for p in PROFILES)})"
            )
        wanted = {find(k) for k in profile}
        chosen = tuple(p for p in PROFILES if p in wanted)
    source = lookup_source(nameserver, zone, timeout)
    resolver = make_resolver(nameserver, zone, "udp,tcp,tls", timeout, source=source)
    inputs = Inputs(domains, file)
    if inputs.single is None:
        one = functools.partial(_compare_one, resolver, chosen, aor, asked(source))
        form = "json" if json else "text"
        run_all(inputs, one, concurrency=concurrency, form=form, cleanup=resolver.close)
        return
    from ..clock import SYSTEM_CLOCK  # here: the clock loads asyncio, which --help never needs

    started = SYSTEM_CLOCK.monotonic()
    seen = run(_look(resolver, inputs.single))
    plans, data, nothing = _judge(seen, chosen, aor)
    elapsed = (SYSTEM_CLOCK.monotonic() - started) * 1000
    if json:
        if nothing is not None:
            raise nothing
        print_json(data)
        return
    console.print(compare_table(seen, plans, console.width))
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
    looked = [p for p in plans if p.profile.mode != "static"]  # static rows ask no DNS
    if looked and not any(p.targets for p in looked):
        nothing = NotFound(f"no client kind finds a server for {seen.domain}")
        nothing.json_extra = data  # type: ignore[attr-defined]
    return plans, data, nothing


async def _compare_one(
    resolver: Resolver, chosen: tuple[Profile, ...], aor: str | None, where: str, domain: str
) -> Outcome:
    """One input of a many-input compare (the shared Resolver stays open)."""
    from ..clock import SYSTEM_CLOCK
    from ..profiles.compare import look

    started = SYSTEM_CLOCK.monotonic()
    seen = await look(resolver, domain)
    plans, data, nothing = _judge(seen, chosen, aor)
    elapsed = (SYSTEM_CLOCK.monotonic() - started) * 1000

    def show() -> None:
        console.print(compare_table(seen, plans, console.width))
        console.print(summary(seen, elapsed, where), style="dim")

    return Outcome(data, show=show, failure=nothing)


async def _look(resolver: Resolver, domain: str) -> Seen:
    from ..profiles.compare import look

    try:
        return await look(resolver, domain)
    finally:
        resolver.close()  # inside the loop: the sockets close with it


def compare_table(seen: Seen, plans: list[Plan], width: int = 80) -> Table:
    """One row per profile; every cell holding DNS data is plain text, never markup. Three
    columns: the first two as wide as their longest word, the third takes what is left of
    ``width`` (but never less than its longest word), so a terminal ``width`` columns wide
    wraps between words, never inside an address or a host name."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    rows = [_row(p) for p in plans]
    heads = ("client", "tries, in order", "first attempts; what is wrong")
    longest = [max((len(w) for r in rows for w in r[i].split()), default=1) for i in range(3)]
    lines = max((len(x) for r in rows for x in r[1].splitlines()), default=1)
    tries = max(lines, len(heads[1]))  # an address line never wraps
    widest = max((len(x) for r in rows for x in r[0].splitlines()), default=1)
    # The client column grows towards its longest line while the third keeps 36 or more.
    spare = width - 7 - tries  # 7: two column rules, four of padding, one spare
    client = max(min(spare - max(longest[2], 36), widest), longest[0], 20)
    text = [client, tries, max(spare - client, longest[2])]
    widths = [w + pad for w, pad in zip(text, (1, 2, 1), strict=True)]  # pad_edge=False
    table = Table(
        title=f"What each kind of client does with {seen.domain}",
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_lines=True,
        pad_edge=False,
    )
    for head, w in zip(heads, widths, strict=True):
        table.add_column(head, width=w, overflow="fold")
    for cells in rows:
        table.add_row(*(Text(c) for c in cells))
    return table


def _row(p: Plan) -> tuple[str, str, str]:
    """The three cells of a profile: its key, title and unknowns; where it goes; the split
    of first attempts and its problems."""
    client = "\n".join(
        [p.profile.key, p.profile.title]
        + ([f"unknown: {', '.join(p.profile.unknown)}"] if p.profile.unknown else [])
    )
    first = p.first
    if first is None:
        tries = "configured IPs\n(no DNS)" if p.profile.mode == "static" else "nothing"
    else:
        tries = "\n".join(f"{t.transport.value} {t.hostport}" for t in p.targets)
    split = [f"{s.share:.0%} {s.host}" for s in p.split]
    return client, tries, "\n".join(split + [f"- {x}" for x in p.problems])


def summary(seen: Seen, elapsed_ms: float, where: str = "") -> str:
    """``33 DNS answers from zone files, one walk for every profile, in 13.3 ms``."""
    from ..trace import Query

    answers = sum(1 for e in seen.trace if isinstance(e, Query))
    where = f" {where}" if where else ""
    return f"{answers} DNS answers{where}, one walk for every profile, in {elapsed_ms:.1f} ms"

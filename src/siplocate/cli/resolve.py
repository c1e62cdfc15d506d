"""``siplocate resolve``: the RFC 3263 chain as a tree, the try order and the load split."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, NotFound
from ..limits import DEFAULT_LIMITS
from . import app
from .common import (
    DEFAULT_TIMEOUT,
    LOOKUP_TRIES,
    JsonOpt,
    NameserverOpt,
    TimeoutOpt,
    TransportsOpt,
    ZoneOpt,
    console,
    handle_errors,
    print_json,
    run,
)

# The resolver and rich are imported when a command runs, so --help starts fast.
if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from ..resolution import Branch, Resolution
    from ..resolver import Resolver


ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        metavar="MODE",
        help="DNS mode: naptr (RFC 3263: NAPTR, SRV, A/AAAA), srv (skip NAPTR), a (the "
        "domain's A/AAAA on the default port) or static (the --server addresses, no DNS).",
    ),
]
ServerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--server",
        metavar="ADDR[:PORT]",
        help="Static mode: primary, then backups, in order (repeatable; IPs, no DNS).",
    ),
]


def make_resolver(
    nameserver: list[str] | None,
    zone: list[Path] | None,
    transports: str,
    timeout: float | None = None,
    mode: str = "naptr",
    server: list[str] | None = None,
) -> Resolver:
    """The Resolver every command builds from the shared --nameserver/--zone/--transports
    (and --mode/--server).

    ``timeout`` (--timeout) caps each try and makes the whole lookup give up after
    ``LOOKUP_TRIES`` times that, so a silent nameserver costs what the user chose.
    """
    from ..resolver import Resolver

    zones = [str(z) for z in zone] if zone else None
    if timeout is None:
        timeout, limits = DEFAULT_TIMEOUT, DEFAULT_LIMITS
    else:
        limits = dataclasses.replace(DEFAULT_LIMITS, deadline=LOOKUP_TRIES * timeout)
    return Resolver(
        nameserver or None, zones, transports, timeout=timeout, limits=limits, mode=mode,
        static=server or (),
    )  # fmt: skip


@app.command()
@handle_errors
def resolve(
    target: Annotated[
        str,
        typer.Argument(metavar="TARGET", help="sip:/sips: URI, or a bare domain or host[:port]."),
    ],
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Seed the weighted shuffle, for a reproducible order."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            metavar="TEXT",
            help="Keyed order (e.g. a Call-ID): the same key always gives the same order. "
            "Not with --seed.",
        ),
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Also list every DNS question.")] = False,
    timeout: TimeoutOpt = None,
    mode: ModeOpt = "naptr",
    server: ServerOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show what a SIP client does with TARGET: NAPTR -> SRV -> A/AAAA, try order, load split.

    Examples:

      siplocate resolve sip:alice@example.com

      siplocate resolve example.com --nameserver 127.0.0.1:5300 --transports udp,tcp

      siplocate resolve sip:6903@airties.test --zone examples/zones/airties.test.zone

      siplocate resolve grandstream.test --zone examples/zones/grandstream.test.zone --mode a

    Exit codes: 0 targets found, 1 nothing usable (or DNS unreachable), 2 bad input.
    """
    if seed is not None and key is not None:
        raise BadInput("give --seed or --key, not both: a keyed order has no randomness to seed")
    from ..resolution import Resolution

    resolver = make_resolver(nameserver, zone, transports, timeout, mode, server)
    started = time.perf_counter()
    try:
        result = run(resolver.locate(target, seed=seed, key=key))
    except NotFound as exc:
        partial = exc.resolution
        if isinstance(partial, Resolution):
            if json:
                exc.json_extra = partial.as_dict()  # type: ignore[attr-defined]
            else:
                console.print(chain_tree(partial))
                if trace:
                    console.print(trace_table(partial))
        raise
    elapsed = (time.perf_counter() - started) * 1000
    if json:
        print_json(result.as_dict())
        return
    console.print(chain_tree(result))
    console.print()
    console.print(try_order_table(result))
    console.print()
    for table in share_tables(result):
        console.print(table)
    if trace:
        console.print()
        console.print(trace_table(result))
    console.print(summary_line(result, elapsed), style="dim")


def _styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs: data is never parsed as markup."""
    from rich.text import Text

    return Text.assemble(*parts)


def chain_tree(res: Resolution) -> Tree:
    """domain -> NAPTR records -> SRV records -> addresses, as in the Yealink guide's tables."""
    from rich.text import Text
    from rich.tree import Tree

    root = Tree(_styled((str(res.uri), "bold")))
    for branch in res.branches:
        node = root.add(_branch_label(branch))
        if branch.not_offered:
            node.add(_styled(("SRV 0 0 0 .  (service not offered here)", "yellow")))
        for host in branch.hosts:
            if host.priority is not None:
                label = _styled(
                    f"SRV {host.priority} {host.weight} {host.port} ", (host.name, "cyan")
                )
            else:
                label = _styled((host.name, "cyan"), f" port {host.port}")
            hnode = node.add(label)
            for addr in host.addresses:
                hnode.add(Text(("AAAA " if ":" in addr else "A ") + addr))
            for note in host.notes:
                hnode.add(_styled((note, "yellow")))
    return root


def _branch_label(branch: Branch) -> Text:
    t = (branch.transport.value, "bold magenta")
    if branch.naptr is not None:
        n = branch.naptr
        head = f'NAPTR {n.order} {n.preference} "{n.flags}" "{n.service}" -> {n.replacement}'
        return _styled(head, "  ", t)
    if branch.srv_name:
        return _styled(f"SRV {branch.srv_name}  ", t)
    return _styled(f"address lookup ({branch.via.value})  ", t)


def _table(title: str, columns: tuple[str, ...], right: tuple[str, ...] = ()) -> Table:
    """A borderless table whose cells wrap (fold) instead of being cut with an ellipsis."""
    from rich.table import Table

    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for col in columns:
        table.add_column(col, justify="right" if col in right else "left", overflow="fold")
    return table


def try_order_table(res: Resolution) -> Table:
    from rich.text import Text

    table = _table(
        "Try order",
        ("#", "transport", "host", "address:port", "priority", "weight", "via"),
        ("#", "priority", "weight"),
    )
    for i, t in enumerate(res.targets, 1):
        table.add_row(
            str(i),
            t.transport.value,
            Text(t.host),
            Text(t.hostport),
            "" if t.priority is None else str(t.priority),
            "" if t.weight is None else str(t.weight),
            t.via.value,
        )
    return table


def share_tables(res: Resolution) -> list[Table]:
    """The load split: shares of first attempts (adding up to 100% per transport), then the
    failover tiers, which get attempts only when every server above them has failed."""
    from rich.text import Text

    shares = res.shares()
    first = _table(
        "Load split (RFC 2782 weights: share of first attempts per transport)",
        ("transport", "priority", "host", "weight", "share", ""),
        ("priority", "weight", "share"),
    )
    failover = _table(
        "Failover tiers (tried only when every server above has failed; share within the tier)",
        ("transport", "priority", "host", "weight", "within tier"),
        ("priority", "weight", "within tier"),
    )
    for s in shares:
        cells = [
            s.transport.value,
            "" if s.priority is None else str(s.priority),
            Text(f"{s.host}:{s.port}"),
            "" if s.weight is None else str(s.weight),
            f"{s.share:.0%}",
        ]
        if s.first_tier:
            first.add_row(*cells, "\u2588" * round(s.share * 10))
        else:
            failover.add_row(*cells)
    tables = [first]
    if failover.row_count:
        tables.append(failover)
    return tables


def trace_table(res: Resolution) -> Table:
    from rich.text import Text

    from ..trace import Query

    table = _table(
        "DNS questions", ("question", "type", "from", "ms", "ttl", "answer"), ("ms", "ttl")
    )
    for e in res.trace:
        if isinstance(e, Query):
            src = e.source + (" (parallel)" if e.speculative else "")
            table.add_row(
                Text(e.name),
                e.rdtype,
                Text(src),
                f"{e.ms:.1f}",
                str(e.ttl),
                Text("; ".join(e.answer)),
            )
        else:
            table.add_row(_styled((e.message, "yellow")), "", "", "", "", "")
    return table


def summary_line(res: Resolution, elapsed_ms: float) -> str:
    from ..trace import Query

    queries = [e for e in res.trace if isinstance(e, Query)]
    by_source: dict[str, int] = {}
    for q in queries:
        by_source[q.source] = by_source.get(q.source, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in by_source.items())
    valid = (
        "never expires (no DNS)"
        if res.expires is None
        else f"valid {max(0, res.expires - time.time()):.0f} s (smallest TTL)"
    )
    stale = (
        "; STALE: no nameserver answered, expired answers served (RFC 8767)"
        if "stale" in by_source
        else ""
    )
    return f"{len(queries)} DNS answers ({parts}) in {elapsed_ms:.1f} ms; {valid}{stale}"

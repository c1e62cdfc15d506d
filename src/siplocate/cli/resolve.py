"""``siplocate resolve``: the RFC 3263 chain as a tree, the try order and the load split."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.tree import Tree

from ..errors import NotFound
from ..locate import Resolver
from ..resolution import Branch, Resolution
from ..trace import Query
from . import app
from .common import (
    JsonOpt,
    NameserverOpt,
    TransportsOpt,
    ZoneOpt,
    console,
    handle_errors,
    print_json,
    run,
)


def make_resolver(
    nameserver: list[str] | None, zone: list[Path] | None, transports: str
) -> Resolver:
    """The Resolver every command builds from the shared --nameserver/--zone/--transports."""
    return Resolver(nameserver or None, [str(z) for z in zone] if zone else None, transports)


@app.command()
@handle_errors
def resolve(
    target: Annotated[str, typer.Argument(help="sip:/sips: URI, or a bare domain or host[:port].")],
    nameserver: NameserverOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    seed: Annotated[
        int | None, typer.Option(help="Seed the weighted shuffle, for a reproducible order.")
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            help="Keyed order (e.g. a Call-ID): the same key always gives the same order."
        ),
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Also list every DNS question.")] = False,
    json: JsonOpt = False,
) -> None:
    """Show what a SIP client does with TARGET: NAPTR -> SRV -> A/AAAA, try order, load split.

    Examples:

      siplocate resolve sip:alice@example.com

      siplocate resolve example.com --nameserver 127.0.0.1:5300 --transports udp,tcp

      siplocate resolve sip:6903@airties.test --zone examples/zones/airties.test.zone

    Exit codes: 0 targets found, 1 nothing usable (or DNS unreachable), 2 bad input.
    """
    resolver = make_resolver(nameserver, zone, transports)
    started = time.perf_counter()
    try:
        result = run(resolver.locate(target, seed=seed, key=key))
    except NotFound as exc:
        partial = exc.resolution
        if isinstance(partial, Resolution):
            if json:
                print_json({**partial.as_dict(), "error": str(exc)})
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
    console.print(share_table(result))
    if trace:
        console.print()
        console.print(trace_table(result))
    console.print(summary_line(result, elapsed), style="dim")


def chain_tree(res: Resolution) -> Tree:
    """domain -> NAPTR records -> SRV records -> addresses, as in the Yealink guide's tables."""
    root = Tree(f"[bold]{res.uri}[/bold]")
    for branch in res.branches:
        node = root.add(_branch_label(branch))
        if branch.not_offered:
            node.add("[yellow]SRV 0 0 0 .  (service not offered here)[/yellow]")
        for host in branch.hosts:
            if host.priority is not None:
                label = f"SRV {host.priority} {host.weight} {host.port} [cyan]{host.name}[/cyan]"
            else:
                label = f"[cyan]{host.name}[/cyan] port {host.port}"
            hnode = node.add(label)
            for addr in host.addresses:
                hnode.add(("AAAA " if ":" in addr else "A ") + addr)
            for note in host.notes:
                hnode.add(f"[yellow]{note}[/yellow]")
    return root


def _branch_label(branch: Branch) -> str:
    t = f"[bold magenta]{branch.transport.value}[/bold magenta]"
    if branch.naptr is not None:
        n = branch.naptr
        head = f'NAPTR {n.order} {n.preference} "{n.flags}" "{n.service}" -> {n.replacement}'
        return f"{head}  {t}"
    if branch.srv_name:
        return f"SRV {branch.srv_name}  {t}"
    return f"address lookup ({branch.via.value})  {t}"


def try_order_table(res: Resolution) -> Table:
    table = Table(title="Try order", title_justify="left", box=None, pad_edge=False)
    for col in ("#", "transport", "host", "address:port", "priority", "weight", "via"):
        table.add_column(col, justify="right" if col in ("#", "priority", "weight") else "left")
    for i, t in enumerate(res.targets, 1):
        table.add_row(
            str(i),
            t.transport.value,
            t.host,
            t.hostport,
            "" if t.priority is None else str(t.priority),
            "" if t.weight is None else str(t.weight),
            t.via.value,
        )
    return table


def share_table(res: Resolution) -> Table:
    """Each host's share of first attempts in its priority tier, from the SRV weights."""
    table = Table(
        title="Load split (RFC 2782 weights: share of attempts that start at each host)",
        title_justify="left",
        box=None,
        pad_edge=False,
    )
    for col in ("transport", "tier", "priority", "host", "weight", "share", ""):
        table.add_column(col, justify="right" if col in ("priority", "weight", "share") else "left")
    for s in res.shares():
        table.add_row(
            s.transport.value,
            "first" if s.first_tier else "failover",
            "" if s.priority is None else str(s.priority),
            f"{s.host}:{s.port}",
            "" if s.weight is None else str(s.weight),
            f"{s.share:.0%}",
            "█" * round(s.share * 10),
        )
    return table


def trace_table(res: Resolution) -> Table:
    table = Table(title="DNS questions", title_justify="left", box=None, pad_edge=False)
    for col in ("question", "type", "from", "ms", "ttl", "answer"):
        table.add_column(col, justify="right" if col in ("ms", "ttl") else "left")
    for e in res.trace:
        if isinstance(e, Query):
            src = e.source + (" (parallel)" if e.speculative else "")
            table.add_row(e.name, e.rdtype, src, f"{e.ms:.1f}", str(e.ttl), "; ".join(e.answer))
        else:
            table.add_row(f"[yellow]{e.message}[/yellow]", "", "", "", "", "")
    return table


def summary_line(res: Resolution, elapsed_ms: float) -> str:
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
    return f"{len(queries)} DNS answers ({parts}) in {elapsed_ms:.1f} ms; {valid}"

"""``siplocate resolve``: the RFC 3263 chain as a tree, the try order and the load split."""

from __future__ import annotations

import dataclasses
import functools
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import BadInput, NotFound
from ..limits import DEFAULT_LIMITS
from . import app
from .bulk import DEFAULT_CONCURRENCY, ConcurrencyOpt, FileOpt, Inputs, Outcome, run_all
from .common import (
    LOOKUP_TRIES,
    JsonOpt,
    NameserverOpt,
    PortOpt,
    TimeoutOpt,
    TransportsOpt,
    ZoneOpt,
    asked,
    console,
    err_console,
    handle_errors,
    lookup_source,
    print_json,
    run,
)

# The resolver and rich are imported when a command runs, so --help starts fast.
if TYPE_CHECKING:
    from rich.table import Table
    from rich.text import Text
    from rich.tree import Tree

    from ..dns.source import DnsSource
    from ..resolution import Branch, Resolution
    from ..resolver import Resolver


ModeOpt = Annotated[
    str,
    typer.Option(
        "--mode",
        metavar="MODE",
        help="DNS mode: naptr (RFC 3263: NAPTR, SRV, A/AAAA), srv (skip NAPTR), a (the "
        "domain's A/AAAA on the default port) or static (the --sip-server addresses, no DNS).",
    ),
]
SipServerOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--sip-server",
        metavar="ADDR[:PORT]",
        help="Static mode: the SIP servers, primary, then backups, in order (repeatable; IPs, "
        "no DNS).",
    ),
]


def make_resolver(
    nameserver: list[str] | None,
    zone: list[Path] | None,
    transports: str,
    timeout: float | None = None,
    mode: str = "naptr",
    server: list[str] | None = None,
    port: int | None = None,
    *,
    source: DnsSource | None = None,
) -> Resolver:
    """The Resolver every command builds from the shared --nameserver/@SERVER, -p, --zone,
    --transports (and --mode/--sip-server).

    ``timeout`` (--timeout) caps each try and makes the whole lookup give up after
    ``LOOKUP_TRIES`` times that, so a silent nameserver costs what the user chose.
    ``source``: one already made from those options (its summary names it).
    """
    from ..resolver import Resolver

    limits = DEFAULT_LIMITS
    if timeout is not None:
        limits = dataclasses.replace(DEFAULT_LIMITS, deadline=LOOKUP_TRIES * timeout)
    source = source or lookup_source(nameserver, zone, timeout, port)
    return Resolver(
        transports=transports, source=source, limits=limits, mode=mode, static=server or ()
    )


@app.command()
@handle_errors
def resolve(
    targets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="TARGET...",
            help="sip:/sips: URI, or a bare domain or host[:port]; several, or - to read "
            "them from standard input.",
        ),
    ] = None,
    file: FileOpt = None,
    concurrency: ConcurrencyOpt = DEFAULT_CONCURRENCY,
    nameserver: NameserverOpt = None,
    port: PortOpt = None,
    zone: ZoneOpt = None,
    transports: TransportsOpt = "udp,tcp,tls",
    seed: Annotated[
        int | None,
        typer.Option(metavar="N", help="Seed the weighted shuffle, for a reproducible order."),
    ] = None,
    hash_key: Annotated[
        str | None,
        typer.Option(
            "--hash-key",
            metavar="TEXT",
            help="Keyed order (e.g. a Call-ID): the same key always gives the same order. "
            "Not with --seed.",
        ),
    ] = None,
    trace: Annotated[bool, typer.Option("--trace", help="Also list every DNS question.")] = False,
    short: Annotated[
        bool,
        typer.Option(
            "--short",
            help="Only the try order, one 'TRANSPORT ADDRESS:PORT' line per target (+short too).",
        ),
    ] = False,
    timeout: TimeoutOpt = None,
    mode: ModeOpt = "naptr",
    sip_server: SipServerOpt = None,
    json: JsonOpt = False,
) -> None:
    """Show what a SIP client does with TARGET: NAPTR -> SRV -> A/AAAA, try order, load split.

    TARGET may also be an SRV owner name (_sip._udp.example.com: that SRV name, that
    transport) or an internationalised name (bücher.example: asked as its A-labels).

    Examples:

      siplocate resolve sip:alice@example.com

      siplocate resolve example.com @127.0.0.1 -p 5300 +short

      siplocate resolve example.com --nameserver 127.0.0.1:5300 --transports udp,tcp

      siplocate resolve sip:6903@airties.test --zone examples/zones/airties.test.zone

      siplocate resolve grandstream.test --zone examples/zones/grandstream.test.zone --mode a

      siplocate resolve -f domains.txt -n 127.0.0.1:5300 --json   (one JSON line each)

    Several TARGETs, -f FILE or - (standard input) run over one DNS cache, --concurrency
    at a time, printed in input order; a summary line goes to stderr.

    Exit codes: 0 targets found (for every input), 1 nothing usable (or DNS unreachable;
    for any input), 2 bad input.
    """
    if seed is not None and hash_key is not None:
        raise BadInput(
            "give --seed or --hash-key, not both: a keyed order has no randomness to seed"
        )
    if sip_server and mode.strip().lower() != "static":
        raise BadInput(
            "--sip-server names the SIP servers of the static DNS mode: add --mode static "
            "(to ask a DNS server: -n/--nameserver or @SERVER)"
        )
    if short and (json or trace):
        raise BadInput(
            f"--short prints the try order alone: not with {'--json' if json else '--trace'}"
        )
    from ..resolution import Resolution

    source = lookup_source(nameserver, zone, timeout, port)
    resolver = make_resolver(nameserver, zone, transports, timeout, mode, sip_server, source=source)
    inputs = Inputs(targets, file)
    if inputs.single is None:
        one = functools.partial(_one, resolver, seed, hash_key, trace, asked(source))
        form = "json" if json else "short" if short else "text"
        run_all(inputs, one, concurrency=concurrency, form=form, cleanup=resolver.close)
        return
    uri = resolver.parse(inputs.single)
    if uri.note and short:  # how the input was read (the tree and --json say it too)
        err_console.print(f";; {uri.shown}")
    from ..clock import SYSTEM_CLOCK  # here: the clock loads asyncio, which --help never needs

    started = SYSTEM_CLOCK.monotonic()
    try:
        result = run(resolver.locate(uri, seed=seed, key=hash_key))
    except NotFound as exc:
        partial = exc.resolution
        if isinstance(partial, Resolution):
            if json:
                exc.json_extra = _json(partial)  # type: ignore[attr-defined]
            elif not short:
                _show_partial(partial, trace)
        raise
    elapsed = (SYSTEM_CLOCK.monotonic() - started) * 1000
    if json:
        print_json(_json(result))
        return
    if short:
        for line in _short(result):
            console.print(line)
        return
    _show(result, elapsed, asked(source), trace)


async def _one(
    resolver: Resolver, seed: int | None, key: str | None, trace: bool, where: str, text: str
) -> Outcome:
    """One input of a many-input resolve: its JSON, --short lines and tree (a partial
    chain, shown and counted as failed, when nothing usable was found)."""
    from ..clock import SYSTEM_CLOCK
    from ..resolution import Resolution

    started = SYSTEM_CLOCK.monotonic()
    try:
        result = await resolver.locate(text, seed=seed, key=key)
    except NotFound as exc:
        partial = exc.resolution
        if not isinstance(partial, Resolution):
            raise
        return Outcome(
            _json(partial), show=functools.partial(_show_partial, partial, trace), failure=exc
        )
    elapsed = (SYSTEM_CLOCK.monotonic() - started) * 1000
    show = functools.partial(_show, result, elapsed, where, trace)
    return Outcome(_json(result), _short(result), show)


def _short(res: Resolution) -> list[str]:
    """--short: one ``TRANSPORT ADDRESS:PORT`` line per target, in try order."""
    return [f"{t.transport.value} {t.hostport}" for t in res.targets]


def _show(res: Resolution, elapsed_ms: float, where: str, trace: bool) -> None:
    """resolve's output for people: the tree, the try order, the load split, the summary."""
    console.print(chain_tree(res))
    console.print()
    console.print(try_order_table(res))
    console.print()
    for table in share_tables(res):
        console.print(table)
    if trace:
        console.print()
        console.print(trace_table(res))
    console.print(summary_line(res, elapsed_ms, where), style="dim")


def _show_partial(partial: Resolution, trace: bool) -> None:
    """The chain that explains why nothing usable was found (and its questions)."""
    console.print(chain_tree(partial))
    if trace:
        console.print(trace_table(partial))


def _json(res: Resolution) -> dict[str, object]:
    """resolve's JSON; ``read_as`` (the URI looked up) when the input was rewritten."""
    data = res.as_dict()
    if res.uri.note:
        data["read_as"] = res.uri.canonical
    return data


def _styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs: data is never parsed as markup."""
    from rich.text import Text

    return Text.assemble(*parts)


def chain_tree(res: Resolution) -> Tree:
    """domain -> NAPTR records -> SRV records -> addresses, as in the Yealink guide's tables."""
    from rich.text import Text
    from rich.tree import Tree

    note = (f"  ({res.uri.note})", "dim") if res.uri.note else ""
    root = Tree(_styled((str(res.uri), "bold"), note))
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


def _wrap_name(name: str, width: int) -> str:
    """A DNS name cut into lines of at most ``width`` at its dots, whole labels kept (a label
    longer than ``width`` gets a line of its own)."""
    if len(name) <= width:
        return name
    lines, line = [], ""
    for label in re.split(r"(?<=\.)", name):
        if line and len(line) + len(label) > width:
            lines.append(line)
            line = ""
        line += label
    lines.append(line)
    return "\n".join(lines)


def _fitted(
    title: str,
    columns: tuple[str, ...],
    rows: list[tuple[list[str], str]],
    *,
    right: tuple[str, ...] = (),
    names: tuple[str, ...] = (),
    text: tuple[str, ...] = (),
) -> Table:
    """A borderless table that fits the console: numbers, addresses and ports are never split;
    ``text`` columns wrap at spaces; when that is not enough the ``names`` columns (DNS names)
    wrap at their dots, so no token is ever cut in the middle. Rows are (cells, style)."""
    from rich.table import Table
    from rich.text import Text

    def words(i: int) -> int:
        return max((len(w) for row, _ in rows for w in row[i].split()), default=0)

    natural = [max([len(c)] + [len(row[i]) for row, _ in rows]) for i, c in enumerate(columns)]
    least = [max(len(c), words(i)) if c in text else natural[i] for i, c in enumerate(columns)]
    excess = sum(least) + len(columns) - 1 - console.width
    budget: dict[int, int] = {}
    wrapped = [i for i, c in enumerate(columns) if c in names]
    for i in wrapped if excess > 0 else ():
        label = max((len(x) for row, _ in rows for x in re.split(r"(?<=\.)", row[i])), default=0)
        budget[i] = max(natural[i] - -(-excess // len(wrapped)), label, len(columns[i]))
    table = Table(title=title, title_justify="left", box=None, pad_edge=False, padding=(0, 1, 0, 0))
    for c in columns:
        table.add_column(
            c,
            justify="right" if c in right else "left",
            no_wrap=c not in text,
            overflow="fold",
        )
    for row, style in rows:
        cells = [_wrap_name(v, budget[i]) if i in budget else v for i, v in enumerate(row)]
        table.add_row(*(Text(v) for v in cells), style=style or None)
    return table


def try_order_table(res: Resolution) -> Table:
    rows = [
        (
            [
                str(i),
                t.transport.value,
                t.host,
                t.hostport,
                "" if t.priority is None else str(t.priority),
                "" if t.weight is None else str(t.weight),
                t.via.value,
            ],
            "",
        )
        for i, t in enumerate(res.targets, 1)
    ]
    return _fitted(
        "Try order",
        ("#", "transport", "host", "address:port", "priority", "weight", "via"),
        rows,
        right=("#", "priority", "weight"),
        names=("host",),
    )


def share_tables(res: Resolution) -> list[Table]:
    """The load split: shares of first attempts (adding up to 100% per transport), then the
    failover tiers, which get attempts only when every server above them has failed."""
    first: list[tuple[list[str], str]] = []
    failover: list[tuple[list[str], str]] = []
    for s in res.shares():
        cells = [
            s.transport.value,
            "" if s.priority is None else str(s.priority),
            f"{s.host}:{s.port}",
            "" if s.weight is None else str(s.weight),
            f"{s.share:.0%}",
        ]
        if s.first_tier:
            first.append(([*cells, "\u2588" * round(s.share * 10)], ""))
        else:
            failover.append((cells, ""))
    tables = [
        _fitted(
            "Load split (RFC 2782 weights: share of first attempts per transport)",
            ("transport", "priority", "host", "weight", "share", ""),
            first,
            right=("priority", "weight", "share"),
            names=("host",),
        )
    ]
    if failover:
        tables.append(
            _fitted(
                "Failover tiers (tried only when every server above has failed; share within "
                "the tier)",
                ("transport", "priority", "host", "weight", "within tier"),
                failover,
                right=("priority", "weight", "within tier"),
                names=("host",),
            )
        )
    return tables


def trace_table(res: Resolution) -> Table:
    """Every DNS question and decision, in order; a decision (note) reads across the answer
    column, so the question column stays as wide as the names."""
    from ..trace import Query

    rows: list[tuple[list[str], str]] = []
    for e in res.trace:
        if isinstance(e, Query):
            src = e.source + (" (parallel)" if e.speculative else "")
            cells = [e.name, e.rdtype, src, f"{e.ms:.1f}", str(e.ttl), "; ".join(e.answer)]
            rows.append((cells, ""))
        else:
            rows.append((["", "note", "", "", "", e.message], "yellow"))
    return _fitted(
        "DNS questions",
        ("question", "type", "from", "ms", "ttl", "answer"),
        rows,
        right=("ms", "ttl"),
        names=("question",),
        text=("from", "answer"),
    )


def summary_line(res: Resolution, elapsed_ms: float, where: str = "") -> str:
    """``8 DNS answers from zone files in 2.8 ms; valid ...``: how many answers, where they
    came from (the nameservers asked, and /etc/resolv.conf when none was given), how long."""
    from ..clock import SYSTEM_CLOCK
    from ..trace import Query

    queries = [e for e in res.trace if isinstance(e, Query)]
    by_source: dict[str, int] = {}
    for q in queries:
        by_source[q.source] = by_source.get(q.source, 0) + 1
    parts = ", ".join(f"{n} {s}" for s, n in by_source.items())
    parts = f" ({parts})" if parts and set(by_source) - {"zone", "cache"} else ""
    where = f" {where}" if where else ""
    valid = (
        "never expires (no DNS)"
        if res.expires is None
        else f"valid {max(0, res.expires - SYSTEM_CLOCK.wall()):.0f} s (smallest TTL)"
    )
    stale = (
        "; STALE: no nameserver answered, expired answers served (RFC 8767)"
        if "stale" in by_source
        else ""
    )
    return f"{len(queries)} DNS answers{parts}{where} in {elapsed_ms:.1f} ms; {valid}{stale}"

"""The status page rendered on the server, from the same state ``/api/state`` serves: complete
at first paint and without JavaScript; the script only swaps in newer renderings.

Everything from DNS, zone files and SIP answers is hostile: every text and attribute value
goes through ``esc``. No inline style or script (the page's Content-Security-Policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from html import escape
from importlib import resources
from typing import Any

from .impact import BADGES, Level

State = Mapping[str, Any]  # Watcher.state(): JSON-ready data
RANK = {Level.DOWN: 0, Level.DEGRADED: 1, Level.BACKUP_DOWN: 2, Level.UNKNOWN: 3, Level.UP: 4}
SPARK_W, SPARK_H, SPARK_N = 130, 22, 60


def esc(value: object) -> str:
    """Text or attribute value, HTML-escaped (quotes too)."""
    return escape(str(value), quote=True)


def document(state: State) -> str:
    """The whole page: the template with the rendered parts in place."""
    html = resources.files(__package__).joinpath("static", "index.html").read_text("utf-8")
    p = parts(state)
    return (
        html.replace("<!--title-->", esc(p["title"]))
        .replace("<!--summary-->", p["summary"])
        .replace("<!--domains-->", p["domains"])
        .replace("<!--events-->", p["events"])
        .replace("<!--version-->", esc(p["version"]))
        .replace("<!--asof-->", esc("as of " + clock(state["now"])))
    )


def parts(state: State) -> dict[str, Any]:
    """The page's changing parts as HTML (what the live stream sends)."""
    domains = sorted(state["domains"], key=lambda d: (RANK[Level(d["state"])], d["domain"]))
    counts = {level: 0 for level in Level}
    for d in domains:
        counts[Level(d["state"])] += 1
    mark = "✖ " if counts[Level.DOWN] else "▲ " if counts[Level.DEGRADED] else ""
    return {
        "version": state["version"],
        "interval": state["interval"],
        "title": mark + "siplocate watch",
        "summary": summary(state, counts),
        "domains": "".join(domain(d, state["now"]) for d in domains)
        or '<p class="muted">No domain resolved yet.</p>',
        "events": events(state["events"]),
    }


def summary(state: State, counts: Mapping[Level, int]) -> str:
    doms = state["domains"]
    servers = sum(d["servers"] for d in doms)
    targets = sum(d["targets"] for d in doms)
    items: list[tuple[object, str]] = [(len(doms), "domains")]
    items += [(counts[lv], BADGES[lv]) for lv in (Level.UP, Level.DEGRADED, Level.BACKUP_DOWN)]
    items += [
        (counts[Level.DOWN], "down"),
        (f"{sum(d['servers_up'] for d in doms)} / {servers}", "servers answer"),
        (f"{sum(d['targets_up'] for d in doms)} / {targets}", "targets"),
        (state["interval"], "s probe interval"),
    ]
    return "".join(f"<span><b>{esc(n)}</b> {esc(label)}</span>" for n, label in items)


def domain(d: Mapping[str, Any], now: float) -> str:
    state = d["state"]
    dns = d["dns"]
    warn = ""
    if dns["error"]:
        warn += f'<span class="err">DNS failing: {esc(dns["error"])} · </span>'
    if dns["stale"]:
        warn += '<span class="warn">serving stale DNS · </span>'
    head = (
        f'<div class="dhead"><span class="dname">{esc(d["domain"])}</span>'
        f'<span class="badge {esc(state)}">{esc(BADGES[Level(state)])}</span>'
        f'<span class="muted counts">{esc(d["servers_up"])} of {esc(d["servers"])} servers, '
        f"{esc(d['targets_up'])} of {esc(d['targets'])} targets answer</span>"
        f'<span class="dns">{warn}resolved {esc(ago(dns["resolved_at"], now))} in '
        f"{esc(dns['resolve_ms'])} ms · next {esc(until(dns['next_resolve'], now))}</span></div>"
    )
    impact = f'<p class="impact {esc(state)}">{esc(d["impact"])}</p>'
    body = f'<ul class="tree"><li><span class="node">{esc(d["domain"])}</span><ul>'
    body += "".join(branch(b) for b in d["tree"]) + "</ul></li></ul>"
    body += order(d["try_order"]) + findings(d["findings"])
    return (
        f'<article class="domain {esc(state)}" data-domain="{esc(d["domain"])}">'
        f'{head}{impact}<div class="dbody">{body}</div></article>'
    )


def branch(b: Mapping[str, Any]) -> str:
    if b["naptr"]:
        node = kind("NAPTR", b["naptr"].removeprefix("NAPTR "))
    elif b["srv"]:
        node = kind("SRV", f"{b['srv']} ({b['via']})")
    else:
        node = kind("A/AAAA", f"address fallback, {b['transport']}")
    inner = hosts(b)
    if b["naptr"] and b["srv"]:
        inner = f"<li>{kind('SRV', b['srv'])}<ul>{inner}</ul></li>"
    return f"<li>{node}<ul>{inner}</ul></li>"


def kind(label: str, text: str) -> str:
    return f'<div class="node"><span class="kind">{esc(label)}</span>{esc(text)}</div>'


def hosts(b: Mapping[str, Any]) -> str:
    if b["not_offered"]:
        return '<li class="muted">target ".": service not offered</li>'
    out = []
    for h in b["hosts"]:
        node = f'<div class="node"><span class="kind">HOST</span>{esc(h["name"])}:{esc(h["port"])}'
        if h["priority"] is not None:
            node += f'<span class="srvinfo">priority {esc(h["priority"])} weight {esc(h["weight"])}'
            if h["share"] is not None:
                node += " · " + share_text(h["share"], h["tier"])
            node += "</span>"
            if h["share"] is not None:
                node += share_bar(h["share"], h["tier"])
        node += "</div>"
        rows = "".join(f"<li>{target(t)}</li>" for t in h["targets"])
        if not rows:
            rows = f'<li class="muted">{esc("; ".join(h["notes"]) or "no addresses")}</li>'
        out.append(f"<li>{node}<ul>{rows}</ul></li>")
    return "".join(out)


def share_text(share: float, tier: int | None) -> str:
    """A host's share of first attempts (first tier), or of the tries that reach its tier."""
    pct = f"{round(share * 100)}%"
    if not tier:
        return esc(f"{pct} of first tries")
    return esc(f"backup tier {tier}: {pct} of tries reaching it")


def share_bar(share: float, tier: int | None) -> str:
    cls = "share backup" if tier else "share"
    return (
        f'<svg class="{cls}" viewBox="0 0 100 6" preserveAspectRatio="none" aria-hidden="true">'
        f'<rect class="bg" width="100" height="6"/><rect width="{share * 100:.1f}" height="6"/>'
        "</svg>"
    )


def addr(t: Mapping[str, Any]) -> str:
    a = t["address"]
    return f"{t['transport']} {f'[{a}]' if ':' in a else a}:{t['port']}"


def target(t: Mapping[str, Any]) -> str:
    state = "up" if t["up"] is True else "down" if t["up"] is False else "unknown"
    rtt = t.get("rtt_ms")
    if t["up"] is None:
        status = "not probed"
    elif t["up"] is False:
        status = t.get("error") or (str(t["status"]) if t.get("status") else "no answer")
    else:
        status = "" if t.get("status") is None else str(t["status"])
    return (
        f'<div class="target {state}" data-target="{esc(addr(t))}" data-state="{state}">'
        f'<span class="dot"></span><span class="node addr">{esc(addr(t))}</span>'
        f'<span class="rtt">{"—" if rtt is None else f"{rtt:.1f} ms"}</span>'
        f"{sparkline(t.get('spark') or [])}"
        f'<span class="status" title="{esc(status)}">{esc(status)}</span></div>'
    )


def sparkline(values: Sequence[float | None]) -> str:
    """The last probes' RTT as a line; runs of failures as red bands."""
    ok = [v for v in values if v is not None]
    top = max([1.0, *ok]) * 1.15
    step = SPARK_W / (SPARK_N - 1)
    off = SPARK_W - step * (len(values) - 1)
    shapes: list[str] = []
    points: list[str] = []
    fail_from = -1

    def flush() -> None:
        if points:
            if len(points) == 1:
                x, y = points[0].split(",")
                points.append(f"{float(x) + 1:.1f},{y}")
            shapes.append(f'<polyline points="{" ".join(points)}"/>')
            points.clear()

    def band(start: int, end: int) -> None:
        x = off + start * step - 1
        shapes.append(
            f'<rect class="fail" x="{x:.1f}" y="0" width="{(end - start) * step + 2:.1f}" '
            f'height="{SPARK_H}"/>'
        )

    for i, v in enumerate(values):
        if v is None:
            fail_from = i if fail_from < 0 else fail_from
            flush()
        else:
            if fail_from >= 0:
                band(fail_from, i - 1)
                fail_from = -1
            points.append(f"{off + i * step:.1f},{21 - v / top * 20:.1f}")
    if fail_from >= 0:
        band(fail_from, len(values) - 1)
    flush()
    title = f"RTT min {min(ok)} ms, max {max(ok)} ms" if ok else "no answers"
    return (
        f'<svg class="spark" viewBox="0 0 {SPARK_W} {SPARK_H}" preserveAspectRatio="none">'
        f"{''.join(shapes)}<title>{esc(title)}</title></svg>"
    )


def order(try_order: Sequence[Mapping[str, Any]]) -> str:
    if not try_order:
        return ""
    chips = []
    for t in try_order:
        state = "lands" if t["lands"] else "down" if t["up"] is False else "up" if t["up"] else ""
        title = ' title="clients end up here"' if t["lands"] else ""
        chips.append(f'<span class="chip {state}"{title}>{esc(addr(t))}</span>')
    arrows = '<span class="arrow">→</span>'.join(chips)
    return f'<div class="order"><span class="muted">Try order:</span>{arrows}</div>'


def findings(items: Iterable[Mapping[str, Any]]) -> str:
    rows = "".join(
        f'<li><span class="sev {esc(f["severity"])}">{esc(f["severity"])}</span>'
        f'<span class="node">{esc(f["code"])} </span>{esc(f["message"])}</li>'
        for f in items
    )
    return f'<ul class="findings">{rows}</ul>' if rows else ""


def events(items: Sequence[Mapping[str, Any]]) -> str:
    if not items:
        return '<li class="muted">Nothing has happened yet.</li>'
    return "".join(
        f'<li class="{esc(e["kind"])}"><time datetime="{esc(e["time"])}">'
        f"{esc(e['time'].replace('T', ' ').replace('+00:00', ' UTC'))}</time>"
        f'<span class="k">{esc(e["kind"].replace("_", " "))}</span>{esc(e["message"])}</li>'
        for e in items
    )


def clock(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S UTC")


def ago(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    s = max(0, round(now - ts))
    if s < 90:
        return f"{s} s ago"
    return f"{round(s / 60)} min ago" if s < 5400 else f"{round(s / 3600)} h ago"


def until(ts: float | None, now: float) -> str:
    if not ts:
        return "never"
    s = round(ts - now)
    return "now" if s <= 0 else f"in {s} s"

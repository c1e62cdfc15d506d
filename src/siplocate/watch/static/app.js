// siplocate watch status page: renders /api/state, kept live by server-sent events
// (/api/stream), falling back to polling. No framework; every string goes in as text.
"use strict";

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}

function ago(ts, now) {
  if (!ts) return "never";
  const s = Math.max(0, Math.round(now - ts));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}

function inSeconds(ts, now) {
  if (!ts) return "never";
  const s = Math.round(ts - now);
  return s <= 0 ? "now" : "in " + s + " s";
}

function addr(t) {
  const a = t.address.indexOf(":") >= 0 ? "[" + t.address + "]" : t.address;
  return t.transport + " " + a + ":" + t.port;
}

const SVG = "http://www.w3.org/2000/svg";
function sparkline(values) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 130 22");
  svg.setAttribute("preserveAspectRatio", "none");
  const vals = values || [];
  const ok = vals.filter((v) => v !== null);
  const max = Math.max(1, ...ok) * 1.15;
  const step = 130 / Math.max(1, 59);
  const off = 130 - step * (vals.length - 1);
  let pts = [];
  let failFrom = -1; // consecutive failures become one red band, not one rect each
  const band = (from, to) => {
    const r = document.createElementNS(SVG, "rect");
    r.setAttribute("class", "fail");
    r.setAttribute("x", (off + from * step - 1).toFixed(1)); r.setAttribute("y", "0");
    r.setAttribute("width", ((to - from) * step + 2).toFixed(1)); r.setAttribute("height", "22");
    svg.appendChild(r);
  };
  vals.forEach((v, i) => {
    const x = off + i * step;
    if (v === null) {
      if (failFrom < 0) failFrom = i;
      if (pts.length) { line(svg, pts); pts = []; }
    } else {
      if (failFrom >= 0) { band(failFrom, i - 1); failFrom = -1; }
      pts.push(x.toFixed(1) + "," + (21 - (v / max) * 20).toFixed(1));
    }
  });
  if (failFrom >= 0) band(failFrom, vals.length - 1);
  if (pts.length) line(svg, pts);
  const title = document.createElementNS(SVG, "title");
  title.textContent = ok.length ? "RTT min " + Math.min(...ok) + " ms, max " + Math.max(...ok) + " ms" : "no answers";
  svg.appendChild(title);
  return svg;
}
function line(svg, pts) {
  if (pts.length === 1) pts.push(pts[0].replace(/^[\d.]+/, (x) => (parseFloat(x) + 1).toFixed(1)));
  const p = document.createElementNS(SVG, "polyline");
  p.setAttribute("points", pts.join(" "));
  svg.appendChild(p);
}

function targetRow(t) {
  const state = t.up === true ? "up" : t.up === false ? "down" : "unknown";
  const row = el("div", "target " + state);
  row.dataset.target = addr(t);
  row.dataset.state = state;
  row.appendChild(el("span", "dot"));
  row.appendChild(el("span", "node addr", addr(t)));
  row.appendChild(el("span", "rtt", t.rtt_ms !== null && t.rtt_ms !== undefined ? t.rtt_ms.toFixed(1) + " ms" : "—"));
  row.appendChild(sparkline(t.spark));
  let status = t.up === null || t.up === undefined ? "not probed" : t.status !== null ? String(t.status) : "";
  if (t.up === false) status = t.error || (t.status ? t.status + "" : "no answer");
  const s = el("span", "status", status);
  s.title = status;
  row.appendChild(s);
  return row;
}

function renderDomain(d, now) {
  const box = el("article", "domain " + d.state);
  box.dataset.domain = d.domain;
  const head = el("div", "dhead");
  head.appendChild(el("span", "dname", d.domain));
  head.appendChild(el("span", "badge " + d.state, d.state));
  head.appendChild(el("span", "muted", d.targets_up + " / " + d.targets + " targets answer"));
  const dns = el("span", "dns");
  if (d.dns.error) dns.appendChild(el("span", "err", "DNS failing: " + d.dns.error + " · "));
  if (d.dns.stale) dns.appendChild(el("span", "warn", "serving stale DNS · "));
  dns.appendChild(document.createTextNode("resolved " + ago(d.dns.resolved_at, now) + " in " +
    d.dns.resolve_ms + " ms · next " + inSeconds(d.dns.next_resolve, now)));
  head.appendChild(dns);
  box.appendChild(head);

  const body = el("div", "dbody");
  const tree = el("ul", "tree");
  const root = el("li");
  root.appendChild(el("span", "node", d.domain));
  const branches = el("ul");
  for (const b of d.tree) {
    const bl = el("li");
    const bn = el("div", "node");
    if (b.naptr) { bn.appendChild(el("span", "kind", "NAPTR")); bn.appendChild(document.createTextNode(b.naptr.replace(/^NAPTR /, ""))); }
    else if (b.srv) { bn.appendChild(el("span", "kind", "SRV")); bn.appendChild(document.createTextNode(b.srv + " (" + b.via + ")")); }
    else { bn.appendChild(el("span", "kind", "A/AAAA")); bn.appendChild(document.createTextNode("address fallback, " + b.transport)); }
    bl.appendChild(bn);
    const hosts = el("ul");
    if (b.naptr && b.srv) {
      const sl = el("li");
      const sn = el("div", "node");
      sn.appendChild(el("span", "kind", "SRV")); sn.appendChild(document.createTextNode(b.srv));
      sl.appendChild(sn);
      const inner = el("ul");
      sl.appendChild(inner);
      hosts.appendChild(sl);
      fillHosts(inner, b);
    } else {
      fillHosts(hosts, b);
    }
    bl.appendChild(hosts);
    branches.appendChild(bl);
  }
  root.appendChild(branches);
  tree.appendChild(root);
  body.appendChild(tree);

  if (d.try_order.length) {
    const order = el("div", "order");
    order.appendChild(el("span", "muted", "Try order:"));
    d.try_order.forEach((t, i) => {
      if (i) order.appendChild(el("span", "arrow", "→"));
      const state = t.lands ? "lands" : t.up === false ? "down" : t.up ? "up" : "";
      const c = el("span", "chip " + state, addr(t));
      if (t.lands) c.title = "clients end up here";
      order.appendChild(c);
    });
    body.appendChild(order);
  }
  if (d.findings.length) {
    const ul = el("ul", "findings");
    for (const f of d.findings) {
      const li = el("li");
      li.appendChild(el("span", "sev " + f.severity, f.severity));
      li.appendChild(el("span", "node", f.code + " "));
      li.appendChild(document.createTextNode(f.message));
      ul.appendChild(li);
    }
    body.appendChild(ul);
  }
  box.appendChild(body);
  return box;
}

function fillHosts(list, b) {
  if (b.not_offered) { list.appendChild(el("li", "muted", "target \".\": service not offered")); return; }
  for (const h of b.hosts) {
    const hl = el("li");
    const hn = el("div", "node");
    hn.appendChild(el("span", "kind", "HOST"));
    hn.appendChild(document.createTextNode(h.name + ":" + h.port));
    if (h.priority !== null) {
      hn.appendChild(el("span", "srvinfo", "priority " + h.priority + " weight " + h.weight +
        (h.share !== null ? " · " + Math.round(h.share * 100) + "% of first tries" + (h.first_tier ? "" : " (backup tier)") : "")));
      if (h.share !== null) {
        const bar = el("span", "share"); const fill = el("i");
        fill.style.width = Math.round(h.share * 100) + "%";
        bar.appendChild(fill); hn.appendChild(bar);
      }
    }
    hl.appendChild(hn);
    const tl = el("ul");
    for (const t of h.targets) { const li = el("li"); li.appendChild(targetRow(t)); tl.appendChild(li); }
    if (!h.targets.length) tl.appendChild(el("li", "muted", (h.notes || []).join("; ") || "no addresses"));
    hl.appendChild(tl);
    list.appendChild(hl);
  }
}

function renderEvents(events) {
  const ol = document.getElementById("events");
  ol.replaceChildren();
  if (!events.length) { ol.appendChild(el("li", "muted", "Nothing has happened yet.")); return; }
  for (const e of events) {
    const li = el("li", e.kind);
    li.appendChild(el("time", null, e.time.replace("T", " ").replace("+00:00", " UTC")));
    li.appendChild(el("span", "k", e.kind.replace("_", " ")));
    li.appendChild(document.createTextNode(e.message));
    ol.appendChild(li);
  }
}

function render(state) {
  const now = state.now;
  const counts = { up: 0, degraded: 0, down: 0, unknown: 0 };
  let targets = 0, up = 0;
  for (const d of state.domains) { counts[d.state]++; targets += d.targets; up += d.targets_up; }
  const sum = document.getElementById("summary");
  sum.replaceChildren();
  const part = (label, n) => { const s = el("span"); s.appendChild(el("b", null, n)); s.appendChild(document.createTextNode(" " + label)); sum.appendChild(s); };
  part("domains", state.domains.length);
  part("up", counts.up); part("degraded", counts.degraded); part("down", counts.down);
  part("targets answering of " + targets, up);
  part("s probe interval", state.interval);
  const t0 = performance.now();
  const box = document.getElementById("domains");
  const rank = { down: 0, degraded: 1, unknown: 2, up: 3 }; // trouble first, then by name
  const domains = [...state.domains].sort((a, b) => rank[a.state] - rank[b.state] ||
    (a.domain < b.domain ? -1 : a.domain > b.domain ? 1 : 0));
  box.replaceChildren(...domains.map((d) => renderDomain(d, now)));
  box.dataset.renderMs = (performance.now() - t0).toFixed(1);
  box.dataset.version = state.version;
  renderEvents(state.events);
  document.title = (counts.down ? "✖ " : counts.degraded ? "▲ " : "") + "siplocate watch";
}

function live(on, text) {
  const l = document.getElementById("live");
  l.className = "live " + (on ? "on" : "off");
  l.lastElementChild.textContent = text;
}

// A big installation (1,000 targets) takes a few hundred ms to draw: draw the newest state
// only, no more often than every 3 draw-times, and not at all while the tab is hidden.
let latest = null, drawTimer = null, lastDraw = 0, drawCost = 0;
function schedule(data) {
  latest = data;
  if (drawTimer !== null || document.hidden) return;
  const wait = Math.max(0, lastDraw + 3 * drawCost - performance.now());
  drawTimer = setTimeout(draw, wait);
}
function draw() {
  drawTimer = null;
  if (latest === null) return;
  const t0 = performance.now();
  render(JSON.parse(latest));
  latest = null;
  lastDraw = performance.now();
  drawCost = lastDraw - t0;
}
document.addEventListener("visibilitychange", () => { if (!document.hidden && latest !== null) schedule(latest); });

let pollTimer = null;
async function poll() {
  try {
    const r = await fetch("/api/state", { cache: "no-store" });
    const s = await r.json();
    render(s);
    live(true, "polling");
    pollTimer = setTimeout(poll, Math.max(1000, s.interval * 500));
  } catch (e) {
    live(false, "disconnected");
    pollTimer = setTimeout(poll, 3000);
  }
}

function start() {
  const mode = new URLSearchParams(location.search).get("mode");
  if (mode === "poll" || !window.EventSource) { poll(); return; }
  const es = new EventSource("/api/stream");
  es.addEventListener("state", (ev) => { schedule(ev.data); live(true, "live"); });
  es.onerror = () => { live(false, "reconnecting"); };
}

start();

// siplocate watch status page. The server renders the page (complete without this script);
// this keeps it live: each `page` event of /api/stream?view=page, or each poll of /api/page
// (/?mode=poll), carries the page's parts rendered by the server, already HTML-escaped.
"use strict";

// A big installation (1,000 targets) takes a while to draw: draw the newest parts only, no
// more often than every 3 draw-times, and not at all while the tab is hidden.
let latest = null, drawTimer = null, lastDraw = 0, drawCost = 0;
function schedule(parts) {
  latest = parts;
  if (drawTimer !== null || document.hidden) return;
  const wait = Math.max(0, lastDraw + 3 * drawCost - performance.now());
  drawTimer = setTimeout(draw, wait);
}
function draw() {
  drawTimer = null;
  if (latest === null) return;
  const t0 = performance.now();
  const p = latest;
  latest = null;
  const box = document.getElementById("domains");
  if (String(p.version) !== box.dataset.version) {
    document.getElementById("summary").innerHTML = p.summary;
    box.innerHTML = p.domains;
    document.getElementById("events").innerHTML = p.events;
    document.title = p.title;
    box.dataset.version = p.version;
  }
  lastDraw = performance.now();
  drawCost = lastDraw - t0;
  box.dataset.renderMs = drawCost.toFixed(1);
}
document.addEventListener("visibilitychange", () => { if (!document.hidden && latest !== null) schedule(latest); });

function live(on, text) {
  const l = document.getElementById("live");
  l.className = "live " + (on ? "on" : "off");
  l.lastElementChild.textContent = text;
}

async function poll() {
  try {
    const r = await fetch("/api/page", { cache: "no-store" });
    const p = await r.json();
    schedule(p);
    live(true, "polling");
    setTimeout(poll, Math.max(1000, p.interval * 500));
  } catch (e) {
    live(false, "disconnected");
    setTimeout(poll, 3000);
  }
}

function start() {
  const mode = new URLSearchParams(location.search).get("mode");
  if (mode === "poll" || !window.EventSource || !window.Worker) { poll(); return; }
  const w = new Worker("/static/live.js");
  w.onmessage = (m) => {
    if (m.data.kind === "page") { schedule(JSON.parse(m.data.data)); live(true, "live"); }
    else live(false, "reconnecting");
  };
}

start();

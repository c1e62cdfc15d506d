// A dedicated worker holding the live stream, so the page itself has no request that never
// ends (headless Chromium's --virtual-time-budget waits for every request of the page).
"use strict";
const es = new EventSource("/api/stream?view=page");
es.addEventListener("page", (ev) => postMessage({ kind: "page", data: ev.data }));
es.onerror = () => postMessage({ kind: "error" });

"""Watch HTTP server under a stranger's load (issue 17): what stays answering.

A real ``siplocate watch`` child (one domain from a zone file; its SIP target is a UDP port
that never answers, so every probe waits its whole timeout), started with a soft and hard
fd limit of 1024 (the raise to the hard limit then changes nothing: the worst case).

1. Idle connections: N TCP connections opened and held (nothing sent); then /healthz and
   /metrics are asked 10 times each (2 s timeout each): how many answered.
2. SSE clients: N connections each sending ``GET /api/stream`` and never reading; the same
   10 + 10 questions.
3. /probe: C concurrent callers with ``X-Prometheus-Scrape-Timeout-Seconds: 5``: statuses
   and when the last one was answered.

``--src DIR`` runs another checkout's code in the child (e.g. main's, for before/after):

  git worktree add --detach /tmp/watchhttp-base main
  .venv/bin/python bench/bench_watch_http.py --src /tmp/watchhttp-base/src

Run: .venv/bin/python bench/bench_watch_http.py [--connections 1100] [--callers 200]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

ZONE = """$ORIGIN slow.test.
$TTL 60
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 10 0 {port} sip1
sip1 IN A 127.0.0.1
"""


class Watch:
    """``siplocate watch slow.test`` with RLIMIT_NOFILE (1024, 1024), on a free port."""

    def __init__(self, src: Path, workdir: Path, blackhole: int, nofile: int) -> None:
        zone = workdir / "slow.test.zone"
        zone.write_text(ZONE.format(port=blackhole))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        env = {**os.environ, "PYTHONPATH": str(src)}
        cmd = [sys.executable, "-m", "siplocate", "watch", "slow.test", "-z", str(zone)]
        cmd += ["--interval", "1", "--timeout", "1", "-t", "udp", "--quiet"]
        cmd += ["--listen", f"127.0.0.1:{self.port}"]
        self.stderr_path = workdir / "stderr.txt"

        def limit() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.stderr_path, "wb"),  # noqa: SIM115
            preexec_fn=limit,
            start_new_session=True,
        )
        for _ in range(300):  # bounded: 15 s
            if self.get("/healthz", 0.5) == 200:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        raise RuntimeError(f"watch did not start: {self.stderr_path.read_text()[-2000:]}")

    def get(self, path: str, timeout: float = 2.0) -> int | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout):
                return 200
        except urllib.error.HTTPError as exc:
            return exc.code
        except (OSError, urllib.error.URLError):
            return None

    def answers(self, path: str, n: int = 10) -> int:
        return sum(self.get(path) == 200 for _ in range(n))

    def stop(self) -> str:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)
        return self.stderr_path.read_text(errors="replace")


async def hold(port: int, n: int, request: bytes | None) -> list[asyncio.StreamWriter]:
    """Open ``n`` connections (each bounded by a 3 s connect timeout); send ``request``."""

    async def one() -> asyncio.StreamWriter | None:
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 3)
        except (OSError, TimeoutError):
            return None
        if request is not None:
            writer.write(request)
        return writer

    got = await asyncio.gather(*(one() for _ in range(n)))
    await asyncio.sleep(0.5)
    return [w for w in got if w is not None]


def release(writers: list[asyncio.StreamWriter]) -> None:
    for w in writers:
        w.transport.abort()


async def held_load(w: Watch, n: int, request: bytes | None, label: str) -> None:
    started = time.monotonic()
    writers = await hold(w.port, n, request)
    opened = time.monotonic() - started
    healthz = await asyncio.to_thread(w.answers, "/healthz")
    metrics = await asyncio.to_thread(w.answers, "/metrics")
    print(
        f"{label}: {len(writers)} of {n} connected in {opened:.1f} s; "
        f"/healthz answered {healthz} of 10, /metrics {metrics} of 10"
    )
    release(writers)
    await asyncio.sleep(1.0)


async def probe_callers(w: Watch, callers: int, scrape_timeout: float) -> None:
    import aiohttp

    url = f"http://127.0.0.1:{w.port}/probe?target=slow.test"
    headers = {"X-Prometheus-Scrape-Timeout-Seconds": f"{scrape_timeout:g}"}
    started = time.monotonic()

    async def one(session: aiohttp.ClientSession) -> tuple[str, float]:
        try:
            async with session.get(url, headers=headers) as resp:
                await resp.read()
                return str(resp.status), time.monotonic() - started
        except (aiohttp.ClientError, TimeoutError) as exc:
            return type(exc).__name__, time.monotonic() - started

    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        results = await asyncio.gather(*(one(session) for _ in range(callers)))
    statuses = Counter(r[0] for r in results)
    last = max(r[1] for r in results)
    late = sum(r[1] > scrape_timeout for r in results)
    shown = ", ".join(f"{k} x{v}" for k, v in sorted(statuses.items()))
    print(
        f"/probe, {callers} concurrent callers, scrape timeout {scrape_timeout:g} s: {shown}; "
        f"last answer after {last:.1f} s; {late} answered after the scrape timeout"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="code the child runs")
    parser.add_argument("--connections", type=int, default=1100)
    parser.add_argument("--callers", type=int, default=200)
    parser.add_argument("--nofile", type=int, default=1024, help="the child's fd limit")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, args.connections * 2 + 256)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    print(f"code: {args.src}; child fd limit {args.nofile} (soft = hard)")
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.1", 0))
    get_stream = b"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    with tempfile.TemporaryDirectory(prefix="bench-watch-http-") as tmp:
        for label, request in (("idle connections", None), ("SSE clients", get_stream)):
            w = Watch(args.src, Path(tmp), blackhole.getsockname()[1], args.nofile)
            try:
                await held_load(w, args.connections, request, f"{args.connections} {label}")
            finally:
                err = w.stop()
            emfile = err.count("Too many open files")
            tracebacks = err.count("Traceback")
            print(f"  watcher stderr: {emfile} 'Too many open files', {tracebacks} tracebacks")
        w = Watch(args.src, Path(tmp), blackhole.getsockname()[1], args.nofile)
        try:
            await probe_callers(w, args.callers, 5.0)
        finally:
            w.stop()
    blackhole.close()


if __name__ == "__main__":
    asyncio.run(main())

"""The watch HTTP server as a stranger on loopback sees it: a real ``siplocate watch`` process
(an offline zone, a SIP target that never answers), attacked with real sockets."""

from __future__ import annotations

import concurrent.futures
import contextlib
import socket
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.watch import WatchProcess, WebhookReceiver, http_get, wait_for

pytestmark = pytest.mark.integration

ZONE = """$ORIGIN slow.test.
$TTL 60
@ IN SOA ns hostmaster 1 3600 600 86400 60
@ IN NS ns
ns IN A 127.0.0.1
@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp
_sip._udp IN SRV 10 0 {port} sip1
sip1 IN A 127.0.0.1
"""


@pytest.fixture
def blackhole() -> Iterator[int]:
    """A UDP port that takes OPTIONS and never answers: every probe waits its whole timeout."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture
def zone(tmp_path: Path, blackhole: int) -> Path:
    path = tmp_path / "slow.test.zone"
    path.write_text(ZONE.format(port=blackhole))
    return path


def watch(zone: Path, *extra: str, nofile: tuple[int, int] | None = None) -> WatchProcess:
    args = ["slow.test", "-z", str(zone), "--interval", "1", "--timeout", "0.5", "-t", "udp"]
    return WatchProcess([*args, *extra], nofile=nofile).start()


def healthz_answers(w: WatchProcess, n: int = 10) -> int:
    ok = 0
    for _ in range(n):
        with contextlib.suppress(OSError, urllib.error.URLError):
            ok += http_get(w.url + "/healthz", 2.0) == "ok\n"
    return ok


def is_open(sock: socket.socket) -> bool:
    """True while the server keeps the connection (nothing to read, no FIN, no RST)."""
    try:
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False


def raw_get(w: WatchProcess, path: str, timeout: float = 5.0) -> tuple[socket.socket, str]:
    """A GET on a new connection; the socket (left open) and the status line."""
    sock = socket.create_connection(("127.0.0.1", w.port), timeout=timeout)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{w.port}\r\n\r\n".encode())
    line = b""
    while not line.endswith(b"\r\n") and len(line) < 200:
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return sock, line.decode(errors="replace").strip()


def test_connection_cap_keeps_healthz_and_metrics_answering(zone: Path) -> None:
    """With a low fd limit, more idle connections than descriptors made /healthz fail 10/10
    (accept() hit EMFILE). Now the cap holds, idle ones give way, and the soft fd limit is
    raised to the hard one."""
    w = watch(zone, "--max-connections", "40", nofile=(96, 160))
    held: list[socket.socket] = []
    try:
        limits = Path(f"/proc/{w.proc.pid}/limits").read_text()  # type: ignore[union-attr]
        (line,) = [ln for ln in limits.splitlines() if ln.startswith("Max open files")]
        assert line.split()[3:5] == ["160", "160"], line  # soft raised to hard
        for _ in range(200):  # more than the fd limit of the watcher
            held.append(socket.create_connection(("127.0.0.1", w.port), timeout=5))
        assert healthz_answers(w) == 10
        assert "siplocate_target_up" in w.metrics()
        time.sleep(0.3)
        still = sum(is_open(s) for s in held)
        assert still <= 40, still
        assert "Traceback" not in w.stderr() and "Too many open files" not in w.stderr()
    finally:
        for s in held:
            s.close()
        w.stop()


def test_sse_streams_are_capped_and_healthz_answers(zone: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "w.toml"
    cfg.write_text("max_streams = 5\n")
    w = watch(zone, "--config", str(cfg), "--max-connections", "60", nofile=(160, 160))
    held: list[socket.socket] = []
    try:
        statuses = []
        for _ in range(30):
            sock, status = raw_get(w, "/api/stream")
            held.append(sock)
            statuses.append(status.split(" ")[1] if " " in status else status)
        assert statuses.count("200") == 5 and statuses.count("503") == 25, statuses
        assert healthz_answers(w) == 10
        assert "siplocate_target_up" in w.metrics()
    finally:
        for s in held:
            s.close()
        w.stop()


def test_slow_headers_and_silent_connections_are_closed(zone: Path) -> None:
    """A connection sending one header byte every few seconds, or nothing, stayed open
    for good; now the header timeout closes both."""
    w = watch(zone, "--header-timeout", "1")
    try:
        silent = socket.create_connection(("127.0.0.1", w.port), timeout=5)
        slow = socket.create_connection(("127.0.0.1", w.port), timeout=5)
        request = f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{w.port}\r\n\r\n".encode()
        started = time.monotonic()
        closed_after = None
        for i in range(len(request) - 1):  # never the last byte; bounded: ~0.2 s each
            try:
                slow.send(request[i : i + 1])
            except OSError:
                closed_after = time.monotonic() - started
                break
            if not is_open(slow):
                closed_after = time.monotonic() - started
                break
            time.sleep(0.2)
        assert closed_after is not None and closed_after < 3.0, closed_after
        wait_for(lambda: not is_open(silent), 3.0, "the silent connection to be closed")
        assert healthz_answers(w, 3) == 3  # a client that does send its headers is served
    finally:
        w.stop()


def test_probe_callers_are_bounded_and_stop_at_the_scrape_timeout(
    zone: Path, tmp_path: Path
) -> None:
    """200 callers with a 5 s scrape timeout were answered one batch after another, the last
    after 50 s. Now the ones over the bound get 503 at once and each admitted probe stops at
    the scrape timeout (minus a margin)."""
    cfg = tmp_path / "w.toml"
    cfg.write_text("max_probes = 4\n")
    w = watch(zone, "--config", str(cfg), "--timeout", "20")  # each OPTIONS waits 20 s

    def call(_: int) -> tuple[int, float, str]:
        started = time.monotonic()
        req = urllib.request.Request(
            w.url + "/probe?target=slow.test",
            headers={"X-Prometheus-Scrape-Timeout-Seconds": "2"},
        )
        try:
            with urllib.request.urlopen(req, timeout=15) as resp:
                status, body = resp.status, resp.read().decode()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read().decode()
            assert exc.headers["Retry-After"], exc.headers
        return status, time.monotonic() - started, body

    try:
        with concurrent.futures.ThreadPoolExecutor(12) as pool:
            results = list(pool.map(call, range(12)))
        statuses = sorted(r[0] for r in results)
        slowest = max(r[1] for r in results)
        print(f"\n12 /probe callers, bound 4, scrape timeout 2 s: {statuses}, last {slowest:.2f} s")
        assert slowest < 2.0 + 1.5, results
        assert set(statuses) <= {200, 503} and 1 <= statuses.count(200) <= 4, statuses
        for status, took, body in results:
            if status == 200:
                assert "probe_success 0.0" in body and took >= 1.0, (took, body)
    finally:
        w.stop()


def test_host_header_and_probe_any_targets_are_checked(zone: Path) -> None:
    """`Host: evil.example` got 200 (DNS rebinding); --probe-any sent SIP OPTIONS to a
    non-SIP TCP service named as IP:port;transport=tcp."""
    service = socket.socket()
    service.bind(("127.0.0.1", 0))
    service.listen(8)
    service.settimeout(1.0)
    port = service.getsockname()[1]
    w = watch(zone, "--probe-any", "--allowed-host", "mon.example", "-t", "udp,tcp")
    try:
        for host, status in (("evil.example", 403), ("mon.example:1", 200), ("127.0.0.1", 200)):
            req = urllib.request.Request(w.url + "/api/state", headers={"Host": host})
            try:
                with urllib.request.urlopen(req, timeout=5) as resp:
                    got = resp.status
            except urllib.error.HTTPError as exc:
                got = exc.code
            assert got == status, host
        for target in (f"127.0.0.1:{port};transport=tcp", f"sip:127.0.0.1:{port}"):
            url = w.url + "/probe?" + urllib.parse.urlencode({"target": target})
            with pytest.raises(urllib.error.HTTPError) as err:
                urllib.request.urlopen(url, timeout=5)
            assert err.value.code == 400
        with pytest.raises(TimeoutError):
            service.accept()  # nobody connected to the non-SIP service
    finally:
        service.close()
        w.stop()


def test_webhook_does_not_follow_redirects(zone: Path) -> None:
    """A 307 from the webhook made the watcher re-POST the event to the host it named."""
    elsewhere = WebhookReceiver()
    hook = WebhookReceiver(redirect_to=elsewhere.url)
    w = watch(zone, "--webhook", hook.url)
    try:
        wait_for(lambda: hook.redirected >= 2, 15, "events POSTed to the webhook")
        time.sleep(1.0)  # room for a followed redirect to arrive
        assert elsewhere.received == []
    finally:
        w.stop()
        hook.stop()
        elsewhere.stop()


def test_sse_clients_dropping_early_leave_stderr_quiet(zone: Path) -> None:
    w = watch(zone)
    try:
        for i in range(40):
            sock = socket.create_connection(("127.0.0.1", w.port), timeout=5)
            sock.sendall(f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{w.port}\r\n\r\n".encode())
            if i % 2:  # half with a reset, half with a FIN
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00" * 2)
            sock.close()
        _, status = raw_get(w, "/api/stream")
        assert status.endswith("200 OK")
        time.sleep(0.5)
        assert healthz_answers(w, 2) == 2
        assert "Traceback" not in w.stderr() and "Error handling" not in w.stderr(), w.stderr()
    finally:
        w.stop()

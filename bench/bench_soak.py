"""Soak with faults: `siplocate register --follow --probe-interval 1` held registered for a
fixed time against real Kamailio registrars and a real BIND9 on loopback, while a seeded
script kills, SIGSTOPs and restarts the registrars and stops and restarts BIND at random.

A registration counts as valid when an OPTIONS to the AOR, sent every 0.5 s to each
registrar, is relayed by Kamailio (``lookup("location")``) and answered by the client
itself: the binding exists on a live registrar and reaches the client, as a call would.
Faults come one at a time (the other registrar stays up), each held 2-8 s, 2-6 s apart.

Prints: the longest time without a valid registration, the failed requests (REGISTER
tries without a final answer or with a 5xx, and rounds that found no registrar), the
time to re-establish after each fault, and the client's RSS and open fds at start and end.

Run: .venv/bin/python bench/bench_soak.py [--duration 600] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fixtures.bind import BindServer  # noqa: E402
from tests.fixtures.kamailio import (  # noqa: E402
    CLIENT_DOMAIN,
    PASSWORD,
    Cluster,
    cluster_zone,
)
from tests.fixtures.servers import require_binary  # noqa: E402

AOR = f"sip:alice@{CLIENT_DOMAIN}"
ADDRESSES = ["127.0.0.2", "127.0.0.3"]


def aor_answered(address: str, port: int, timeout: float) -> bool:
    """OPTIONS sip:alice@DOMAIN to one registrar: did the *client* answer (relayed)?"""
    branch = f"z9hG4bKsoak{time.monotonic_ns()}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        lport = s.getsockname()[1]
        msg = (
            f"OPTIONS {AOR} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP 127.0.0.1:{lport};branch={branch};rport\r\n"
            f"Max-Forwards: 70\r\nFrom: <sip:soak@127.0.0.1>;tag=1\r\n"
            f"To: <{AOR}>\r\nCall-ID: {branch}\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        )
        s.settimeout(timeout)
        try:
            s.sendto(msg.encode(), (address, port))
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                data = s.recv(65535)
                head = data.decode(errors="replace")
                if head.startswith("SIP/2.0 1"):
                    continue
                return head.startswith("SIP/2.0 200") and "\r\nServer: siplocate\r\n" in head
        except OSError:
            return False
    return False


def stable_port(address: str) -> int:
    """A free port below the kernel's ephemeral range, so that no client socket of another
    process takes it while its server is down between a stop and a restart."""
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(20000, 32000)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                u.bind((address, port))
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
                t.bind((address, port))
            if address == "127.0.0.1":
                with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as u6:
                    u6.bind(("::1", port))
        except OSError:
            continue
        return port
    raise RuntimeError(f"no stable free port on {address}")


def proc_stats(pid: int) -> tuple[int, int]:
    """(RSS in KiB, open file descriptors) of ``pid``."""
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return rss, len(os.listdir(f"/proc/{pid}/fd"))


@dataclass
class Fault:
    kind: str  # kill | stop | dns
    what: str
    start: float
    end: float = 0.0
    restored_valid: float | None = None  # first valid probe after the fault began


@dataclass
class Soak:
    duration: float
    seed: int
    plan: list[tuple[str, int]] | None = None  # (kind, registrar index) instead of random
    cluster: Cluster | None = None
    bind: BindServer | None = None
    zone: Path | None = None
    named: str = ""
    client: subprocess.Popen[str] | None = None
    events: list[dict[str, object]] = field(default_factory=list)
    probes: list[tuple[float, bool]] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    stop_probing: threading.Event = field(default_factory=threading.Event)
    workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="siplocate-soak-")))

    # -- servers -------------------------------------------------------------------------------

    def start_dns(self, port: int = 0) -> None:
        assert self.zone is not None
        bind = BindServer({CLIENT_DOMAIN: self.zone}, named=self.named, port=port)
        self.bind = bind.start(timeout=30)

    def setup(self) -> None:
        from tests.fixtures.kamailio import Kamailio

        self.named = require_binary("named", "bind9")
        kamailio = require_binary("kamailio", "kamailio")
        pairs = [(a, stable_port(a)) for a in ADDRESSES]
        self.zone = self.workdir / f"{CLIENT_DOMAIN}.zone"
        self.zone.write_text(cluster_zone(CLIENT_DOMAIN, pairs, ttl=5))
        self.start_dns(stable_port("127.0.0.1"))
        assert self.bind is not None
        self.cluster = Cluster(CLIENT_DOMAIN, pairs, self.bind.nameserver)
        self.cluster.servers = [Kamailio(a, kamailio=kamailio, port=p) for a, p in pairs]
        for server in self.cluster.servers:
            server.start()

    def start_client(self) -> None:
        assert self.bind is not None
        pw = self.workdir / "pw"
        pw.write_text(PASSWORD + "\n")
        args = [
            sys.executable, "-c", "from siplocate.cli import main; main()",
            "register", AOR, "--password-file", str(pw), "--follow", "--json",
            "--probe-interval", "1", "--expires", "60", "-n", self.bind.nameserver, "-t", "udp",
        ]  # fmt: skip
        self.client = subprocess.Popen(
            args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        threading.Thread(target=self._read_events, daemon=True).start()

    def _read_events(self) -> None:
        assert self.client is not None and self.client.stdout is not None
        for line in self.client.stdout:
            try:
                self.events.append(json.loads(line))
            except ValueError:
                continue

    def _probe(self) -> None:
        assert self.cluster is not None
        while not self.stop_probing.is_set():
            started = time.monotonic()
            results: list[bool] = []

            def ask(address: str, port: int, out: list[bool] = results) -> None:
                out.append(aor_answered(address, port, 0.4))

            threads = [
                threading.Thread(target=ask, args=(s.address, s.port)) for s in self.cluster.servers
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.probes.append((time.time(), any(results)))
            self.stop_probing.wait(max(0.0, 0.5 - (time.monotonic() - started)))

    # -- faults --------------------------------------------------------------------------------

    def fault(self, rng: random.Random) -> Fault:
        assert self.cluster is not None and self.bind is not None
        kind = rng.choice(["kill", "kill", "stop", "stop", "dns"])
        index = rng.randrange(len(self.cluster.servers))
        if self.plan:
            kind, index = self.plan[len(self.faults) % len(self.plan)]
        server = self.cluster.servers[index]
        hold = rng.uniform(2.0, 8.0)
        if kind == "dns":
            f = Fault(kind, "named", time.time())
            port = self.bind.port
            self.bind.stop()
            time.sleep(hold)
            self.start_dns(port)
        elif kind == "kill":
            f = Fault(kind, server.hostport, time.time())
            server.kill()
            time.sleep(hold)
            server.start()
        else:
            f = Fault(kind, server.hostport, time.time())
            server.pause()
            time.sleep(hold)
            server.resume()
        f.end = time.time()
        return f

    def run(self) -> dict[str, object]:
        rng = random.Random(self.seed)
        self.setup()
        self.start_client()
        assert self.client is not None
        deadline = time.monotonic() + 20
        while not any(e.get("event") == "registered" for e in self.events):
            if time.monotonic() > deadline or self.client.poll() is not None:
                raise RuntimeError(f"client never registered: {self.events}")
            time.sleep(0.05)
        time.sleep(1.0)
        start_stats = proc_stats(self.client.pid)
        prober = threading.Thread(target=self._probe, daemon=True)
        prober.start()
        began = time.time()
        end = time.monotonic() + self.duration
        while time.monotonic() < end:
            time.sleep(min(rng.uniform(2.0, 6.0), max(0.0, end - time.monotonic())))
            if time.monotonic() >= end - 2:
                break
            self.faults.append(self.fault(rng))
        time.sleep(3.0)  # let the last fault's recovery show
        self.stop_probing.set()
        prober.join()
        end_stats = proc_stats(self.client.pid)
        alive = self.client.poll() is None
        return self.report(began, start_stats, end_stats, alive)

    def report(
        self,
        began: float,
        start_stats: tuple[int, int],
        end_stats: tuple[int, int],
        alive: bool,
    ) -> dict[str, object]:
        longest, gap_start = 0.0, None
        for at, valid in self.probes:
            if not valid and gap_start is None:
                gap_start = at
            elif valid and gap_start is not None:
                longest = max(longest, at - gap_start)
                gap_start = None
        if gap_start is not None:
            longest = max(longest, self.probes[-1][0] - gap_start)
        for i, f in enumerate(self.faults):
            until = self.faults[i + 1].start if i + 1 < len(self.faults) else math_inf()
            f.restored_valid = next(
                (at for at, valid in self.probes if f.start <= at < until and valid), None
            )
        attempts = [
            a
            for e in self.events
            if isinstance(e.get("at"), float) and float(e["at"]) >= began  # type: ignore[arg-type]
            for a in e.get("attempts", [])  # type: ignore[union-attr]
        ]
        failed = [
            a
            for a in attempts
            if a["status"] is None or int(a["status"]) >= 500  # type: ignore[index]
        ]
        lost = [e for e in self.events if e.get("event") == "lost"]
        return {
            "duration": self.duration,
            "seed": self.seed,
            "faults": self.faults,
            "probes": len(self.probes),
            "valid_probes": sum(1 for _, v in self.probes if v),
            "longest_gap": longest,
            "requests": len(attempts),
            "failed_requests": len(failed),
            "lost_rounds": len(lost),
            "events": len(self.events),
            "rss_kib": (start_stats[0], end_stats[0]),
            "fds": (start_stats[1], end_stats[1]),
            "client_alive": alive,
        }

    def stop(self) -> None:
        self.stop_probing.set()
        if self.client is not None and self.client.poll() is None:
            self.client.send_signal(signal.SIGTERM)
            try:
                self.client.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.client.kill()
                self.client.wait()
        if self.cluster is not None:
            self.cluster.stop()
        if self.bind is not None:
            self.bind.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


def math_inf() -> float:
    return float("inf")


def soak(
    duration: float, seed: int, plan: list[tuple[str, int]] | None = None
) -> dict[str, object]:
    s = Soak(duration, seed, plan)
    try:
        return s.run()
    finally:
        s.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=600.0, help="seconds (default 600)")
    parser.add_argument("--seed", type=int, default=1, help="fault script seed")
    args = parser.parse_args()
    started = time.monotonic()
    r = soak(args.duration, args.seed)
    faults: list[Fault] = r["faults"]  # type: ignore[assignment]
    print("siplocate soak: `register --follow --probe-interval 1 --expires 60` (UDP), 2 real")
    print("Kamailio registrars + real BIND9 on loopback; one fault at a time, seeded.")
    print(
        f"duration {args.duration:g} s, seed {args.seed}, wall {time.monotonic() - started:.0f} s"
    )
    kinds = {k: sum(1 for f in faults if f.kind == k) for k in ("kill", "stop", "dns")}
    print(f"faults: {len(faults)} (SIGKILL+restart {kinds['kill']}, SIGSTOP+SIGCONT "
          f"{kinds['stop']}, named stop+restart {kinds['dns']})")  # fmt: skip
    recover = [f.restored_valid - f.start for f in faults if f.restored_valid is not None]
    never = [f for f in faults if f.restored_valid is None]
    if recover:
        recover.sort()
        median = recover[len(recover) // 2]
        print(f"valid registration seen after each fault began: median {median:.2f} s,"
              f" max {recover[-1]:.2f} s; faults with none before the next: "
              f"{len(never)}")  # fmt: skip
    print(f"longest time without a valid registration: {r['longest_gap']:.2f} s "
          f"({r['valid_probes']}/{r['probes']} probes valid, every 0.5 s)")  # fmt: skip
    print(f"failed requests: {r['failed_requests']} of {r['requests']} REGISTER tries "
          f"(no final answer or 5xx); rounds with no registrar: {r['lost_rounds']}")  # fmt: skip
    rss, fds = r["rss_kib"], r["fds"]
    print(f"client RSS: {rss[0] / 1024:.1f} MiB at start, {rss[1] / 1024:.1f} MiB at end")  # type: ignore[index]
    print(f"client open fds: {fds[0]} at start, {fds[1]} at end")  # type: ignore[index]
    print(f"client still running: {r['client_alive']}")


if __name__ == "__main__":
    main()

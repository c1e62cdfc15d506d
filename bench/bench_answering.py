"""The answering side under an INVITE flood (issue 17): a registered client, its registrar
relaying a stream of INVITEs to it that nobody ever ACKs.

Real BIND9 serves ``client.test`` (NAPTR/SRV to one real Kamailio on 127.0.0.2); the client
is ``siplocate register --follow`` in a subprocess (UDP, short expiry so that refreshes fall
inside the flood). A flooder on 127.0.0.1 sends ``--count`` INVITEs to the AOR through
Kamailio (``lookup("location")`` + ``t_relay``) at ``--rate`` per second, each with its own
Call-ID and branch, and never ACKs; Kamailio relays each one to the client.

Prints: the client's RSS before the flood, its peak growth (VmHWM - baseline) and its RSS
when the flood's transactions are over; how many INVITEs got a final answer from the client
(its own response, ``Server: siplocate``; its 503 refusals reach the flooder as Kamailio's
``500 Service Unavailable``: RFC 3261 §16.7 has a proxy turn a 503 into a 500, and Kamailio
keeps the reason phrase), how many got only a Kamailio answer or none, the datagrams the
client's socket dropped (``/proc/net/udp``); whether the client is still registered (an
OPTIONS to the AOR through Kamailio, answered by the client) and answers a normal call.

``--src DIR`` runs the client from another source tree (e.g. a worktree of main) for a
baseline measured the same way. ``--per-transaction`` instead prints what one live INVITE
server transaction costs (tracemalloc, 5,000 of them answered and waiting for the ACK, the
parsed requests included), for this tree and ``--src``.

Run: .venv/bin/python bench/bench_answering.py [--count 20000] [--rate 2000]
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_soak import aor_answered  # noqa: E402
from tests.fixtures.flood import Flooder, invite  # noqa: E402
from tests.fixtures.kamailio import (  # noqa: E402
    CLIENT_DOMAIN,
    PASSWORD,
    Kamailio,
    start_client_dns,
)
from tests.fixtures.servers import require_binary  # noqa: E402

AOR = f"sip:alice@{CLIENT_DOMAIN}"
#: Kamailio's shared memory for the run, MB: its default (64) holds only ~4,500 transactions,
#: and each of these lives ~32 s in Kamailio too (the flooder never ACKs); past that it drops
#: INVITEs silently, which would measure the registrar rather than the client.
SHM_MB = 512


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of ``pid`` in KiB."""
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                out[name] = int(value.split()[0])
    return out


def socket_drops(pid: int) -> int:
    """Datagrams the kernel dropped on ``pid``'s UDP sockets (receive buffer full)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("socket:["):
                inodes.add(link[8:-1])
    drops = 0
    for path in ("/proc/net/udp", "/proc/net/udp6"):
        with contextlib.suppress(OSError), open(path) as f:
            for line in list(f)[1:]:
                fields = line.split()
                if fields[9] in inodes:
                    drops += int(fields[-1])
    return drops


def call_answered(registrar: tuple[str, int], timeout: float = 3.0) -> int | None:
    """One ordinary INVITE to the AOR: the client's final code, or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(timeout)
        call_id = f"after{time.monotonic_ns()}"
        s.sendto(invite(AOR, call_id, s.getsockname()[1]), registrar)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                data = s.recv(65535)
            except TimeoutError:
                return None
            if data.startswith(b"SIP/2.0 ") and data[8:9] != b"1":
                own = b"\r\nServer: siplocate\r\n" in data
                return int(data[8:11]) if own else None
    return None


#: ``--answer CODE``: the client as a library user whose application answers every call.
ACCEPTING = """
import asyncio, json, sys
from siplocate.client import Registration, SipClient
aor, password, nameserver, code = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

async def main():
    udp = ("udp",)
    async with SipClient(aor, password=password, nameservers=[nameserver], transports=udp) as c:
        c.on_invite = lambda request: code
        note = lambda event: print(json.dumps({"event": event.event}), flush=True)
        await Registration(c, expires=10, on_event=note).run(asyncio.Event())

asyncio.run(main())
"""


def start_client(
    nameserver: str, src: Path | None, workdir: Path, answer: int | None
) -> subprocess.Popen[str]:
    """``register --follow`` (no application: calls get 480), or with ``answer`` a library
    client whose application answers every call with that code."""
    pw = workdir / "pw"
    pw.write_text(PASSWORD + "\n")
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    args = [
        sys.executable, "-c", "from siplocate.cli import main; main()",
        "register", AOR, "--password-file", str(pw), "--follow", "--json",
        "--expires", "10", "-n", nameserver, "-t", "udp",
    ]  # fmt: skip
    if answer is not None:
        args = [sys.executable, "-c", ACCEPTING, AOR, PASSWORD, nameserver, str(answer)]
    return subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )


#: Run in a subprocess (so that ``--src`` decides which siplocate it is): KiB per live INVITE
#: server transaction, answered ``sys.argv[1]`` (0: no application, 480), never ACKed.
PER_TRANSACTION = """
import asyncio, gc, sys, tracemalloc
from siplocate.client import SipClient
from siplocate.sip.message import parse_message
from siplocate.sip.transport import Connection
from siplocate.target import Target, Transport
try:
    from siplocate.sip.server import AnswerLimits
    unbounded = {"answering": AnswerLimits(10**6, 10**6)}
except ImportError:
    unbounded = {}

class Quiet(Connection):
    def send(self, data):
        pass

def invite(i):
    return parse_message((
        f"INVITE sip:alice@127.0.0.1:40000 SIP/2.0\\r\\n"
        f"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKk{i}\\r\\n"
        f"Via: SIP/2.0/UDP 127.0.0.9:5099;branch=z9hG4bKb{i};rport=5099\\r\\n"
        f"From: <sip:bob@client.test>;tag=t{i}\\r\\nTo: <sip:alice@client.test>\\r\\n"
        f"Call-ID: c{i}\\r\\nCSeq: 1 INVITE\\r\\nContact: <sip:bob@127.0.0.9:5099>\\r\\n"
        f"Content-Length: 0\\r\\n\\r\\n").encode())

async def main(code, n=5000):
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"], **unbounded)
    if code:
        client.on_invite = lambda request: code
    conn = Quiet(Target(Transport.UDP, "127.0.0.2", 5060, "127.0.0.2"), print, print)
    conn.local = ("127.0.0.1", 40000)
    for i in range(10):
        client.answerer.serve(invite(-i - 1), conn)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        client.answerer.serve(invite(i), conn)
    for _ in range(5):
        await asyncio.sleep(0)
    gc.collect()
    print((tracemalloc.get_traced_memory()[0] - before) / n / 1024)

asyncio.run(main(int(sys.argv[1])))
"""


def per_transaction(src: Path | None) -> None:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    for code in (0, 200):
        out = subprocess.run(
            [sys.executable, "-c", PER_TRANSACTION, str(code)],
            env=env, capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        what = "accepted (a dialog too)" if code else "480, no application"
        print(f"  {src or 'this tree'}: {float(out):.2f} KiB per live INVITE transaction, {what}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=20_000)
    ap.add_argument("--rate", type=float, default=2_000)
    ap.add_argument("--settle", type=float, default=40.0, help="seconds to wait after the flood")
    ap.add_argument("--src", type=Path, help="run the client from this source tree")
    ap.add_argument("--answer", type=int, help="the application answers calls with this code")
    ap.add_argument("--per-transaction", action="store_true", help="see above")
    args = ap.parse_args()
    if args.per_transaction:
        print("memory per live server transaction (tracemalloc, 5,000 INVITEs, never ACKed)")
        per_transaction(None)
        if args.src is not None:
            per_transaction(args.src)
        return

    dns = start_client_dns(["127.0.0.2"])
    ((address, port),) = dns.addresses
    binary = require_binary("kamailio", "kamailio")
    kamailio = Kamailio(address, kamailio=binary, port=port, shm_mb=SHM_MB)
    kamailio.start()
    registrar = (address, port)
    workdir = Path(tempfile.mkdtemp(prefix="siplocate-bench-answering-"))
    client = start_client(dns.nameserver, args.src, workdir, args.answer)
    events: list[dict[str, object]] = []

    def read_events() -> None:
        assert client.stdout is not None
        for line in client.stdout:
            try:
                events.append(json.loads(line))
            except ValueError:
                continue

    threading.Thread(target=read_events, daemon=True).start()
    flooder: Flooder | None = None
    try:
        deadline = time.monotonic() + 20
        while not any(e.get("event") == "registered" for e in events):
            if time.monotonic() > deadline or client.poll() is not None:
                raise SystemExit("the client did not register")
            time.sleep(0.05)
        time.sleep(1.0)
        assert aor_answered(*registrar, 2.0), "the client does not answer before the flood"
        base = status(client.pid)["VmRSS"]
        flooder = Flooder(registrar, AOR)
        took = flooder.flood(args.count, args.rate)
        flooded = time.monotonic()
        end = time.monotonic() + args.settle
        while time.monotonic() < end and client.poll() is None:
            time.sleep(0.25)
        alive = client.poll() is None
        final = status(client.pid) if alive else {"VmRSS": 0, "VmHWM": 0}
        drops = socket_drops(client.pid) if alive else -1
        registered = alive and aor_answered(*registrar, 2.0)
        after_call = call_answered(registrar) if alive else None
        codes = {
            who: dict(
                sorted(
                    collections.Counter(c for c, w in flooder.finals.values() if w == who).items()
                )
            )
            for who in ("client", "kamailio")
        }
        answered = sum(codes["client"].values())
        src = str(args.src) if args.src else "this tree"
        app = f"calls answered {args.answer}" if args.answer else "register --follow"
        print(f"answering under an INVITE flood (client from {src}, {app}; Kamailio -m {SHM_MB})")
        print(f"  INVITEs sent: {args.count} in {took:.1f} s ({args.count / took:.0f}/s)")
        print(f"  client RSS before: {base / 1024:.1f} MiB")
        print(f"  peak RSS growth:   {(final['VmHWM'] - base) / 1024:.1f} MiB")
        growth = (final["VmRSS"] - base) / 1024
        print(f"  RSS at the end:    {final['VmRSS'] / 1024:.1f} MiB ({growth:+.1f} MiB, "
              f"{time.monotonic() - flooded:.0f} s after the flood)")  # fmt: skip
        print(f"  final answer from the client: {answered} of {args.count} "
              f"({100 * answered / args.count:.1f}%): {codes['client']}")  # fmt: skip
        print(f"  only Kamailio's answer: {sum(codes['kamailio'].values())} {codes['kamailio']}; "
              f"no final answer: {args.count - len(flooder.finals)}")  # fmt: skip
        print(f"  datagrams dropped by the client's socket: {drops}")
        print(f"  client alive: {alive}; still registered: {registered}; "
              f"a call after the flood answered: {after_call}")  # fmt: skip
    finally:
        if flooder is not None:
            flooder.close()
        client.terminate()
        try:
            client.wait(10)
        except subprocess.TimeoutExpired:
            client.kill()
        kamailio.stop()
        dns.bind.stop()


if __name__ == "__main__":
    main()

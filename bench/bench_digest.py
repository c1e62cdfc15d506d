"""REGISTERs sent and time to exit against hostile digest servers (issue 17).

Two scripted loopback servers (tests/fixtures/badsip.py) each answer every REGISTER with a
401: one calls every nonce stale (``stale=true``), one challenges realm "attacker" (MD5, no
qop). ``siplocate register --once`` runs against each in a child process, killed at
``--cap`` seconds if it has not exited. Printed per server: REGISTERs received, how many
carried credentials, the seconds until the child exited (or "killed at the cap"), its exit
code. Before the fix the stale server got tens of thousands of REGISTERs and the child never
exited; the attacker server got the password's digest at once.

``--src DIR`` runs another checkout's code (e.g. ``--src /work/main/src`` for the "before"
figures) with this interpreter.

Run: .venv/bin/python bench/bench_digest.py [--cap 5] [--src DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures.badsip import BadResponder  # noqa: E402
from tests.fixtures.servers import free_port  # noqa: E402

STALE = 'WWW-Authenticate: Digest realm="victim.test", nonce="n", qop="auth", stale=true'
ATTACKER = 'WWW-Authenticate: Digest realm="attacker", nonce="00112233", algorithm=MD5'
#: (label, challenge, extra arguments)
CASES = [
    ("stale-forever", STALE, []),
    ("attacker realm", ATTACKER, []),
    ("attacker realm", ATTACKER, ["--realm", "victim.test"]),
]


def run(
    name: str, challenge: str, extra: list[str], cap: float, src: Path | None, password: Path
) -> str:
    address = "127.0.0.1"
    bad = BadResponder(address, free_port(address), "401 Unauthorized", [challenge]).start()
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = str(src)
    args = [sys.executable, "-m", "siplocate", "register", "sip:alice@victim.test",
            "--password-file", str(password), "--once", "--policy", "static",
            "--sip-server", f"{address}:{bad.port}", "-t", "udp", "--t1", "100ms",
            *extra]  # fmt: skip
    start = time.perf_counter()
    child = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _, err = child.communicate(timeout=cap)
        took = f"exited after {time.perf_counter() - start:6.2f} s, code {child.returncode}"
    except subprocess.TimeoutExpired:
        child.kill()
        _, err = child.communicate()
        took = f"killed at the {cap:g} s cap (never exited)"
    finally:
        bad.stop()
    line = err.decode(errors="replace").strip().splitlines()
    why = line[-1][:160] if line else ""
    label = f"{name} {' '.join(extra)}".strip()
    return (
        f"{label:<35} REGISTERs {bad.received:>6}  with credentials {bad.authorized:>6}  {took}\n"
        f"{'':<4} stderr: {why}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cap", type=float, default=5.0, help="kill the child after this long")
    parser.add_argument("--src", type=Path, help="run this source tree instead (PYTHONPATH)")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="siplocate-bench-") as folder:
        password = Path(folder) / "pw"
        password.write_text("secret\n")
        password.chmod(0o600)
        print(f"code: {opts.src or ROOT / 'src'}")
        for name, challenge, extra in CASES:
            print(run(name, challenge, extra, opts.cap, opts.src, password))


if __name__ == "__main__":
    main()

"""Admin-tool speed: start-up time, and `zone lint` / `resolve --zone` on big generated zones.

Prints, each beside a baseline measured in the same run:
  - start-up: median wall time of 11 runs of `siplocate --version`, `--help` and
    `resolve -z FILE`, against `python -c pass` (the interpreter's own start);
  - `zone lint` wall time and peak RSS on generated 100,000 and 1,500,000-record zones,
    against `named-checkzone` on the same file (when bind9-utils is installed);
  - `resolve --zone` (a SIP domain, and an NXDOMAIN name) on the same zones, and the time
    of one NXDOMAIN lookup once the zone is loaded.

    python bench/bench_admin.py [--sizes 100000,1500000] [--runs 11]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SIPLOCATE = [sys.executable, "-m", "siplocate"]
AIRTIES = ROOT / "examples" / "zones" / "airties.test.zone"


def run(cmd: list[str]) -> tuple[float, int, int]:
    """(wall seconds, peak RSS in MiB, exit code) of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss // 1024, proc.returncode


def median_ms(cmd: list[str], runs: int) -> float:
    return statistics.median(run(cmd)[0] for _ in range(runs)) * 1000


def startup(runs: int) -> None:
    print(f"start-up, median of {runs} runs (wall):")
    base = median_ms([sys.executable, "-c", "pass"], runs)
    print(f"  python -c pass                          {base:7.1f} ms  (baseline)")
    for label, args in [
        ("siplocate --version", ["--version"]),
        ("siplocate --help", ["--help"]),
        ("siplocate resolve -z airties.test.zone", ["resolve", "airties.test", "-z", str(AIRTIES)]),
    ]:
        ms = median_ms([*SIPLOCATE, *args], runs)
        print(f"  {label:<39} {ms:7.1f} ms  ({ms - base:+.1f} ms over python, x{ms / base:.1f})")


def write_zone(path: Path, records: int) -> int:
    """A zone of about ``records`` records: 1 % SIP domains (NAPTR, SRV, A), the rest hosts
    (A, AAAA, CNAME, TXT, MX), as a large provider zone looks. Returns the record count."""
    n = 0
    with path.open("w") as f:
        f.write("$ORIGIN big.test.\n$TTL 300\n@ IN SOA ns1 hostmaster 1 3600 600 604800 300\n")
        f.write("  IN NS ns1\nns1 IN A 192.0.2.53\n@ IN A 192.0.2.1\n")
        f.write('@ IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp\n')
        f.write("_sip._udp IN SRV 0 10 5060 h0\n_sip._udp IN SRV 0 10 5060 h1\n")
        n += 8
        i = 0
        while n < records:
            if i % 100 == 0:  # a SIP sub-domain: 6 records
                d = f"sip{i}"
                f.write(f'{d} IN NAPTR 10 0 "s" "SIP+D2U" "" _sip._udp.{d}\n')
                f.write(f"_sip._udp.{d} IN SRV 0 10 5060 h{i}\n")
                f.write(f"_sip._udp.{d} IN SRV 1 10 5060 h{i + 1}\n")
                f.write(f"{d} IN A 198.51.100.{i % 250 + 1}\n")
                n += 4
            a, b = divmod(i, 250)
            f.write(f"h{i} IN A 10.{a // 250 % 250}.{a % 250}.{b + 1}\n")
            f.write(f"h{i} IN AAAA 2001:db8::{i >> 16:x}:{i & 0xFFFF:x}\n")
            f.write(f"www{i} IN CNAME h{i}\n")
            f.write(f'h{i} IN TXT "host {i}"\n')
            f.write(f"m{i} IN MX 10 h{i}\n")
            n += 5
            i += 1
    return n


def zones(sizes: list[int]) -> None:
    checkzone = shutil.which("named-checkzone") or "/usr/bin/named-checkzone"
    have_checkzone = Path(checkzone).exists()
    with tempfile.TemporaryDirectory(prefix="siplocate-bench-") as tmp:
        for size in sizes:
            path = Path(tmp) / f"big-{size}.txt"
            count = write_zone(path, size)
            mb = path.stat().st_size / 2**20
            print(f"\nzone of {count:,} records ({mb:.1f} MB):")
            base = None
            if have_checkzone:
                wall, rss, code = run([checkzone, "big.test", str(path)])
                base = wall
                print(f"  named-checkzone                 {wall:7.2f} s  {rss:6d} MiB  "
                      f"exit {code}  (baseline)")  # fmt: skip
            for label, args in [
                ("siplocate zone lint", ["zone", "lint", str(path)]),
                ("siplocate resolve -z (domain)", ["resolve", "big.test", "-z", str(path)]),
                ("siplocate resolve -z (NXDOMAIN)", ["resolve", "nope.big.test", "-z", str(path)]),
            ]:
                wall, rss, code = run([*SIPLOCATE, *args])
                ratio = f"  x{wall / base:.1f} named-checkzone" if base else ""
                print(f"  {label:<31} {wall:7.2f} s  {rss:6d} MiB  exit {code}{ratio}")
            lookup = subprocess.run(
                [sys.executable, "-c", _LOOKUP, str(path)], capture_output=True, text=True
            )
            print(f"  {lookup.stdout.strip() or lookup.stderr.strip()}")


_LOOKUP = """
import sys, time, statistics, dns.name, dns.rdatatype
from siplocate.dns.zonefile import ZoneSource
start = time.perf_counter()
source = ZoneSource([sys.argv[1]])
load = time.perf_counter() - start
times = []
for i in range(200):
    t = time.perf_counter()
    answer = source.lookup(dns.name.from_text(f"nope{i}.x.big.test."), dns.rdatatype.A)
    times.append(time.perf_counter() - t)
    assert answer.nxdomain
print(f"in-process: load {load:.2f} s, one NXDOMAIN lookup {statistics.median(times) * 1e6:.0f} us "
      "(median of 200)")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1500000")
    parser.add_argument("--runs", type=int, default=11)
    args = parser.parse_args()
    startup(args.runs)
    zones([int(s) for s in args.sizes.split(",") if s])


if __name__ == "__main__":
    main()

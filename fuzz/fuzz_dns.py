"""Fuzz the resolver: DNS replies -> cache -> walk (``reply``) and zone files (``zone``).

Engine: atheris (libFuzzer, coverage-guided, in-process) when it is installed, with the
structure-aware mutators of mutators.py; else ``--engine random``, the same mutators
without coverage feedback. A finding is an exception other than SiplocateError escaping,
an input slower than 1 s ("slow"), one still running after 10 s ("hung", interrupted), an
exception asyncio logged as never retrieved, or MemoryError (3 GiB address-space limit).
Each finding's smallest input is kept in fuzz/findings/TARGET/ with its traceback.

Run:  .venv/bin/python fuzz/fuzz_dns.py --target reply --seconds 600
      .venv/bin/python fuzz/fuzz_dns.py --target zone --seconds 600 [--engine random]
      .venv/bin/python fuzz/fuzz_dns.py --target reply --replay FILE...   (run inputs, print)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SLOW_S = 1.0
HANG_S = 10.0
MEMORY_LIMIT = 3 << 30
MAX_LEN = {"reply": 70000, "zone": 16384}
#: Inputs slower than this are run but not kept in libFuzzer's corpus: mutating the slow
#: shapes (NAPTR fan-out, 2,000-target RRsets, already known) again and again would cut
#: the number of inputs run by 10x; anything over SLOW_S is still recorded as a finding.
KEEP_BELOW = {"reply": 0.1, "zone": 0.3}
SEEDS = {
    "reply": [ROOT / "fuzz" / "corpus" / "dns"],
    "zone": [
        ROOT / "examples" / "zones",
        ROOT / "examples" / "zones" / "broken",
        ROOT / "tests" / "zones",
        ROOT / "tests" / "zones" / "manage",
        ROOT / "fuzz" / "corpus" / "zone",
    ],
}


class InputHung(Exception):
    """Raised by the alarm when one input runs longer than HANG_S."""


def _alarm(signum: int, frame: FrameType | None) -> None:
    raise InputHung(f"input still running after {HANG_S:.0f} s")


@dataclass
class Stats:
    """What a worker saw; written as JSON for the runner to add up."""

    target: str
    inputs: int = 0
    seconds: float = 0.0
    findings: dict[str, dict[str, Any]] = field(default_factory=dict)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.__dict__, indent=1))


def signature(exc: BaseException) -> str:
    """Root-cause key: exception type and the innermost siplocate frame (else innermost)."""
    frames = traceback.extract_tb(exc.__traceback__)
    ours = [f for f in frames if "/siplocate/" in f.filename] or frames
    where = f"{Path(ours[-1].filename).name}:{ours[-1].lineno}:{ours[-1].name}" if ours else "?"
    return f"{type(exc).__name__}@{where}"


class Worker:
    """Runs inputs for one target, records findings, stops itself at the deadline."""

    def __init__(self, target: str, until: float, stats_path: Path, findings: Path) -> None:
        from fuzz.dns_world import Runner

        self.target = target
        self.until = until
        self.stats_path = stats_path
        self.findings = findings
        findings.mkdir(parents=True, exist_ok=True)
        self.stats = Stats(target)
        if stats_path.exists():
            self.stats.__dict__.update(json.loads(stats_path.read_text()))
        self.runner = Runner()
        self.started = time.monotonic()
        self.base_seconds = self.stats.seconds
        self.last_save = 0.0
        signal.signal(signal.SIGALRM, _alarm)

    def one(self, data: bytes) -> int:
        """Run one input; -1 tells libFuzzer not to keep a finding in its corpus."""
        self.stats.inputs += 1
        run = self.runner.reply if self.target == "reply" else self.runner.zone
        start = time.perf_counter()
        verdict = 0
        signal.setitimer(signal.ITIMER_REAL, HANG_S)
        try:
            run(data)
        except InputHung as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.runner.reset()
            self.record("hung", data, exc, time.perf_counter() - start)
            verdict = -1
        except MemoryError as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            self.runner.reset()
            self.record("memory", data, exc, time.perf_counter() - start)
            verdict = -1
        except Exception as exc:
            signal.setitimer(signal.ITIMER_REAL, 0)
            kind = "never-retrieved" if type(exc).__name__ == "NeverRetrieved" else "crash"
            self.record(kind, data, exc, time.perf_counter() - start)
            verdict = -1
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        elapsed = time.perf_counter() - start
        if verdict == 0 and elapsed > SLOW_S:
            self.record("slow", data, None, elapsed)
            verdict = -1
        elif elapsed > KEEP_BELOW[self.target]:
            verdict = -1  # not kept in the corpus: a few slow seeds would eat the whole budget
        now = time.monotonic()
        if now - self.last_save > 10 or time.time() > self.until:
            self.last_save = now
            self.stats.seconds = self.base_seconds + now - self.started
            self.stats.save(self.stats_path)
            if time.time() > self.until:
                os._exit(0)
        return verdict

    def record(self, kind: str, data: bytes, exc: BaseException | None, elapsed: float) -> None:
        if kind == "slow":
            # Slow inputs have no traceback: bucket them by size so each shape is kept once.
            key = f"slow@{len(data).bit_length()}"
            text = f"{elapsed:.2f} s"
        else:
            assert exc is not None
            key = f"{kind}:{signature(exc)}"
            text = "".join(traceback.format_exception(exc))
        entry = self.stats.findings.get(key)
        slug = hashlib.sha1(key.encode()).hexdigest()[:12]
        path = self.findings / f"{kind}-{slug}.bin"
        if entry is None:
            entry = {"count": 0, "file": str(path.relative_to(ROOT)), "size": len(data)}
            self.stats.findings[key] = entry
            last = text.strip().splitlines()[-1] if text.strip() else kind
            print(f"\nNEW FINDING {key}: {last} ({elapsed:.2f} s) -> {path.name}", flush=True)
        entry["count"] += 1
        entry["max_seconds"] = max(entry.get("max_seconds", 0.0), round(elapsed, 3))
        if not path.exists() or len(data) < entry["size"] or entry["count"] == 1:
            entry["size"] = len(data)
            path.write_bytes(data)
            path.with_suffix(".txt").write_text(f"{key}\n{elapsed:.3f} s\n{text}")


def seed_inputs(target: str) -> list[bytes]:
    out = []
    for folder in SEEDS[target]:
        for path in sorted(folder.glob("*")):
            if path.is_file() and path.suffix in (".bin", ".zone", ".db", ""):
                out.append(path.read_bytes())
    return out


def work(args: argparse.Namespace) -> None:
    """The worker process: atheris (or the random engine) until the deadline."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    if args.engine == "atheris":
        import atheris  # type: ignore[import-untyped]

        # Coverage of siplocate's own code guides the search; instrumenting dnspython and
        # asyncio too would cost about 5x the speed for little guidance.
        with atheris.instrument_imports(include=["siplocate"]):
            import siplocate.resolver.resolver
            import siplocate.zone.lint  # noqa: F401
    from fuzz import mutators

    worker = Worker(args.target, args.until, Path(args.stats), Path(args.findings))
    mutate = mutators.mutate_reply if args.target == "reply" else mutators.mutate_zone
    cross = mutators.crossover_reply if args.target == "reply" else mutators.crossover_zone
    if args.engine == "atheris":
        import atheris  # type: ignore[import-untyped]

        corpus = Path(args.corpus)
        corpus.mkdir(parents=True, exist_ok=True)
        if not any(corpus.iterdir()):
            for data in seed_inputs(args.target):
                (corpus / hashlib.sha1(data).hexdigest()).write_bytes(data)
        atheris.Setup(
            [
                sys.argv[0],
                str(corpus),
                f"-max_len={MAX_LEN[args.target]}",
                "-rss_limit_mb=0",
                "-timeout=0",
                "-print_final_stats=0",
                f"-seed={args.seed}",
            ],
            worker.one,
            custom_mutator=lambda d, m, s: mutate(d, m, s, atheris.Mutate),
            custom_crossover=cross,
        )
        atheris.Fuzz()
    rng = random.Random(args.seed)
    pool = seed_inputs(args.target)
    while True:  # random engine: mutate a seed or an earlier input, a few steps deep

        def byte_mutate(d: bytes, m: int) -> bytes:
            return mutators.simple_byte_mutate(d, m, rng)

        data = rng.choice(pool)
        if rng.random() < 0.1:
            data = cross(data, rng.choice(pool), MAX_LEN[args.target], rng.randrange(2**32))
        for _ in range(rng.randint(1, 4)):
            data = mutate(data, MAX_LEN[args.target], rng.randrange(2**32), byte_mutate)
        start = time.perf_counter()
        if worker.one(data) == 0 and time.perf_counter() - start < 0.2 and rng.random() < 0.02:
            pool.append(data)
            if len(pool) > 2000:
                del pool[rng.randrange(len(pool))]


def replay(args: argparse.Namespace) -> int:
    """Run the given inputs once each and print what happened (for triage)."""
    from fuzz.dns_world import Runner

    runner = Runner()
    failed = 0
    for name in args.replay:
        data = Path(name).read_bytes()
        start = time.perf_counter()
        try:
            out = runner.reply(data) if args.target == "reply" else runner.zone(data)
            print(f"{name}: ok in {time.perf_counter() - start:.3f} s")
            for line in out:
                print(f"    {line[:300]}")
        except Exception as exc:
            failed += 1
            print(f"{name}: {signature(exc)} in {time.perf_counter() - start:.3f} s")
            print("    " + "".join(traceback.format_exception_only(exc)).strip()[:500])
    return 1 if failed else 0


def run(args: argparse.Namespace) -> int:
    """The runner: start a worker, restart it if it dies, add up and print its figures."""
    work_dir = ROOT / "fuzz" / "work" / args.target
    work_dir.mkdir(parents=True, exist_ok=True)
    stats_path = work_dir / f"stats-{os.getpid()}.json"
    findings = ROOT / "fuzz" / "findings" / args.target
    until = time.time() + args.seconds
    deaths = 0
    while time.time() < until - 1 and deaths < 20:
        proc = subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                "--target",
                args.target,
                "--engine",
                args.engine,
                "--until",
                str(until),
                "--stats",
                str(stats_path),
                "--findings",
                str(findings),
                "--corpus",
                str(work_dir / "corpus"),
                "--seed",
                str(args.seed + deaths),
            ],
            cwd=work_dir,
            check=False,
        )
        if proc.returncode != 0:
            deaths += 1
            print(f"worker exited with {proc.returncode}; restarting", flush=True)
    stats = Stats(args.target)
    if stats_path.exists():
        stats.__dict__.update(json.loads(stats_path.read_text()))
    uncaught = {k: v for k, v in stats.findings.items() if not k.startswith("slow")}
    slow = {k: v for k, v in stats.findings.items() if k.startswith("slow")}
    rate = stats.inputs / stats.seconds if stats.seconds else 0.0
    print(
        f"\n== fuzz {args.target} ({args.engine}): {stats.inputs:,} inputs in "
        f"{stats.seconds:,.0f} s ({rate:,.0f}/s); {len(uncaught)} uncaught-exception root "
        f"cause(s) in {sum(v['count'] for v in uncaught.values()):,} inputs; "
        f"{sum(v['count'] for v in slow.values()):,} slow (> {SLOW_S:.0f} s) inputs; "
        f"worker restarts {deaths}"
    )
    for key, v in sorted(stats.findings.items()):
        print(f"  {v['count']:8,}  {key}  (max {v.get('max_seconds', 0)} s)  {v['file']}")
    return 1 if stats.findings else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--target", choices=["reply", "zone"], default="reply")
    parser.add_argument("--seconds", type=float, default=60.0)
    try:
        import atheris  # type: ignore[import-untyped]  # noqa: F401

        default_engine = "atheris"
    except ImportError:
        default_engine = "random"
    parser.add_argument("--engine", choices=["atheris", "random"], default=default_engine)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--replay", nargs="+")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--stats", help=argparse.SUPPRESS)
    parser.add_argument("--findings", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        work(args)
        return 0
    if args.replay:
        return replay(args)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())

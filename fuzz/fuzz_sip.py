"""Fuzz the SIP side: hostile bytes through the parser, the framer, the client transaction,
the request walker and the answering side (server transactions and the client's matching).

Engine: atheris (libFuzzer, coverage-guided, in-process; installs from PyPI as a wheel for
this Python: ``pip install -e .[fuzz]``). Seeds: real Kamailio traffic captured once by
fuzz/capture_sip.py into fuzz/corpus/sip/, plus messages generated here from them (every
header the client reads, given hostile values). A finding is any exception other than
``MessageError`` (the parser's "this is not SIP") escaping a target; libFuzzer keeps the
input as fuzz/findings/sip/TARGET/crash-*. Each finding is kept as a test in
tests/unit/test_sip_fuzz_regressions.py.

Run:  .venv/bin/python fuzz/fuzz_sip.py                      (every target, 250,000 inputs
                                                               or 10 minutes each)
      .venv/bin/python fuzz/fuzz_sip.py --target walker --runs 200000 --seconds 120
      .venv/bin/python fuzz/fuzz_sip.py --replay FILE...     (run inputs through every target)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
CORPUS = ROOT / "fuzz" / "corpus" / "sip"
WORK = ROOT / "fuzz" / "work" / "sip"
FINDINGS = ROOT / "fuzz" / "findings" / "sip"
TARGETS = ("parse", "framer", "transaction", "walker", "uas")

HOSTILE = {
    "Retry-After": ["²", "٣", "-1", "99999999999999999999", "1.5", "", "5 (x);duration=²"],
    "Expires": ["²", "-5", "1e9", "", "4294967296"],
    "Content-Length": ["99999", "-5", "²", "", "0", "1" * 30],
    "Contact": ["<<<", "*", "<sip:a@b>;expires=²", '"\\"<sip:x>', "<sip:@:>"],
    "CSeq": ["x INVITE", "1", "99999999999999999999 INVITE", "1 ²"],
    "Via": ["SIP/2.0/UDP", "garbage", "SIP/2.0/UDP h;branch=", ""],
    "WWW-Authenticate": ['Digest realm="x"', "Basic", 'Digest nonce="n", algorithm=²', ""],
    "To": ["<sip:a@b>;tag=", "garbage", "<sip:a@b>;tag=x;tag=y"],
    "Record-Route": ["<<<", "<sip:a@b;lr>, garbage"],
    "Require": ["100rel", ",,,", "²"],
}


def generated(seeds: list[bytes]) -> list[bytes]:
    """Each seed with one header the client reads replaced by a hostile value, and the
    status line given codes at and beyond the edges."""
    out: list[bytes] = []
    for seed in seeds:
        head, sep, body = seed.partition(b"\r\n\r\n")
        lines = head.decode(errors="replace").split("\r\n")
        for name, values in HOSTILE.items():
            for value in values[:3]:
                changed = [f"{name}: {value}" if _name(x) == name.lower() else x for x in lines]
                if changed == lines:
                    changed = [*lines, f"{name}: {value}"]
                out.append("\r\n".join(changed).encode() + sep + body)
        if lines[0].startswith("SIP/2.0 "):
            for code in ("099", "100", "699", "700", "2000", "20", "٢٠٠"):
                out.append(("\r\n".join([f"SIP/2.0 {code} X", *lines[1:]])).encode() + sep + body)
    return out


def _name(line: str) -> str:
    return line.split(":", 1)[0].strip().lower()


# -- the targets ---------------------------------------------------------------------------------


def _setup() -> dict[str, object]:
    """Import the code under test (instrumented when atheris runs) and build what each
    target reuses."""
    from sipmessage import URI, Address

    from siplocate.client import SipClient
    from siplocate.client.failover import Failover
    from siplocate.sip.message import RequestSpec, build_request
    from siplocate.sip.transaction import Timers
    from siplocate.target import Target, Transport

    targets = [
        Target(Transport.UDP, "a.test", 5060, "127.0.0.2", 10, 0),
        Target(Transport.UDP, "b.test", 5060, "127.0.0.3", 20, 0),
    ]
    me = URI.parse("sip:alice@client.test")
    spec = RequestSpec(
        method="INVITE",
        uri=URI.parse("sip:bob@client.test"),
        from_addr=Address(uri=me),
        to_addr=Address(uri=me),
        call_id="cid",
        cseq=1,
        contact_user="alice",
    )
    loop = asyncio.new_event_loop()
    loop.set_exception_handler(lambda loop, context: LOGGED.append(context))
    client = loop.run_until_complete(_client(SipClient))
    return {
        "targets": targets,
        "spec": spec,
        "failover": Failover(down_for=30),
        "timers": Timers(t1=0.5),
        "request": lambda m, s=spec: build_request(
            _respec(s, m), transport=Transport.UDP, local=("127.0.0.1", 5099)
        ),
        "loop": loop,
        "client": client,
    }


async def _client(cls: type) -> object:
    client = cls("sip:alice@client.test", static=["127.0.0.2"], password="pw")
    client.on_invite = lambda request: 200
    return client


def _respec(spec: object, method: str) -> object:
    import copy

    s = copy.copy(spec)
    s.method = method  # type: ignore[attr-defined]
    return s


LOGGED: list[dict[str, object]] = []  # what asyncio logged (a task's exception never retrieved)


class AsyncioLogged(Exception):
    """An exception escaped inside a task: as much a finding as one escaping the target."""


def run_one(target: str, data: bytes, env: dict[str, object]) -> None:
    """One input through one target; MessageError (not SIP) is the only accepted exception."""
    from siplocate.sip.message import MessageError

    with contextlib.suppress(MessageError):
        TARGET_FUNCS[target](data, env)
    if LOGGED:
        context = LOGGED.pop()
        LOGGED.clear()
        exc = context.get("exception")
        raise AsyncioLogged(f"{context.get('message')}: {exc!r}") from (
            exc if isinstance(exc, BaseException) else None
        )


def t_parse(data: bytes, env: dict[str, object]) -> None:
    from siplocate.sip.message import (
        branch_of,
        cseq_method,
        header_expires,
        loose_key,
        parse_message,
        retry_after,
    )
    from siplocate.sip.server import decide

    loose_key(data)
    msg = parse_message(data, datagram=bool(data[:1]) and data[0] & 1 == 1)
    branch_of(msg)
    cseq_method(msg)
    if hasattr(msg, "code"):
        retry_after(msg)  # type: ignore[arg-type]
        header_expires(msg, "alice")  # type: ignore[arg-type]
        assert 100 <= msg.code <= 699  # type: ignore[union-attr]
    else:
        decide(msg)  # type: ignore[arg-type]


def t_framer(data: bytes, env: dict[str, object]) -> None:
    from siplocate.sip.message import MessageError, StreamFramer, parse_message

    framer = StreamFramer()
    for i in range(0, len(data), 97):  # arrives in pieces, as a stream does
        for raw in framer.feed(data[i : i + 97]):
            with contextlib.suppress(MessageError):
                parse_message(raw)


def t_transaction(data: bytes, env: dict[str, object]) -> None:
    from siplocate.sip.message import parse_message
    from siplocate.sip.transaction import Timer, new_transaction

    response = parse_message(data, datagram=True)
    if not hasattr(response, "code"):
        return
    control = data[-1] if data else 0
    method = "INVITE" if control & 1 else "REGISTER"
    tx = new_transaction(env["request"](method), reliable=bool(control & 2), timers=env["timers"])  # type: ignore[operator]
    tx.start()
    for step in range(4):
        if (control >> step) & 1:
            tx.fire(list(Timer)[(control + step) % len(Timer)])
        tx.receive(response)  # type: ignore[arg-type]
    tx.transport_error("fuzz")


def t_walker(data: bytes, env: dict[str, object]) -> None:
    import copy

    from siplocate.client.failover import Failover
    from siplocate.client.walker import Credentials, Rules, Timer, Walker
    from siplocate.sip.message import parse_message

    response = parse_message(data, datagram=True)
    if not hasattr(response, "code"):
        return
    control = data[-2:] if len(data) > 1 else b"\x00\x00"
    spec = copy.deepcopy(env["spec"])
    spec.method = "INVITE" if control[0] & 1 else "REGISTER"  # type: ignore[attr-defined]
    rules = Rules(budget=1.0, tries=1 + control[0] % 3, failover_on=frozenset({503, 486}))
    walker = Walker(
        spec,  # type: ignore[arg-type]
        env["targets"],  # type: ignore[arg-type]
        failover=Failover(down_for=30),
        rules=rules,
        credentials=Credentials("alice", "pw" if control[0] & 2 else None),
        aor="sip:alice@client.test",
    )
    now = 1000.0
    walker.start(now)
    events = control[1]
    for step in range(8):
        if walker.done:
            break
        now += 0.1
        kind = (events >> step) & 3 if step < 4 else (events + step) % 6
        if kind == 0 or response.code >= 200:  # type: ignore[union-attr]
            walker.final(walker.attempt, response, now)  # type: ignore[arg-type]
        elif kind == 1:
            walker.provisional(walker.attempt, now)
        elif kind == 2:
            walker.timer(list(Timer)[step % len(Timer)], now)
        elif kind == 3:
            walker.transport_error(walker.attempt, "refused", now)
        elif kind == 4:
            walker.timed_out(walker.attempt, now)
        else:
            walker.malformed(walker.attempt, "bad", now)
    if walker.done:
        assert walker.outcome.ok or walker.outcome.error or walker.outcome.response is not None


def t_uas(data: bytes, env: dict[str, object]) -> None:
    """Bytes arriving on a client's flow: requests answered, responses matched or dropped."""
    loop: asyncio.AbstractEventLoop = env["loop"]  # type: ignore[assignment]
    loop.run_until_complete(_uas(data, env))


async def _uas(data: bytes, env: dict[str, object]) -> None:
    from siplocate.client import Dialog
    from siplocate.sip.message import parse_message
    from siplocate.sip.server import ServerTransaction, Timer, build_response
    from siplocate.sip.transport import Connection

    client = env["client"]
    conn = _recorder(Connection, env)
    msg = parse_message(data, datagram=True)
    if hasattr(msg, "code"):
        Dialog.from_response(client, env["spec"], msg, env["targets"][0])  # type: ignore[arg-type,index]
        client.wire.message(msg, conn)  # type: ignore[attr-defined]
        return
    client.wire.message(msg, conn)  # type: ignore[attr-defined]
    for _ in range(3):
        await asyncio.sleep(0)
    client.wire.message(msg, conn)  # type: ignore[attr-defined]  (a retransmission)
    for task in list(client.answerer.tasks):  # type: ignore[attr-defined]
        await task  # an incoming call's answer: its exception, if any, escapes here
    tx = ServerTransaction(msg, reliable=False)  # type: ignore[arg-type]
    tx.respond(build_response(msg, 486, to_tag="t"))  # type: ignore[arg-type]
    for timer in Timer:
        tx.fire(timer)
    for runner in list(client.answerer.servers.values()):  # type: ignore[attr-defined]
        runner.close()
    client.dialogs.clear()  # type: ignore[attr-defined]


_RECORDER: list[object] = []


def _recorder(base: type, env: dict[str, object]) -> object:
    if not _RECORDER:

        class Recorder(base):  # type: ignore[misc,valid-type]
            def send(self, data: bytes) -> None:
                self.sent = len(data)

        conn = Recorder(env["targets"][0], lambda m, c: None, lambda e, c: None)  # type: ignore[index]
        conn.local = ("127.0.0.1", 40000)
        _RECORDER.append(conn)
    return _RECORDER[0]


TARGET_FUNCS = {
    "parse": t_parse,
    "framer": t_framer,
    "transaction": t_transaction,
    "walker": t_walker,
    "uas": t_uas,
}


# -- running -------------------------------------------------------------------------------------


def fuzz_in_process(target: str, libfuzzer_args: list[str]) -> None:
    """Run under atheris in this process (the runner starts one per target)."""
    import atheris

    with atheris.instrument_imports():
        pass
    env = _setup()

    def one(data: bytes) -> None:
        run_one(target, data, env)

    atheris.Setup([sys.argv[0], *libfuzzer_args], one)
    atheris.Fuzz()


def seed_work_dir(target: str) -> Path:
    work = WORK / target
    work.mkdir(parents=True, exist_ok=True)
    seeds = [p.read_bytes() for p in sorted(CORPUS.glob("*.sip"))]
    for i, data in enumerate(generated(seeds)):
        (work / f"gen-{i:05d}").write_bytes(data)
    return work


#: Inputs per fuzzing process: libFuzzer under atheris grows by a few KiB per input (the
#: same inputs without atheris stay flat), so a long run is a chain of processes that
#: share the work corpus, each well below the memory limit.
CHUNK = 125_000


def run_target(target: str, runs: int, seconds: int) -> tuple[int, float, str]:
    """One target in a chain of subprocesses; (inputs run, seconds, verdict)."""
    work = seed_work_dir(target)
    findings = FINDINGS / target
    findings.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    count = 0
    while count < runs:
        left = seconds - (time.monotonic() - start)
        if left < 5:
            break
        chunk = min(CHUNK, runs - count)
        args = [
            sys.executable, __file__, "--in-process", target, "--",
            f"-runs={chunk}", f"-max_total_time={int(left)}", "-max_len=8192",
            "-rss_limit_mb=3072", "-timeout=10", f"-artifact_prefix={findings}/",
            "-print_final_stats=1", str(work), str(CORPUS),
        ]  # fmt: skip
        proc = subprocess.run(args, capture_output=True, text=True, errors="replace", check=False)
        log = proc.stdout + proc.stderr
        (findings / "last.log").write_text(log[-20000:])
        stat = re.findall(r"stat::number_of_executed_units:\s*(\d+)", log)
        done = re.findall(r"Done (\d+) runs in", log)
        count += int(stat[-1]) if stat else int(done[-1]) if done else 0
        if proc.returncode != 0:
            crash = sorted(findings.glob("*-*"), key=os.path.getmtime)
            where = crash[-1].relative_to(ROOT) if crash else "(no artifact)"
            at = log.find("Uncaught Python exception")
            tail = log[at : at + 1500] if at >= 0 else log[-1500:]
            return count, time.monotonic() - start, f"FINDING kept as {where}\n{tail}"
    return count, time.monotonic() - start, "no uncaught exception"


def replay(paths: list[Path]) -> int:
    env = _setup()
    bad = 0
    for path in paths:
        for target in TARGETS:
            try:
                run_one(target, path.read_bytes(), env)
            except Exception as exc:  # report every finding, then fail
                bad += 1
                print(f"{path} {target}: {type(exc).__name__}: {exc}")
    print(f"{len(paths)} inputs x {len(TARGETS)} targets, {bad} findings")
    return 1 if bad else 0


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--in-process":
        fuzz_in_process(sys.argv[2], sys.argv[4:])
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", choices=[*TARGETS, "all"], default="all")
    parser.add_argument("--runs", type=int, default=250_000, help="inputs per target")
    parser.add_argument("--seconds", type=int, default=600, help="time budget per target")
    parser.add_argument("--replay", type=Path, nargs="+", help="run these inputs and report")
    args = parser.parse_args()
    if args.replay:
        sys.exit(replay(args.replay))
    try:
        import atheris  # noqa: F401
    except ImportError:
        sys.exit("atheris is not installed: .venv/bin/pip install -e '.[fuzz]'")
    total, wall = 0, 0.0
    targets = TARGETS if args.target == "all" else (args.target,)
    failed = False
    print(f"siplocate SIP fuzzing (atheris/libFuzzer): seeds {len(list(CORPUS.glob('*.sip')))}"
          f" captured messages + generated; budget {args.runs:,} inputs or {args.seconds} s"
          " per target")  # fmt: skip
    for target in targets:
        count, elapsed, verdict = run_target(target, args.runs, args.seconds)
        total += count
        wall += elapsed
        rate = count / elapsed if elapsed else 0.0
        print(f"{target:<12} {count:>10,} inputs in {elapsed:7.1f} s ({rate:8,.0f}/s): {verdict}")
        failed |= not verdict.startswith("no uncaught")
    print(f"{'total':<12} {total:>10,} inputs in {wall:7.1f} s")
    shutil.rmtree(WORK, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

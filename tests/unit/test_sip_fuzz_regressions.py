"""Inputs the SIP fuzzer (fuzz/fuzz_sip.py) found, kept so they stay fixed.

Each is run the way the fuzzer ran it, through every target; the test fails on any
exception other than the parser's MessageError, including one logged by asyncio from a task.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# An INVITE whose To header is not an address: answering it made a dialog from it and the
# task died with "URI is not valid" (found by the generated seeds, target uas). Now: 400.
BAD_TO_INVITE = (
    b"INVITE sip:alice@127.0.0.1:40000 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.2:5060;branch=z9hG4bKk1\r\n"
    b"From: <sip:bob@client.test>;tag=1\r\nTo: garbage\r\nCall-ID: c1\r\n"
    b"CSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
FOUND = [BAD_TO_INVITE]


@pytest.fixture(scope="module")
def fuzz_sip() -> object:
    sys.path.insert(0, str(ROOT / "fuzz"))
    try:
        import fuzz_sip as module
    finally:
        sys.path.remove(str(ROOT / "fuzz"))
    return module


@pytest.mark.parametrize("data", FOUND)
def test_found_inputs_pass_every_target(fuzz_sip: object, data: bytes) -> None:
    env = fuzz_sip._setup()  # type: ignore[attr-defined]
    try:
        for target in fuzz_sip.TARGETS:  # type: ignore[attr-defined]
            fuzz_sip.run_one(target, data, env)  # type: ignore[attr-defined]
    finally:
        env["loop"].close()  # type: ignore[attr-defined]


def test_generated_seeds_pass_every_target(fuzz_sip: object) -> None:
    """The fuzzer's own seeds (captured traffic plus hostile variants) all pass."""
    seeds = [p.read_bytes() for p in sorted((ROOT / "fuzz" / "corpus" / "sip").glob("*.sip"))]
    inputs = fuzz_sip.generated(seeds)  # type: ignore[attr-defined]
    assert len(seeds) >= 50 and len(inputs) > 1000
    env = fuzz_sip._setup()  # type: ignore[attr-defined]
    try:
        for data in inputs:
            for target in fuzz_sip.TARGETS:  # type: ignore[attr-defined]
                fuzz_sip.run_one(target, data, env)  # type: ignore[attr-defined]
    finally:
        env["loop"].close()  # type: ignore[attr-defined]


async def test_malformed_to_in_a_request_is_answered_400() -> None:
    from siplocate.client import SipClient
    from siplocate.sip.message import parse_message
    from siplocate.sip.transport import Connection
    from siplocate.target import Target, Transport

    sent: list[bytes] = []

    class Recorder(Connection):
        def send(self, data: bytes) -> None:
            sent.append(data)

    conn = Recorder(Target(Transport.UDP, "h", 5060, "127.0.0.2"), print, print)
    client = SipClient("sip:alice@client.test", static=["127.0.0.2"])
    client.answerer.serve(parse_message(BAD_TO_INVITE), conn)  # type: ignore[arg-type]
    await asyncio.sleep(0)
    assert len(sent) == 1 and sent[0].startswith(b"SIP/2.0 400 Bad Request")
    assert b"malformed To header" in sent[0]
    await client.close()

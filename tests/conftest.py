"""Fixtures shared by all tests: example zone paths and a real BIND9 serving them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.fixtures.bind import BindServer, zone_origin
from tests.fixtures.servers import in_ci, require_binary

# Property tests check RFC invariants, not speed: no per-example deadline (a busy CI core
# would make them flaky); CI also gets a fixed seed so a failure reproduces.
settings.register_profile("default", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile("ci" if in_ci() else "default")

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ZONES = ROOT / "examples" / "zones"
TEST_ZONES = ROOT / "tests" / "zones"


def zone_files() -> list[Path]:
    """Every zone file the resolver tests serve: the examples plus tests/zones."""
    return sorted(EXAMPLE_ZONES.glob("*.zone")) + sorted(TEST_ZONES.glob("*.zone"))


def start_bind(zones: list[Path], **kwargs: object) -> BindServer:
    named = require_binary("named", "bind9")
    server = BindServer({zone_origin(p): p for p in zones}, named=named, **kwargs)  # type: ignore[arg-type]
    return server.start()


@pytest.fixture(scope="session")
def bind() -> Iterator[BindServer]:
    """One authoritative named for the whole session, serving every test and example zone."""
    server = start_bind(zone_files())
    yield server
    server.stop()

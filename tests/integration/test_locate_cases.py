"""Every RFC 3263 §4.1/§4.2 branch, through a real BIND9 and through the zone-file source."""

from __future__ import annotations

import pytest

from siplocate import Resolver
from siplocate.trace import Note
from tests.cases import CASES, Case
from tests.conftest import zone_files
from tests.fixtures.bind import BindServer


@pytest.fixture(params=["live", "zone"])
def make(request: pytest.FixtureRequest) -> object:
    if request.param == "live":
        bind: BindServer = request.getfixturevalue("bind")
        return lambda transports: Resolver([bind.nameserver], transports=transports)
    return lambda transports: Resolver(zones=zone_files(), transports=transports)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_case(case: Case, make) -> None:  # type: ignore[no-untyped-def]
    resolver = make(case.transports)
    if case.error is not None:
        with pytest.raises(case.error) as info:
            await resolver.locate(case.target, seed=1)
        assert case.error_text in str(info.value)
        resolution = getattr(info.value, "resolution", None)
        trace = resolution.trace if resolution is not None else ()
    else:
        res = await resolver.locate(case.target, seed=1)
        got = tuple((t.transport.value, t.address, t.port, t.via.value) for t in res.targets)
        assert got == case.expect
        trace = res.trace
    notes = " | ".join(e.message for e in trace if isinstance(e, Note))
    for fragment in case.notes:
        assert fragment in notes, f"{fragment!r} not in trace notes: {notes}"

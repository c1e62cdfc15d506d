"""``/probe`` lints a domain again only when its records changed (or the cached findings
grew old): a repeated scrape of an unchanged domain reuses the findings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from siplocate import Resolver
from siplocate.watch import monitor
from siplocate.watch.probe import LintCache
from tests.unit.test_watch import ZONE, make


@pytest.fixture
def zone(tmp_path: Path) -> Path:
    path = tmp_path / "demo.test.zone"
    path.write_text(ZONE)
    return path


async def test_probe_reuses_lint_until_the_records_change(
    zone: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    w, _clock, _ = make(zone)
    runs: list[str] = []
    gather = monitor.gather

    async def counted(source: Any, names: Any) -> Any:
        runs.append(str(names[0]))
        return await gather(source, names)

    monkeypatch.setattr(monitor, "gather", counted)
    try:
        first = await w.check("demo.test")
        again = await w.check("demo.test")
        assert first.findings == again.findings == [] and len(runs) == 1  # reused
        changed = tmp_path / "changed" / "demo.test.zone"
        changed.parent.mkdir()
        changed.write_text(ZONE + "_sip._udp IN SRV 30 0 5060 sip4\n")  # sip4: no address
        w.resolver = Resolver(zones=[changed])
        third = await w.check("demo.test")
        assert len(runs) == 2  # new records: linted again
        assert [f.code for f in third.findings or []] == ["srv-target-no-address"]
        fourth = await w.check("demo.test")
        assert len(runs) == 2 and fourth.findings == third.findings
        w.lint = False
        assert (await w.check("demo.test")).findings is None and len(runs) == 2
    finally:
        await w.stop()


def test_lint_cache_keys_on_records_ages_out_and_is_bounded() -> None:
    cache = LintCache(size=2, max_age=60.0)
    cache.put("a.test", ["SRV x"], 0.0, [])
    assert cache.get("a.test", ["SRV x"], 59.0) == []
    assert cache.get("a.test", ["SRV y"], 1.0) is None  # other records
    assert cache.get("a.test", ["SRV x"], 61.0) is None  # too old
    cache.put("b.test", [], 0.0, [])
    cache.get("a.test", ["SRV x"], 1.0)  # a.test used last: b.test goes first
    cache.put("c.test", [], 0.0, [])
    assert len(cache) == 2 and cache.get("b.test", [], 1.0) is None
    assert cache.get("a.test", ["SRV x"], 1.0) == []

"""The alerting rules shipped in the package, under Prometheus' own ``promtool``: the file
loads, and each alert fires for exactly the series it should (``data/alerts_test.yml``)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from siplocate.watch.rules import alert_rules

pytestmark = pytest.mark.integration
DATA = Path(__file__).parent / "data"
ALERTS = (
    "SiplocateTargetDown",
    "SiplocateTierDown",
    "SiplocateDomainDown",
    "SiplocateFailoverWouldHappen",
    "SiplocateStaleDnsServed",
    "SiplocateWatcherDown",
)


def promtool() -> str:
    found = shutil.which("promtool") or "/usr/bin/promtool"
    if not Path(found).exists():  # a missing promtool fails: the rules would go untested
        pytest.fail("promtool is not installed (Debian package prometheus; ./dev setup)")
    return found


def without_annotations(text: str) -> str:
    """The rule file without its ``annotations:`` blocks (promtool compares them exactly)."""
    out: list[str] = []
    block: int | None = None
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        if block is not None and (not line.strip() or indent > block):
            continue
        block = None
        if line.strip() == "annotations:":
            block = indent
            continue
        out.append(line)
    return "\n".join(out) + "\n"


def test_print_alert_rules_is_the_packaged_file() -> None:
    result = CliRunner().invoke(app, ["watch", "--print-alert-rules"])
    assert result.exit_code == 0, result.output
    assert result.output == alert_rules()
    assert re.findall(r"- alert: (\w+)", result.output) == list(ALERTS)


def test_promtool_checks_the_rules(tmp_path: Path) -> None:
    rules = tmp_path / "siplocate-alerts.yml"
    rules.write_text(alert_rules())
    out = subprocess.run(
        [promtool(), "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_each_alert_carries_a_runbook() -> None:
    text = alert_rules()
    for name, body in zip(ALERTS, re.split(r"\n      - alert: \w+\n", text)[1:], strict=True):
        for key in ("summary:", "description:", "runbook: |"):
            assert key in body, f"{name} has no {key}"
        runbook = body.split("runbook: |", 1)[1]
        assert len([line for line in runbook.splitlines() if line.strip()]) >= 3, name


def test_promtool_unit_tests_of_every_alert(tmp_path: Path) -> None:
    (tmp_path / "rules.yml").write_text(without_annotations(alert_rules()))
    shutil.copy(DATA / "alerts_test.yml", tmp_path / "alerts_test.yml")
    tested = re.findall(r"alertname: (\w+)", (DATA / "alerts_test.yml").read_text())
    assert set(tested) == set(ALERTS)
    out = subprocess.run(
        [promtool(), "test", "rules", "alerts_test.yml"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout

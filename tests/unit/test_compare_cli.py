"""`siplocate compare` over zone files: the table, --json, --profile, errors and exit codes."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from siplocate.cli import app
from tests.conftest import EXAMPLE_ZONES, TEST_ZONES
from tests.unit.test_startup import loaded_after

DIVERGE = str(TEST_ZONES / "diverge.test.zone")
runner = CliRunner()


def test_table_has_a_row_per_profile_and_says_what_is_wrong() -> None:
    out = runner.invoke(
        app, ["compare", "tls-first.diverge.test", "-z", DIVERGE], env={"COLUMNS": "200"}
    )
    assert out.exit_code == 0, out.output
    for key in ("rfc3263", "grandstream-a", "baresip", "pjsua", "kamailio", "sofia-sip"):
        assert key in out.output
    assert "ignores your TLS-first NAPTR: reaches UDP" in out.output
    assert "one walk for every profile" in out.output


def test_json_gives_every_profile_with_first_try_order_split_and_problems() -> None:
    out = runner.invoke(app, ["compare", "weights.diverge.test", "-z", DIVERGE, "--json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    rows = {p["profile"]: p for p in data["profiles"]}
    assert rows["kamailio"]["first"]["address"] == "192.0.2.12"
    assert [s["share"] for s in rows["rfc3263"]["split"]["shares"]] == [0.75, 0.25]
    assert rows["kamailio"]["problems"][0].startswith("weights ignored: 100% on sip2")
    assert rows["baresip"]["definition"]["sources"]
    assert any(e["kind"] == "query" for e in data["trace"])


def test_profile_option_limits_the_rows() -> None:
    out = runner.invoke(
        app, ["compare", "weights.diverge.test", "-z", DIVERGE, "-p", "pjsua", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert [p["profile"] for p in json.loads(out.stdout)["profiles"]] == ["pjsua"]


@pytest.mark.parametrize(
    ("args", "code", "kind"),
    [
        (["weights.diverge.test", "-z", DIVERGE, "-p", "nokia"], 2, "bad-input"),
        (["sip:weights.diverge.test:5060", "-z", DIVERGE], 2, "bad-input"),
        (["192.0.2.1", "-z", DIVERGE], 2, "bad-input"),
        (["sips:weights.diverge.test", "-z", DIVERGE], 2, "bad-input"),
        (["elsewhere.test", "-z", str(EXAMPLE_ZONES / "elsewhere.test.zone")], 1, "not-found"),
        (["x.test", "-n", "127.0.0.1:1", "--timeout", "200ms"], 1, "dns-error"),
    ],
)
def test_errors_are_one_line_and_a_json_object(args: list[str], code: int, kind: str) -> None:
    out = runner.invoke(app, ["compare", *args, "--json"])
    assert out.exit_code == code, out.output
    assert json.loads(out.stdout)["error"]["kind"] == kind
    assert "Traceback" not in out.output and len(out.stderr.strip().splitlines()) == 1


def test_compare_help_loads_no_resolver_or_asyncio() -> None:
    code = (
        "import sys, contextlib\nfrom siplocate.cli import main\n"
        "sys.argv = ['siplocate', 'compare', '--help']\n"
        "with contextlib.suppress(SystemExit):\n    main()"
    )
    assert loaded_after(code) == []

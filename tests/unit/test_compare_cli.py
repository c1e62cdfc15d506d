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
    for key in ("rfc3263", "grandstream-a", "baresip", "pjsua", "kamailio", "freeswitch"):
        assert key in out.output
    assert "one walk for every profile" in out.output
    # (the CLI's console keeps the width it was first made with: the text at a fixed one)
    assert "ignores your TLS-first NAPTR: reaches UDP" in table_text("tls-first", 200)


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


@pytest.mark.parametrize(
    "key", [*__import__("siplocate.profiles.catalogue", fromlist=["BY_KEY"]).BY_KEY, "sofia-sip"]
)
def test_every_profile_key_works_alone_with_json(key: str) -> None:
    from siplocate.profiles.catalogue import find

    args = ["compare", "tls-first.diverge.test", "-z", DIVERGE, "-p", key, "--json"]
    out = runner.invoke(app, args)
    data = json.loads(out.stdout)
    if out.exit_code == 1:  # this kind finds nothing there (CUCM: no _sip._tcp): said so
        assert data["error"]["kind"] == "not-found" and not data["profiles"][0]["targets"]
    else:
        assert out.exit_code == 0, out.output
    rows = data["profiles"]
    profile = find(key)
    assert profile is not None
    assert [r["profile"] for r in rows] == [profile.key]
    assert rows[0]["title"] == profile.title and rows[0]["definition"]["sources"]


def table_text(domain: str, width: int, *keys: str) -> str:
    """The text table of ``compare`` as a terminal ``width`` columns wide shows it."""
    import asyncio
    import io

    from rich.console import Console

    from siplocate import Resolver
    from siplocate.cli.compare import compare_table
    from siplocate.profiles.catalogue import PROFILES, find
    from siplocate.profiles.compare import compare, look

    seen = asyncio.run(look(Resolver(zones=[DIVERGE]), f"{domain}.diverge.test"))
    chosen = tuple(p for p in PROFILES if not keys or p in {find(k) for k in keys})
    console = Console(width=width, file=io.StringIO(), highlight=False, markup=False)
    console.print(compare_table(seen, compare(seen, chosen), width))
    return console.file.getvalue()  # type: ignore[attr-defined, no-any-return]


@pytest.mark.parametrize("domain", ["tls-first", "no-tls-srv", "udp-last", "weights", "se-flag"])
def test_table_keeps_whole_words_at_80_columns(domain: str) -> None:
    text = table_text(domain, 80)
    assert max(len(line.rstrip()) for line in text.splitlines()) <= 80
    out = runner.invoke(app, ["compare", f"{domain}.diverge.test", "-z", DIVERGE, "--json"])
    words = set(text.split())
    for row in json.loads(out.stdout)["profiles"]:
        for t in row["targets"]:  # every address:port whole, e.g. never 192.0.2.61:50 / 61
            port = f"[{t['address']}]:{t['port']}" if ":" in t["address"] else None
            assert (port or f"{t['address']}:{t['port']}") in words, t
        for s in row["split"]["shares"]:
            assert s["host"] in words, s
        assert row["profile"] in words


def test_table_shows_each_title_with_its_settings_and_what_is_unknown() -> None:
    text = table_text("weights", 160, "cisco-cucm", "3cx")
    assert "Cisco CUCM (SIP trunk: Destination Address is an SRV = checked)" in text
    assert "3CX (trunk: Auto Discovery on, port left blank, Transport Protocol 'Any')" in text
    assert "unknown: order within an SRV priority" in text

"""Issue 18 loose ends found while making the README's examples run: ``--short`` on a lookup
command without a short form gets the same one-line hint as ``+short``, and ``probe`` of an
internationalised name says which A-label it asked (as ``check`` and ``resolve`` do)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from siplocate.cli import app

pytestmark = pytest.mark.integration
runner = CliRunner()
IDN_ZONE = """$ORIGIN xn--bcher-kva.test.
$TTL 300
@ IN SOA ns1 hostmaster 1 3600 600 1209600 300
@ IN NS ns1
ns1 IN A 192.0.2.53
_sip._udp IN SRV 10 0 5060 sip
sip IN A 127.0.0.1
"""


@pytest.mark.parametrize("command", ["check", "probe"])
@pytest.mark.parametrize("flag", ["--short", "+short"])
def test_short_on_a_command_without_it_is_one_hint(command: str, flag: str) -> None:
    result = runner.invoke(app, [command, "ux.test", flag])
    assert result.exit_code == 2
    assert result.stderr == (
        f"siplocate: error: {command} has no short form (+short/--short is for resolve)\n"
    )


def test_probe_of_an_idn_name_says_the_a_label(tmp_path: Path) -> None:
    zone = tmp_path / "xn--bcher-kva.test.zone"
    zone.write_text(IDN_ZONE)
    args = ["probe", "b\u00fccher.test", "-z", str(zone), "--timeout", "200ms"]
    for extra in ([], ["--json"]):
        result = runner.invoke(app, [*args, *extra])
        assert result.exit_code in (0, 1), result.output  # whatever answers on 127.0.0.1:5060
        assert result.stderr.startswith(";; b\u00fccher.test (A-label xn--bcher-kva.test)\n")
    ascii_only = runner.invoke(app, ["probe", "xn--bcher-kva.test", "-z", str(zone), "--json"])
    assert ";;" not in ascii_only.stderr

"""Start-up stays light: `import siplocate` and `siplocate --help` load no SIP client or TLS."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("ssl", "sipmessage", "siplocate.client", "dns.asyncquery", "asyncio")


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint('LOADED:', *(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    last = [ln for ln in out.stdout.splitlines() if ln.startswith("LOADED:")][-1]
    return last.split()[1:]


def test_import_siplocate_loads_no_client_tls_or_asyncio() -> None:
    assert loaded_after("import siplocate") == []


def test_help_and_version_load_no_client_tls_or_asyncio() -> None:
    for argv in (["--help"], ["--version"], ["zone", "--help"], ["resolve", "--help"]):
        code = (
            "import sys, contextlib\nfrom siplocate.cli import main\n"
            f"sys.argv = ['siplocate', *{argv!r}]\n"
            "with contextlib.suppress(SystemExit):\n    main()"
        )
        assert loaded_after(code) == [], argv


def test_lazy_exports_still_work() -> None:
    import siplocate
    import siplocate.zone

    assert siplocate.Resolver.__name__ == "Resolver"
    import siplocate.client
    import siplocate.health

    assert siplocate.SipClient is siplocate.client.SipClient
    assert siplocate.SipClient.__module__ == "siplocate.client.sipclient"
    assert siplocate.HealthMonitor is siplocate.health.HealthMonitor
    for name in siplocate.__all__:
        assert getattr(siplocate, name) is not None, name
    assert callable(siplocate.zone.lint_zone_files) and callable(siplocate.zone.render_bind)
    assert set(siplocate.__all__) <= set(dir(siplocate))


def test_repeated_constants_agree() -> None:
    """Values repeated to keep imports light must equal their source of truth."""
    from siplocate import enum
    from siplocate.cli import zone as cli_zone
    from siplocate.zone import drain, lint

    assert lint.DRAIN_PRIORITY == drain.DRAIN_PRIORITY
    assert cli_zone.DEFAULT_SUFFIX == enum.DEFAULT_SUFFIX
    assert cli_zone.DEFAULT_ISN_ROOT == enum.DEFAULT_ISN_ROOT


def test_findings_load_without_the_resolver() -> None:
    """watch/model.py reads lint findings: their module loads no resolver and no asyncio."""
    assert loaded_after("import siplocate.zone.findings") == []
    probe = "import siplocate.zone.findings, sys; print('siplocate.zone.lint' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False"

"""The Prometheus alerting rules shipped with siplocate (``watch/alerts.yml``)."""

from __future__ import annotations

from importlib import resources

ALERTS = "alerts.yml"


def alert_rules() -> str:
    """The rule file's text, as ``siplocate watch --print-alert-rules`` prints it."""
    return resources.files(__package__).joinpath(ALERTS).read_text(encoding="utf-8")

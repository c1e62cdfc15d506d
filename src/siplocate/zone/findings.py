"""What lint reports: a ``Finding`` and its ``Severity``.

No dependencies beyond the standard library, so the watch model, the metrics and any other
reader of findings import them without loading the resolver, dnspython or asyncio. The
rules that make findings live in ``zone.rules``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """How bad a finding is: errors break clients (exit code 1), warnings risk it."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


#: Errors first, then warnings, then infos: the order findings are listed in.
SEVERITY_ORDER = {Severity.ERROR: 0, Severity.WARNING: 1, Severity.INFO: 2}


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: a stable code, its severity, the name and records involved, what and fix.

    ``severity`` is the one its rule is registered with (``zone.rules.RULES``)."""

    code: str
    severity: Severity
    name: str
    records: tuple[str, ...]
    message: str
    file: str | None = None
    line: int | None = None

    @property
    def profiles(self) -> tuple[str, ...]:
        """The client profiles this finding matters to, when it depends on the client kind."""
        from ..profiles.catalogue import affected

        return affected(self.code)

    def as_dict(self) -> dict[str, object]:
        data: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "name": self.name,
            "records": list(self.records),
            "message": self.message,
        }
        if self.profiles:
            data["profiles"] = list(self.profiles)
        if self.file is not None:
            data["file"] = self.file
        if self.line is not None:
            data["line"] = self.line
        return data


def has_errors(findings: Iterable[Finding]) -> bool:
    """Whether any finding is an error (the exit code 1 of ``zone lint`` and ``check``)."""
    return any(f.severity == Severity.ERROR for f in findings)


__all__ = ["SEVERITY_ORDER", "Finding", "Severity", "has_errors"]

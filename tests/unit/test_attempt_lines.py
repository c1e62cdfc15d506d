"""register's and options' attempt lines: columns as wide as the longest entry of the batch,
so the usual lines fit 80 columns (issue 18, item 8) and stay aligned."""

from __future__ import annotations

from siplocate.cli.client import attempt_line, attempt_widths
from siplocate.client import Attempt
from siplocate.target import Target, Transport


def _attempt(host: str, address: str, status: int | None, error: str | None) -> Attempt:
    return Attempt(Target(Transport.UDP, host, 5060, address), status, error, 1.25)


def test_attempt_lines_fit_80_columns_and_align() -> None:
    batch = [
        _attempt("sip1.example.com", "192.0.2.10", None, "connection refused"),
        _attempt("sip2.example.com", "192.0.2.11", 401, None),
        _attempt("sip2.example.com", "192.0.2.11", 200, None),
    ]
    lines = [attempt_line(a, attempt_widths(batch)) for a in batch]
    assert all(len(line) <= 80 for line in lines), lines
    assert len({len(line) for line in lines}) == 1  # aligned: same width, ms at the end
    assert lines[0].split() == ["udp", "sip1.example.com", "192.0.2.10:5060", "connection",
                                "refused", "1.2", "ms"]  # fmt: skip
    assert lines[1].index("401") == lines[0].index("connection")


def test_a_long_name_widens_only_its_column() -> None:
    long = "a-rather-long-registrar-name.sip.example.com"
    batch = [_attempt(long, "2001:db8::10", 200, None)]
    line = attempt_line(batch[0], attempt_widths(batch))
    assert f" {long}  [2001:db8::10]:5060  200 " in line

"""One exception hierarchy, so callers and the CLI can turn any failure into one clear line."""

from __future__ import annotations


class SiplocateError(Exception):
    """Root of every error siplocate raises on purpose; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class BadInput(SiplocateError, ValueError):
    """The caller gave something malformed (URI, option, file): exit code 2."""

    exit_code = 2


class NotFound(SiplocateError):
    """DNS answered, but nothing usable came out (NXDOMAIN, only ``.`` targets, no addresses).

    ``resolution`` carries the chain and trace that explain why, when there is one.
    """

    exit_code = 1

    def __init__(self, message: str, resolution: object | None = None) -> None:
        super().__init__(message)
        self.resolution = resolution


class DnsError(SiplocateError):
    """No nameserver gave a usable answer (timeouts, SERVFAIL, REFUSED)."""

    exit_code = 1


class OperationFailed(SiplocateError):
    """An action against a server (SIP request, DNS update) did not succeed."""

    exit_code = 1

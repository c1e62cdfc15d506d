"""DNS modes live with the resolver (``resolver/rules.py``); profiles name them from here."""

from __future__ import annotations

from ..resolver.rules import DnsMode

__all__ = ["DnsMode"]

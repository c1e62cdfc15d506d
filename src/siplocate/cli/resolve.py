"""``siplocate resolve``: the RFC 3263 chain as a tree, the try order and the load split."""

from __future__ import annotations

from . import app


@app.command()
def resolve() -> None:
    """Placeholder until the resolver lands."""

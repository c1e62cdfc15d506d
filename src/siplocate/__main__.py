"""``python -m siplocate``: the same as the ``siplocate`` command."""

from .cli import main

main()

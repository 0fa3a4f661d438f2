"""``python -m dispatchd`` is the ``dispatchd`` command (agents' hooks call it this way)."""

from .cli import main

main()

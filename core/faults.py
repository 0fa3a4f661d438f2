"""Fault injection for crash tests: ``DISPATCHD_FAULT=<point>`` kills the daemon at that point.

The daemon calls :func:`fault_point` at each named step of a dispatch; when the
environment names that step, the process exits at once with status 137, as a
``kill -9`` would leave it (no cleanup, no flush). Tests use this to prove that
a restart after a crash at any step loses no task and types none twice.
"""

from __future__ import annotations

import os
import sys

POINTS = ("after_claim", "after_launch", "after_mark_sent", "after_paste", "after_enter",
          "before_ack", "before_archive")
"""The named steps, in the order a dispatch passes them."""

ENV = "DISPATCHD_FAULT"


def fault_point(name: str) -> None:
    """Die here if ``$DISPATCHD_FAULT`` names this point."""
    if os.environ.get(ENV) == name:
        sys.stderr.write(f"dispatchd: injected fault at {name}\n")
        sys.stderr.flush()
        os._exit(137)

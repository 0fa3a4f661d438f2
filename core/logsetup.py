"""Where the log goes: stderr, or a file (``--log-file``), and never a crash for either.

A daemon started from a terminal (``dispatchd run &``) outlives it: once the
terminal is closed, every write to it fails (EIO). The stderr handler then goes
quiet instead of printing a "Logging error" traceback, which would fail too, for
every line. A log file is reopened when logrotate moves it away.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from pathlib import Path

from .text import EscapingFormatter, JsonLinesFormatter

LINE = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TerminalHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """stderr, until writing to it fails (a closed terminal): then nothing."""

    def handleError(self, record: logging.LogRecord) -> None:
        if isinstance(sys.exc_info()[1], OSError):
            # not setStream(): it flushes the dead stream first, which fails again
            self.stream = open(os.devnull, "w")  # noqa: SIM115 - kept as the stream
            return
        super().handleError(record)

    def flush(self) -> None:
        with contextlib.suppress(OSError):  # the terminal is gone; the next write goes nowhere
            super().flush()


def let_go_of_a_dead_terminal() -> None:
    """At exit: stdout or stderr on a terminal that is gone would fail Python's last flush,
    which makes the exit status 120 after a clean stop; they are swapped for nothing."""
    for name in ("stdout", "stderr"):
        try:
            getattr(sys, name).flush()
        except (OSError, ValueError):
            setattr(sys, name, open(os.devnull, "w"))  # noqa: SIM115 - Python closes it at exit


def setup_logging(level: int, log_format: str, log_file: Path | None, verbose: int) -> None:
    handler: logging.Handler
    if log_file is not None:
        handler = logging.handlers.WatchedFileHandler(log_file, encoding="utf-8")
    else:
        handler = TerminalHandler(sys.stderr)
    handler.setFormatter(JsonLinesFormatter() if log_format == "json" else EscapingFormatter(LINE))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    if verbose < 2:
        logging.getLogger("watchdog").setLevel(logging.WARNING)

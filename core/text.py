"""Making untrusted text safe for a terminal and for a log line."""

from __future__ import annotations

import logging
import re

_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""C0 controls except TAB and LF, DEL, and C1 controls (ESC included: no escape sequence survives)."""

ATTEMPT = re.compile(r"\(dispatchd attempt ([0-9a-f]{8})\)")
"""The last line of every message: which launch of which task this text is."""


def sanitize_for_terminal(text: str) -> str:
    """Text that can be pasted into an agent's input and contains no control or escape sequence.

    CR and CRLF become LF (tmux turns LF into the terminal's newline inside a
    bracketed paste); every other control character is dropped, so neither a
    bracketed-paste end marker (``ESC[201~``) nor an OSC sequence can reach the
    agent.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return _CONTROLS.sub("", text)


def for_log(value: object) -> str:
    """A name or text from a task file as it may appear in a log: no raw control bytes."""
    text = str(value)
    if _CONTROLS.search(text) or "\n" in text or "\t" in text:
        return repr(text)
    return text


class EscapingFormatter(logging.Formatter):
    """Log lines never carry raw control bytes or line breaks from the data they mention.

    Project paths, file names and agent output reach log messages in many
    places; escaping the finished message (not the traceback, which is ours)
    means none can forge a log line or send an escape sequence to a terminal.
    """

    def formatMessage(self, record: logging.LogRecord) -> str:
        line = super().formatMessage(record)
        if _CONTROLS.search(line) or "\n" in line:
            line = _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", line).replace("\n", "\\n")
        return line


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per log line (``--log-format json``): time, level, logger, message."""

    def format(self, record: logging.LogRecord) -> str:
        import json

        entry = {"ts": round(record.created, 3), "level": record.levelname,
                 "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)  # ASCII only: no control byte, C1 included, survives

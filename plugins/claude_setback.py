"""Claude Code's failed turns: which are the account's or the API's, and whether work was done.

Measured by hand with Claude Code 2.1.330 against a model server that refuses turns
(``tests/test_real_agents.py`` runs the 90 s 429 and a 20 s 529 in CI):

* A refusal it will not wait out (a 429 whose ``retry-after`` is long, a 5xx after ten
  retries over about four minutes) ends the turn with ``● API Error: …`` as its last
  output and ``Resend your message to try again`` in the input box, and runs the
  ``StopFailure`` hook with ``error`` = ``rate_limit`` (429), ``overloaded`` (529),
  ``server_error`` (5xx, also a 529 after its retries), ``authentication_failed``,
  ``billing_error`` … and ``unknown`` (no connection: "Unable to connect to API").
* A short ``retry-after`` (20-30 s) it waits out by itself, busy: nothing to do here.
* The transcript (``transcript_path`` in the hook's payload, one JSON object per line)
  marks the failure as an ``assistant`` entry with ``isApiErrorMessage: true``. Entries
  between the user's message (``promptId`` = the payload's ``prompt_id``) and that one
  are the work done first: model output, tool calls (``tool_use``) and their results.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

from dispatchd.setback import LIMIT, OUTAGE

ERRORS = {"rate_limit": (LIMIT, "rate limit"), "billing_error": (LIMIT, "usage limit"),
          "overloaded": (OUTAGE, "API overloaded"), "server_error": (OUTAGE, "API server error")}
"""``StopFailure`` errors that are the account's or the API's, not the task's."""
SIGNS = ((re.compile(r"\b429\b|rate limit", re.I), LIMIT, "rate limit"),
         (re.compile(r"\b529\b|overloaded", re.I), OUTAGE, "API overloaded"),
         (re.compile(r"\b5\d\d\b|server error|server-side issue", re.I), OUTAGE, "API server error"),
         (re.compile(r"unable to connect|connection (?:error|refused|reset)|ECONNREFUSED|"
                     r"fetch failed|request timed out|socket hang up", re.I),
          OUTAGE, "no connection to the API"))
"""The same, told by the error's text (on screen, or in a report with ``error: unknown``)."""
API_ERROR = re.compile(r"^[●⏺]\s+(?:API Error\b|.*(?:limit reached|hit your (?:[\w-]+ )?limit))",
                       re.IGNORECASE)
"""How a failed turn's last output starts: an API error, or a usage limit's message."""
TRANSCRIPT_TAIL = 512 * 1024
"""Bytes read from the end of a transcript: a turn's entries are near its end."""


def classify(error: str, text: str) -> tuple[str, str] | None:
    """(kind, reason) for a failure reported as ``error`` with message ``text``, if it is a
    setback; ``None`` for the task's own failures (a bad request, output too long, …)."""
    if error in ERRORS:
        return ERRORS[error]
    if error not in ("", "unknown") or not text:
        return None
    return next(((kind, reason) for sign, kind, reason in SIGNS if sign.search(text)), None)


def error_on_screen(lines: list[str]) -> int | None:
    """The row of the turn's ``● API Error`` (or limit) line, when it is the last output."""
    for i in range(len(lines) - 1, -1, -1):
        if API_ERROR.match(lines[i]):
            return i
        if lines[i].startswith(("●", "⏺", "❯ ")):
            return None  # later output or a later message: the error is not this turn's end
    return None


def worked_in_transcript(report: Mapping[str, Any]) -> bool | None:
    """Whether Claude Code's transcript shows work on the failed turn before the failure;
    ``None`` when it cannot be read or the turn's message is not in it."""
    path = report.get("transcript_path")
    if not isinstance(path, str) or not path:
        return None
    try:
        with open(path, "rb") as fh:
            fh.seek(max(0, os.fstat(fh.fileno()).st_size - TRANSCRIPT_TAIL))
            raw = fh.read()
    except OSError:
        return None
    entries = []
    for line in raw.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # the first line of the tail may be cut
        if isinstance(entry, dict) and entry.get("type") in ("user", "assistant"):
            entries.append(entry)
    prompt_id = report.get("prompt_id")
    start = next((i for i, e in enumerate(entries) if prompt_id and e.get("promptId") == prompt_id
                  and e["type"] == "user"), None)
    if start is None:
        return None
    return any(_is_work(e) for e in entries[start + 1:])


def _is_work(entry: Mapping[str, Any]) -> bool:
    if entry["type"] == "assistant":
        return not entry.get("isApiErrorMessage")
    content = (entry.get("message") or {}).get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "tool_result" for b in content)

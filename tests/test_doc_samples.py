"""Sample outputs in README.md and docs/ match what the program prints.

A sample that drifts from the program teaches a newcomer the wrong thing: the
table headers of ``status`` and ``plugins``, the logger that writes each sample
log line, and the folders a task moves through are checked against the code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dispatchd.status import render_plugins, render_status
from dispatchd.store import STATES

ROOT = Path(__file__).parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
LOG_LINE = re.compile(r"(?:DEBUG|INFO|WARNING|ERROR) (dispatchd(?:\.[a-z_]+)*): (.+)$")


def _code_lines() -> list[tuple[Path, str]]:
    """Every line inside a fenced code block of the docs."""
    out = []
    for path in DOCS:
        inside = False
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.lstrip().startswith("```"):
                inside = not inside
            elif inside:
                out.append((path, line.strip()))
    return out


def _headers() -> dict[str, list[str]]:
    status = render_status({"daemon": {"running": True, "pid": 1}, "sessions": [],
                            "projects": [], "waiting": [{"priority": "high", "name": "t.md",
                                                         "project": "/p"}], "holds": []})
    plugins = render_plugins([])
    rows = [line for line in (status + "\n" + plugins).splitlines()
            if line.split()[:1] in (["SESSION"], ["PROJECT"], ["NEXT"], ["NAME"])]
    return {row.split()[0]: row.split() for row in rows}


def test_sample_tables_have_the_columns_the_program_prints():
    headers = _headers()
    assert set(headers) >= {"SESSION", "PROJECT", "NEXT", "NAME"}
    for path, line in _code_lines():
        words = line.split()
        if words and words[0] in headers and len(words) > 2 and all(w.isupper() for w in words):
            assert words == headers[words[0]], f"{path.name}: {line}"


def _logger_source(name: str) -> str:
    parts = name.split(".")[1:]
    if not parts:  # the root "dispatchd" logger: the dispatch_log plugin's lines
        return (ROOT / "plugins" / "dispatch_log.py").read_text()
    folder = ROOT / ("plugins" if parts[0] == "plugins" else "core")
    return (folder / f"{parts[-1]}.py").read_text()


@pytest.mark.parametrize(("path", "line"), [(p, ln) for p, ln in _code_lines()
                                            if LOG_LINE.search(ln)])
def test_sample_log_lines_name_the_logger_that_writes_them(path, line):
    logger, message = LOG_LINE.search(line).groups()  # type: ignore[union-attr]
    # the message's words up to its first variable part (a path, a name, a number)
    fixed = re.split(r"[/\d'\"(`]|\S+\.md\b|\b(?:ccl|auto|web|demo|fix|claude|codex)\b",
                     message)[0]
    fixed = " ".join(fixed.split()[:4]).rstrip(":;,. ")
    if len(fixed) < 8:
        pytest.skip(f"no fixed words to look for in {message!r}")
    source = " ".join(_logger_source(logger).split())
    assert fixed in source, f"{path.name}: {logger} never writes {fixed!r}"


def test_folder_lists_name_every_state():
    readme = (ROOT / "README.md").read_text()
    for state in STATES:
        assert f"{state}/" in readme, state

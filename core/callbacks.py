"""The channel from agent hooks back to the daemon: small JSON files in ``<state_dir>/events/``.

An agent's hook (Claude Code's ``UserPromptSubmit``, ``Stop``) runs the short
shell command of :func:`hook_command`, which saves the hook's JSON payload as
``<unique>.<event>.<session>.<task>.json`` (atomically, through a rename);
``dispatchd hook EVENT --session S --task ID`` writes the same file from
anywhere else. The daemon watches the folder and deletes each file only once
what it reports is on record (an acknowledgement saved, a finished task moved),
so a crash in between reads it again at the restart. The task id in each name
means a late ``Stop`` for an older task never frees a session busy with a newer one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .fsio import write_atomic

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class AgentEvent:
    event: str
    session: str
    task_id: str
    payload: dict[str, Any]
    ts: float
    path: Path | None = None
    """Its file, to :func:`consume` once handled."""


def events_dir(state_dir: Path) -> Path:
    return state_dir / "events"


def event_name(unique: str, event: str, session: str, task_id: str) -> str:
    """``<unique>.<event>.<session>.<task>.json``: none of the parts can hold a dot."""
    return f"{unique}.{event}.{session}.{task_id}.json"


def hook_command(state_dir: Path, session: str, task_id: str, event: str) -> str:
    """The shell command an agent hook runs to report ``event``: a few ms of ``sh``.

    It saves the hook's JSON (on stdin) under a temporary name and renames it into
    place, so the daemon never reads half a file. Every part is quoted.
    """
    folder = shlex.quote(str(events_dir(state_dir)))
    suffix = shlex.quote(f".{event}.{session}.{task_id}.json")
    return (f'd={folder}; t=$(mktemp "$d/.XXXXXXXX") && cat > "$t" && '
            f'mv "$t" "$d/${{t##*/.}}"{suffix}')


def post_event(state_dir: Path, event: str, session: str, task_id: str,
               payload: dict[str, Any]) -> Path:
    """Write one event as the hook command does (``dispatchd hook``; safe from many processes)."""
    unique = f"{time.time_ns()}-{os.getpid()}-{secrets.token_hex(3)}"
    path = events_dir(state_dir) / event_name(unique, event, session, task_id)
    write_atomic(path, json.dumps(payload).encode())
    return path


def peek_events(state_dir: Path, skip: Collection[Path] = ()) -> list[AgentEvent]:
    """Every pending event, oldest first, left in place (:func:`consume` each once handled).

    Files in ``skip`` (events already being acted on) are not read again. Unreadable
    files are logged and removed.
    """
    return _read_events(state_dir, remove=False, skip=skip)


def take_events(state_dir: Path) -> list[AgentEvent]:
    """Read and remove every pending event, oldest first (for tools; the daemon peeks)."""
    return _read_events(state_dir, remove=True)


def consume(event: AgentEvent) -> None:
    """Remove a handled event's file."""
    if event.path is not None:
        event.path.unlink(missing_ok=True)


def _read_events(state_dir: Path, remove: bool,
                 skip: Collection[Path] = ()) -> list[AgentEvent]:
    folder = events_dir(state_dir)
    try:
        entries = [e for e in os.scandir(folder) if e.name.endswith(".json") and e.name[0] != "."
                   and folder / e.name not in skip]
    except FileNotFoundError:
        return []
    found = []
    for entry in entries:
        try:
            found.append((entry.stat().st_mtime, entry.name))
        except FileNotFoundError:
            continue
    out = []
    for mtime, name in sorted(found):  # oldest first
        path = folder / name
        parts = name.split(".")
        try:
            if len(parts) != 5:
                raise ValueError("not <unique>.<event>.<session>.<task>.json")
            raw = path.read_text(encoding="utf-8", errors="replace")
            try:
                payload = json.loads(raw) if raw.strip() else {}
            except ValueError:
                payload = {"raw": raw[:4096]}
            out.append(AgentEvent(parts[1], parts[2], parts[3],
                                  payload if isinstance(payload, dict) else {}, mtime, path))
        except FileNotFoundError:
            continue
        except (OSError, ValueError) as exc:
            log.warning("dropping unreadable agent event %s: %s", name, exc)
            path.unlink(missing_ok=True)
        if remove:
            path.unlink(missing_ok=True)
    return out

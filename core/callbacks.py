"""The channel from agent hooks back to the daemon: small JSON files in ``<state_dir>/events/``.

An agent's hook (Claude Code's ``Stop``) runs ``dispatchd hook stop --session S
--task ID``; that writes one event file atomically. The daemon watches the
folder, reads each file once and deletes it. Files survive a daemon restart,
and the task id in each event means a late ``Stop`` for an older task never
frees a session busy with a newer one.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import sys
import time
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


def events_dir(state_dir: Path) -> Path:
    return state_dir / "events"


def hook_command(state_dir: Path, session: str, task_id: str, event: str) -> str:
    """The shell command an agent hook runs to report ``event`` (every part quoted)."""
    return shlex.join([sys.executable, "-m", "dispatchd", "hook", event,
                       "--state-dir", str(state_dir), "--session", session, "--task", task_id])


def post_event(state_dir: Path, event: str, session: str, task_id: str,
               payload: dict[str, Any]) -> Path:
    """Write one event (called by ``dispatchd hook``; safe from many processes at once)."""
    now = time.time()
    path = events_dir(state_dir) / f"{now:.6f}-{os.getpid()}-{secrets.token_hex(3)}.json"
    record = {"event": event, "session": session, "task": task_id, "payload": payload, "ts": now}
    write_atomic(path, json.dumps(record).encode())
    return path


def peek_events(state_dir: Path) -> list[AgentEvent]:
    """Read every pending event without consuming it (used at start, before sessions exist)."""
    return _read_events(state_dir, remove=False)


def take_events(state_dir: Path) -> list[AgentEvent]:
    """Read and remove every pending event, oldest first; unreadable files are logged and dropped."""
    return _read_events(state_dir, remove=True)


def _read_events(state_dir: Path, remove: bool) -> list[AgentEvent]:
    folder = events_dir(state_dir)
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json") and n[0] != ".")
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        path = folder / name
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            out.append(AgentEvent(str(rec["event"]), str(rec["session"]), str(rec["task"]),
                                  dict(rec.get("payload") or {}), float(rec["ts"])))
        except FileNotFoundError:
            continue
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("dropping unreadable agent event %s: %s", name, exc)
        if remove:
            path.unlink(missing_ok=True)
    return out

"""The tasks waiting in the inboxes, read without a daemon (for ``status`` and ``explain``).

Read only: ids and arrival times come from ``arrivals.jsonl`` as the daemon left it
(never compacted here: the daemon owns that file); a file it has not seen yet gets
a ``(new:<name>)`` id and its modification time as its arrival.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import replace
from pathlib import Path

from .config import Config
from .fsio import NotATaskFile, read_regular
from .store import QUEUE_DIR, arrival_order, inbox_of, is_task_name, unsafe_inbox
from .task import Task, TaskError, parse_task_text


def _arrivals(project: Path) -> dict[tuple[int, int], tuple[str, float, tuple[int, int]]]:
    """``arrivals.jsonl`` read without compacting it (the daemon owns that file)."""
    out: dict[tuple[int, int], tuple[str, float, tuple[int, int]]] = {}
    try:
        lines = (project / QUEUE_DIR / "arrivals.jsonl").read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return out
    for line in lines:
        try:
            rec = json.loads(line)
            out[(int(rec["ino"]), int(rec["mtime_ns"]))] = (str(rec["id"]), float(rec["seen"]),
                                                            arrival_order(rec))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def waiting_tasks(config: Config, projects: set[Path]) -> tuple[list[Task], list[str]]:
    """Every readable task in the inboxes of ``projects``, and one line per unreadable file."""
    tasks: list[Task] = []
    invalid: list[str] = []
    now = time.time()
    for project in sorted(projects):
        if unsafe_inbox(project):
            continue
        try:
            names = sorted(n for n in os.listdir(inbox_of(project)) if is_task_name(n))
        except OSError:
            continue
        seen = _arrivals(project)
        for name in names:
            path = inbox_of(project) / name
            try:
                data, st = read_regular(path, config.max_task_bytes)
                found = seen.get((st.st_ino, st.st_mtime_ns))
                tid, arrival, order = found or (f"(new:{name})", min(now, st.st_mtime),
                                                (st.st_ctime_ns, 0))
                tasks.append(replace(parse_task_text(data.decode("utf-8"), id=tid, name=name,
                                                     project=project, path=path,
                                                     arrival=arrival), order=order))
            except (OSError, NotATaskFile, TaskError, UnicodeDecodeError) as exc:
                invalid.append(f"{path}: {exc}")
    return tasks, invalid

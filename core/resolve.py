"""``dispatchd resolve``: a person decides about a task in ``indoubt/`` (or ``failed/``).

``--retry`` puts it back in its inbox, keeping its id (it will be typed again, as a
new attempt with its own attempt id: do it only when the agent verifiably did
not get it); ``--drop`` sets it aside
in ``failed/``. Both are the same safe moves the daemon makes, so they are
fine while it runs.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .config import Config
from .fsio import append_line, link_in_durable, move_durable, write_atomic
from .store import QUEUE_DIR, inbox_of


class ResolveError(Exception):
    """Nothing was moved; the message says why."""


MIN_PREFIX = 4
"""The shortest prefix of an id's random part that names a task (as git's shortest hash)."""


def names_task(ref: str, task_id: str, name: str) -> bool:
    """Whether ``ref`` names the task ``task_id`` (file ``name``): its id, its file name
    (``fix.md``, or ``<id>.fix.md`` as stored), or a prefix of the id that reaches into its
    random part (``20261124T140210-0c4e``), or of the random part alone (``0c4e``), 4
    characters at least. Ids start with the time they were first seen, so a shorter
    prefix (the year) would name most tasks."""
    if ref in (task_id, name, f"{task_id}.{name}"):
        return True
    stamp, _, random = task_id.rpartition("-")
    return (len(ref) > len(stamp) + MIN_PREFIX and task_id.startswith(ref)) or \
        (len(ref) >= MIN_PREFIX and bool(random) and random.startswith(ref))


def find_task(config: Config, task_id: str, projects: set[Path]) -> Path:
    """The one file in ``indoubt/`` or ``failed/`` that ``task_id`` names (an id, an id prefix
    of at least 4 characters, or a file name)."""
    found = []
    for project in sorted(projects):
        for state in ("indoubt", "failed"):
            folder = project / QUEUE_DIR / state
            try:
                names = os.listdir(folder)
            except OSError:
                continue
            found += [folder / n for n in names if n.endswith(".md")
                      and names_task(task_id, *n.partition(".")[::2])]
    if not found:
        raise ResolveError(f"no task {task_id!r} in indoubt/ or failed/ of any project")
    if len(found) > 1:
        listed = ", ".join(p.name for p in found[:5]) + (", …" if len(found) > 5 else "")
        raise ResolveError(f"{task_id!r} matches {len(found)} tasks ({listed}); give more of "
                           "the id")
    return found[0]


def resolve(path: Path, retry: bool, reason: str) -> Path:
    """Move one in-doubt or failed task: back to its inbox, or to ``failed/``."""
    project = path.parent.parent.parent
    task_id, _, name = path.name.partition(".")
    reason_file = path.with_name(path.name + ".reason")
    if retry:
        dst = inbox_of(project) / name
        try:
            link_in_durable(path, dst)
        except FileExistsError:
            dst = inbox_of(project) / f"{task_id}.{name}"
            link_in_durable(path, dst)
        reason_file.unlink(missing_ok=True)
        event = "retried"
    else:
        if path.parent.name == "failed":
            raise ResolveError(f"{path.name} is already in failed/")
        dst = project / QUEUE_DIR / "failed" / path.name
        write_atomic(dst.with_name(dst.name + ".reason"), (reason + "\n").encode())
        move_durable(path, dst)
        reason_file.unlink(missing_ok=True)
        event = "failed"
    append_line(project / QUEUE_DIR / "journal.jsonl",
                {"ts": time.time(), "task": task_id, "name": name, "event": event,
                 "reason": reason})
    return dst

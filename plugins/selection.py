"""Default session choice: the project's dedicated session first, else a free autonomous one."""

from __future__ import annotations

from collections.abc import Sequence

from dispatchd import hookimpl
from dispatchd.config import Config
from dispatchd.hooktypes import SessionInfo
from dispatchd.task import Task


@hookimpl(trylast=True)
def select_session(task: Task, candidates: Sequence[SessionInfo], config: Config) -> str | None:
    if task.session is not None:
        return task.session if any(c.name == task.session for c in candidates) else None
    for c in candidates:
        if c.kind == "dedicated" and c.project is not None and _same(c.project, task.project):
            return c.name
    for c in candidates:
        if c.kind == "autonomous":
            return c.name
    return None


def _same(a: object, b: object) -> bool:
    return str(a).rstrip("/") == str(b).rstrip("/")

"""Default model choice (S4): ``critical`` → ``opus``, everything else → ``sonnet``; ``model:`` wins."""

from __future__ import annotations

from dispatchd import hookimpl
from dispatchd.config import Config
from dispatchd.hooktypes import SessionInfo
from dispatchd.task import Task


@hookimpl(trylast=True)
def choose_model(task: Task, session: SessionInfo, config: Config) -> str:
    if task.model:
        return task.model
    return "opus" if task.priority == "critical" else "sonnet"

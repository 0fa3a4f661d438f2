"""Default message: ``[<file name>] <body>``, a blank line, and the footer.

A task without a body sends its title, or the seed's fixed text.
"""

from __future__ import annotations

from dispatchd import hookimpl
from dispatchd.config import Config
from dispatchd.hooktypes import SessionInfo
from dispatchd.task import Task

EMPTY_BODY = "Check .agent-queue/inbox/ — 1 task assigned."
"""Sent as the body when the task file has none, as the seed did."""


@hookimpl(trylast=True)
def build_message(task: Task, session: SessionInfo, model: str, config: Config) -> str:
    body = task.body or task.title or EMPTY_BODY
    footer = config.message_footer.strip()
    return f"[{task.name}] {body}" + (f"\n\n{footer}" if footer else "")

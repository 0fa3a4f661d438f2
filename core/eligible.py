"""What the core decides before any policy plugin: the sessions a task may go to at all.

A task bound to a session (``session:`` in its frontmatter) goes to that session
only, whatever ``select_session`` plugins do with the candidates they are offered:
the promise is kept in the core, not left to each plugin. The daemon's dispatch
round, ``dispatchd.testing.decide`` and ``dispatchd explain`` all offer only these.
"""

from __future__ import annotations

from collections.abc import Sequence

from .hooktypes import SessionInfo
from .task import Task


def eligible(task: Task, candidates: Sequence[SessionInfo]) -> list[SessionInfo]:
    """The candidates ``task`` may be offered to: only its bound session, if it has one."""
    if task.session is None:
        return list(candidates)
    return [c for c in candidates if c.name == task.session]

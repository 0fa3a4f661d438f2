"""One dispatch round's choices, made the same way by the daemon, ``testing.decide`` and
``dispatchd explain``: the dispatch decision exists once.

Tasks, in dispatch order, take sessions from the round's free ones. For each task the
core first narrows the candidates: a task bound to a session (``session:`` in its
frontmatter) is offered only that one, whatever policy plugins do, and an agent
whose account is held (:mod:`dispatchd.holds`) is offered none. Then the policy
(``select_session``) picks among what is left. A session taken, or found unusable
when looked at, is gone for the rest of the round.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from .hooktypes import SessionInfo
from .task import Task

Select = Callable[[Task, list[SessionInfo]], SessionInfo | None]
"""The policy: one of the offered sessions for the task, or None (it waits)."""


def eligible(task: Task, candidates: Sequence[SessionInfo]) -> list[SessionInfo]:
    """The candidates ``task`` may be offered to: only its bound session, if it has one."""
    if task.session is None:
        return list(candidates)
    return [c for c in candidates if c.name == task.session]


class RoundPlan:
    """The free sessions of one round, and how a task gets one of them."""

    def __init__(self, free: Sequence[SessionInfo], select: Select,
                 admits: Callable[[Task, SessionInfo], bool] | None = None) -> None:
        self.free = list(free)
        self.select = select
        self.admits = admits or (lambda task, session: True)

    def offered(self, task: Task) -> list[SessionInfo]:
        """What ``task`` is offered now: its eligible free sessions whose agent may work."""
        return [c for c in eligible(task, self.free) if self.admits(task, c)]

    def choose(self, task: Task) -> SessionInfo | None:
        """The session the policy picks for ``task`` now (not yet taken), or None: it waits."""
        offered = self.offered(task)
        return self.select(task, offered) if offered else None

    def take(self, session: SessionInfo) -> None:
        """``session`` is used (or unusable) for the rest of the round."""
        self.free = [c for c in self.free if c.name != session.name]

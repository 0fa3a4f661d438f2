"""One round's choices (``dispatchd.rounds``), as the daemon, ``decide`` and ``explain`` make
them: bound tasks get only their session, held agents none, the policy picks the rest."""

from __future__ import annotations

from dispatchd.hooktypes import SessionInfo
from dispatchd.rounds import RoundPlan
from dispatchd.task import Task
from dispatchd.testing import make_session, make_task


def first(task: Task, offered: list[SessionInfo]) -> SessionInfo | None:
    return offered[0]


def test_tasks_in_order_take_the_free_sessions_the_policy_picks():
    plan = RoundPlan([make_session("a"), make_session("b")], first)
    got = []
    for task in (make_task(name="1.md"), make_task(name="2.md"), make_task(name="3.md")):
        chosen = plan.choose(task)
        if chosen is not None:
            plan.take(chosen)
        got.append(chosen.name if chosen else None)
    assert got == ["a", "b", None] and plan.free == []


def test_a_bound_task_is_offered_its_session_only_and_a_held_agent_none():
    seen: list[list[str]] = []

    def record(task: Task, offered: list[SessionInfo]) -> SessionInfo | None:
        seen.append([c.name for c in offered])
        return offered[0]

    plan = RoundPlan([make_session("a"), make_session("b", agent="codex")], record,
                     admits=lambda task, session: session.agent != "codex")
    assert plan.choose(make_task(session="b")) is None  # its session's agent is held
    assert seen == []  # the policy is not even asked
    assert plan.choose(make_task(session="a")).name == "a"  # type: ignore[union-attr]
    assert plan.choose(make_task()).name == "a"  # type: ignore[union-attr]
    assert seen == [["a"], ["a"]]

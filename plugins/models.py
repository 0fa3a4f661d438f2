"""Default model choice: the task's ``model:`` wins; else the agent decides.

Claude Code's profile keeps the seed's rule: ``critical`` → ``opus``,
everything else → ``sonnet``. Other agents return ``""``: their own default.
"""

from __future__ import annotations

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile
from dispatchd.task import Task


@hookimpl(trylast=True)
def choose_model(task: Task, agent: AgentProfile) -> str:
    return task.model or agent.model_for(task)

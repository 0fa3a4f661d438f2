"""The ``agent_*`` hooks' defaults: ask the agent's profile (see :mod:`dispatchd.agents`).

A plugin that overrides one of these hooks changes that decision for every
agent; a plugin that registers a profile adds an agent without touching them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile, settings_for
from dispatchd.config import Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.setback import Setback
from dispatchd.task import Task


@hookimpl(trylast=True)
def agent_command(task: Task, session: SessionInfo, model: str, config: Config,
                  agent: AgentProfile) -> AgentLaunch:
    return agent.command(task, session, model, config, settings_for(config, agent))


@hookimpl(trylast=True)
def agent_ready(screen: str, agent: AgentProfile) -> bool:
    return agent.ready(screen)


@hookimpl(trylast=True)
def agent_idle(screen: str, agent: AgentProfile) -> bool | None:
    return agent.idle(screen)


@hookimpl(trylast=True)
def agent_input_pending(screen: str, agent: AgentProfile) -> bool:
    return agent.input_pending(screen)


@hookimpl(trylast=True)
def agent_usage_limit(screen: str, agent: AgentProfile) -> float | None:
    return agent.usage_limit(screen)


@hookimpl(trylast=True)
def agent_account(agent: AgentProfile) -> str:
    return agent.name


@hookimpl(trylast=True)
def agent_setback(screen: str, report: Mapping[str, Any] | None,
                  agent: AgentProfile) -> Setback | None:
    return agent.setback(screen, report)

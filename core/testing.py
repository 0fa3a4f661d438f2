"""Helpers for testing a dispatchd plugin: no tmux, no daemon, no files.

    from dispatchd.testing import decide, make_session, make_task, plugin_manager
    import my_plugin

    def test_docs_go_to_the_writer():
        pm = plugin_manager(my_plugin)
        sessions = [make_session("ccl-auto-1"), make_session("docs-writer")]
        assert decide(pm, make_task(tags=["docs"]), sessions).session == "docs-writer"

:func:`decide` runs the same hooks, in the same order, as one dispatch of
the daemon (``select_session``, ``choose_model``, ``agent_command``,
``build_message``), so what it returns is what the daemon would do.

:class:`MemoryStore` is a task store in memory with the file store's semantics
(``tests/test_store_contract.py`` holds both to one contract), and
:class:`FakeTransport` a session transport in memory with tmux's
(``tests/test_transport_contract.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .agents import AgentProfile, AgentRegistry
from .config import Config
from .faketransport import EchoAgent, FakeAgent, FakeTransport
from .hooktypes import AgentLaunch, SessionInfo, SessionKind
from .memstore import MemoryStore
from .pluginmanager import PluginManager, get_plugin_manager
from .rounds import RoundPlan
from .store import TaskStore
from .task import Task
from .transport import SessionTransport

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Decision", "EchoAgent", "FakeAgent", "FakeTransport", "MemoryStore", "decide",
           "make_session", "make_task", "plugin_manager", "run_engine"]


def plugin_manager(*plugins: object, entry_points: bool = False) -> PluginManager:
    """A fresh manager with the built-in defaults and ``plugins`` registered on top.

    Installed (entry-point) plugins are left out unless ``entry_points=True``,
    so a test sees only what it registers.
    """
    pm = get_plugin_manager(entry_points=entry_points)
    for plugin in plugins:
        pm.register(plugin)
    return pm


def make_task(body: str = "do it", *, name: str = "t.md", project: str | Path = "/srv/project",
              tags: Iterable[str] = (), **fields: Any) -> Task:
    """A waiting task in one line; any :class:`~dispatchd.task.Task` field may be given."""
    project = Path(project)
    return Task(id=fields.pop("id", "20260101T000000-000000000000"), name=name, project=project,
                path=project / ".agent-queue" / "inbox" / name, body=body, tags=tuple(tags),
                **fields)


def make_session(name: str = "ccl-auto-1", kind: SessionKind = "autonomous", *,
                 project: str | Path | None = None, state: str = "idle",
                 agent: str | None = None) -> SessionInfo:
    """A session as hooks see it (``kind="dedicated"`` with ``project=`` for a dedicated one)."""
    return SessionInfo(name, kind, Path(project) if project is not None else None, state,
                       None, agent)


@dataclass(frozen=True)
class Decision:
    """What the daemon would do with one task: where, with which agent and model, what it types."""

    session: str | None
    """The session chosen, or None when the task would wait."""
    agent: str = ""
    model: str | None = None
    launch: AgentLaunch | None = None
    message: str = ""


def decide(pm: PluginManager, task: Task, sessions: Sequence[SessionInfo],
           config: Config | None = None) -> Decision:
    """One dispatch decision for ``task`` among the free ``sessions``, without tmux."""
    config = config or Config()

    def select(task: Task, offered: list[SessionInfo]) -> SessionInfo | None:
        name = pm.hook.select_session(task=task, candidates=offered, config=config)
        return next((s for s in offered if s.name == name), None)

    chosen = RoundPlan(sessions, select).choose(task)
    if chosen is None:
        return Decision(None)
    agent = _registry(pm, config).get(task.agent or chosen.agent)
    model = pm.hook.choose_model(task=task, session=chosen, config=config, agent=agent)
    launch = pm.hook.agent_command(task=task, session=chosen, model=model or "",
                                   config=config, agent=agent)
    message = pm.hook.build_message(task=task, session=chosen, model=model or "", config=config)
    return Decision(chosen.name, agent.name, model, launch, message or "")


def _registry(pm: PluginManager, config: Config) -> AgentRegistry:
    profiles: list[AgentProfile] = []
    pm.hook.register_agents(register=profiles.append)
    return AgentRegistry(profiles, config.default_agent)


@contextlib.asynccontextmanager
async def run_engine(config: Config, *, store: TaskStore, transport: SessionTransport,
                     pm: PluginManager | None = None) -> AsyncIterator[Engine]:
    """The real engine on any store and transport (``MemoryStore``, ``FakeTransport``), in
    this event loop: no tmux, no task files, no file-system events (the daemon's own state
    folder, ``config.state_dir``, is still used). It stops cleanly when the block ends."""
    from .engine import Engine

    engine = Engine(replace(config, watch_events=False), pm or plugin_manager(), store=store,
                    transport=transport)
    running = asyncio.create_task(engine.run(), name="engine")
    started = asyncio.create_task(engine.started.wait())
    await asyncio.wait({running, started}, return_when=asyncio.FIRST_COMPLETED)
    if running.done():
        started.cancel()
        running.result()  # the start failed: say why
    try:
        yield engine
    finally:
        if not running.done():
            engine.stop()
            await running


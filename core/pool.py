"""The session pool: which sessions exist in config, and what each is doing.

Only the sessions named in config are ever touched: dedicated ones, then the
autonomous range ``prefix+start_index`` … ``prefix+start_index+max-1``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from .agents import AgentProfile
from .config import Config
from .hooktypes import SessionInfo, SessionKind
from .task import Task
from .transport import PaneRef

IDLE, LAUNCHING, WORKING, FINISHING = "idle", "launching", "working", "finishing"


@dataclass
class Session:
    """One configured session and its state in this daemon."""

    name: str
    kind: SessionKind
    project: Path | None = None
    agent: str | None = None
    """The agent the config gives this session (``None``: the default one)."""
    profile: AgentProfile | None = None
    """The profile of the agent now running for its task."""
    state: str = IDLE
    task: Task | None = None
    model: str | None = None
    pane: PaneRef | None = None
    """The pane the current task went to (its ids, to notice a re-created session)."""
    home_pane: PaneRef | None = None
    """The pane the last agent ran in; the next one starts there while it exists."""
    phase: str = ""
    """While finishing: the recovery phase recorded before the task's file moves."""
    exit_marker: str = ""
    """What the current agent's pane shows when the agent exits (see the trampoline)."""
    attempt: str = ""
    """This launch's id, the last line of the text it pastes; an acknowledgement whose prompt
    shows another attempt's id is not this one's."""
    reports: bool = False
    """Whether the current agent reports its prompts and turns through hooks."""
    clean: bool = False
    """Whether the agent's transcript showed no message when it became ready (so a message
    seen there later is this task's)."""
    cooldown_until: float = 0.0
    last_failure: str | None = None
    since: float = 0.0
    busy_seen: bool = False
    idle_polls: int = 0
    idle_since: float = 0.0
    """When (monotonic) the agent started to look idle on screen; 0 while it looks busy."""
    present: bool = True
    """Whether tmux has the session (as of the last look); ``missing`` otherwise."""
    unavailable: tuple[str, str] = ("", "")
    """Why this idle session takes no task now: its state and detail (``busy``, ``not
    dispatchd's: make``; ``agent_missing``, ``claude``); checked again every round."""
    note: str = ""
    """What a person can do about the state (shown by ``status`` and ``explain``)."""
    waiting_for: str = ""
    """While launching: the dialog on the agent's screen that only a person may answer."""
    hooks_silent: bool = False
    """Its agent was seen taking a task without running its hooks (warned about once)."""
    last_profile: AgentProfile | None = None
    """The profile of dispatchd's agent left in ``home_pane`` after its task."""
    left_text: str = ""
    """A task whose text may still sit unsubmitted in that agent's input box."""

    def in_cooldown(self, now: float | None = None) -> bool:
        return (now if now is not None else time.time()) < self.cooldown_until

    def info(self) -> SessionInfo:
        state, detail = self.state, ""
        if not self.present and state == IDLE:
            state = "missing"
        elif state == IDLE and self.in_cooldown():
            state = "cooldown"
        elif state == IDLE and self.unavailable[0]:
            state, detail = self.unavailable
        elif state == LAUNCHING and self.waiting_for:
            state, detail = "waiting_for_person", f"{self.waiting_for} dialog"
        return SessionInfo(self.name, self.kind, self.project, state,
                           self.task.name if self.task else None, self.agent, detail)

    def assign(self, task: Task, state: str) -> None:
        self.state, self.task, self.since = state, task, time.time()
        self.busy_seen, self.idle_polls, self.idle_since = False, 0, 0.0

    def free_up(self) -> None:
        """The task is over: the session is idle; its agent stays until the next task."""
        if self.pane is not None:
            self.home_pane = self.pane
            self.last_profile = self.profile
        self.state, self.task, self.model, self.pane = IDLE, None, None, None
        self.profile, self.phase, self.exit_marker, self.attempt = None, "", "", ""
        self.reports, self.clean, self.waiting_for, self.note = False, False, "", ""


class Pool:
    """All configured sessions, dedicated first."""

    def __init__(self, config: Config) -> None:
        self.sessions: dict[str, Session] = {}
        for d in config.dedicated:
            self.sessions[d.name] = Session(d.name, "dedicated", d.project.resolve(), d.agent)
        for name in config.autonomous.names():
            self.sessions.setdefault(name, Session(name, "autonomous",
                                                   agent=config.autonomous.agent))

    def __iter__(self) -> Iterator[Session]:
        return iter(self.sessions.values())

    def get(self, name: str) -> Session | None:
        return self.sessions.get(name)

    def free(self, present: Mapping[str, object], now: float | None = None) -> list[Session]:
        """Sessions that may take a task now: present in tmux, idle, out of cooldown."""
        now = now if now is not None else time.time()
        return [s for s in self.sessions.values()
                if s.state == IDLE and s.name in present and not s.in_cooldown(now)]

    def working(self) -> list[Session]:
        return [s for s in self.sessions.values() if s.state == WORKING]

"""Before a session takes a task: is its pane free, and does its shell find the task's agent?

A pane is free when its shell sits at an empty prompt, or when it runs
dispatchd's own agent from an earlier task that nobody has taken over since
(typed into, or set to work). The agent's program is looked up the way the
session's shell would (:mod:`dispatchd.shellenv`); a session whose shell does
not find it takes no task for that agent, and the log says so once. Both are
checked again every round, so a person who finishes a job, or installs the
agent, sees tasks flow without restarting anything.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .agents import AgentProfile, settings_for
from .occupant import OURS, PERSON, Occupant
from .pool import IDLE, Session
from .text import for_log
from .transport import PaneRef, SessionPanes, TransportError

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

AGENT_RECHECK = 30.0
"""Seconds before a program a session's shell did not find is looked up again."""
FOUND_VALID = 300.0
"""Seconds a program found in a session's shell counts as found without looking again."""
REFRESH_EVERY = 10.0
"""Seconds between looks at idle sessions while no task waits (for ``status``)."""


class Survey:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._found: dict[tuple[str, str], tuple[str, float]] = {}
        self._warned: set[tuple[str, str]] = set()
        self._last_refresh = 0.0
        self.own_pane = os.environ.get("TMUX_PANE", "")
        """The pane this daemon runs in, if it runs in tmux (never taken for a task)."""
        self._own: bool | None = None
        self._warned_self: set[str] = set()

    async def _own_server(self) -> bool:
        """Whether the daemon's own tmux (``$TMUX``) is the pool's server: pane ids are
        only unique within one server."""
        if self._own is None:
            socket = os.environ.get("TMUX", "").split(",")[0]
            ask = getattr(self.engine.transport, "server_socket", None)  # tmux transports
            try:
                here = await ask() if ask is not None else ""
            except TransportError:
                here = ""
            self._own = bool(socket) and os.path.realpath(socket) == os.path.realpath(here)
        return self._own

    def program_of(self, agent: AgentProfile) -> str:
        """The program that starts ``agent`` (``agents.<name>.command`` or its own)."""
        argv = settings_for(self.engine.config, agent).command or agent.program
        return argv[0] if argv else ""

    def presence(self, present: Mapping[str, SessionPanes]) -> list[Session]:
        """Record which sessions exist; return those that appeared since the last look."""
        appeared = []
        for session in self.engine.pool:
            now = session.name in present
            if now and not session.present:
                appeared.append(session)
                self._last_refresh = 0.0  # look at it (and its agent) at the next refresh
            session.present = now
        return appeared

    async def blocker(self, session: Session, pane: PaneRef,
                      agent: AgentProfile | None) -> str | None:
        """``None`` when ``session`` may take a task for ``agent`` now; else its state for
        ``status`` (also kept in ``session.unavailable``, with ``session.note``). With no
        ``agent`` (the task names an unknown one) only the pane is looked at."""
        if pane.pane_id == self.own_pane and await self._own_server():
            session.unavailable = "busy (dispatchd itself runs here)"
            session.note = ("this daemon runs in this session's pane; it never takes it: "
                            "run `dispatchd run` outside the pool (another tmux session, or "
                            "as a service)")
            if session.name not in self._warned_self:
                self._warned_self.add(session.name)
                log.warning("session %s: %s", session.name, session.note)
            return session.unavailable
        occupant = await self.engine.transport.occupant(pane)
        if occupant.kind == OURS:
            occupant = await self._our_agent(session, pane, occupant)
        if not occupant.free:
            session.unavailable = occupant.describe()
            session.note = ("dispatchd never kills, replaces or types into what it did not "
                            "start; the session is looked at again every round")
            return session.unavailable
        program = self.program_of(agent) if agent is not None else ""
        missing = program and agent and await self._missing(session, pane, program, agent)
        if missing:
            assert agent is not None
            session.unavailable, session.note = f"agent missing ({agent.name})", missing
            return session.unavailable
        session.unavailable = session.note = ""
        return None

    async def _missing(self, session: Session, pane: PaneRef, program: str,
                       agent: AgentProfile) -> str:
        """Why ``program`` cannot start in ``session`` ("" when its shell finds it)."""
        key, now = (session.name, program), time.time()
        seen = session.missing_agents.get(program)
        if seen is not None and now - seen < AGENT_RECHECK:
            return session.note or f"{program!r} is not found in the session's shell"
        found = self._found.get(key)
        if found and found[0] == pane.pane_id and now - found[1] < FOUND_VALID:
            return ""
        resolution = await self.engine.transport.which(pane, program)
        if resolution.found is not None or not resolution.certain:
            session.missing_agents.pop(program, None)
            self._found[key] = (pane.pane_id, now)
            if key in self._warned:
                self._warned.discard(key)
                log.info("session %s: its shell now finds %s at %s", session.name, program,
                         resolution.found)
            return ""
        session.missing_agents[program] = now
        why = (f"agent {agent.name!r} is not found in session {session.name}: {program!r} is "
               f"not on its shell's PATH ({resolution.path or 'empty'}), nor found by a login "
               f"shell there; put it on that PATH, or set agents.{agent.name}.command to its "
               "full path. No task is claimed for it there meanwhile")
        if key not in self._warned:
            self._warned.add(key)
            log.warning("%s", for_log(why))
        return why

    async def _our_agent(self, session: Session, pane: PaneRef,
                         occupant: Occupant) -> Occupant:
        """dispatchd's agent left from an earlier task: ours to replace, unless a person has
        taken it over since (it works on something, or holds text nobody of ours left)."""
        profile = session.last_profile
        if profile is None:  # left by an earlier daemon: read it as the session's own agent
            try:
                profile = self.engine.agents.get(session.agent)
            except LookupError:
                return occupant
        screen = await self.engine.transport.capture(pane)
        if profile.busy(screen):
            return Occupant(PERSON, "someone set dispatchd's agent to work")
        if profile.input_pending(screen):
            if not session.left_text:
                return Occupant(PERSON, "text typed into dispatchd's agent")
            log.warning("session %s: the input box of dispatchd's previous agent still holds "
                        "unsubmitted text of %s (in indoubt/); it is cleared with that agent "
                        "before the next task", session.name, for_log(session.left_text))
        return occupant

    async def refresh(self, force: bool = False) -> None:
        """Look at every idle session now and then, so ``status`` says what holds it."""
        now = time.monotonic()
        if not force and now - self._last_refresh < REFRESH_EVERY:
            return
        self._last_refresh = now
        e = self.engine
        try:
            present = await e.transport.panes()
        except TransportError:
            return
        for session in self.presence(present):
            log.info("session %s appeared in tmux", session.name)
        for session in e.pool:
            if session.state != IDLE or not session.present:
                continue
            pane = present[session.name].pick(session.home_pane)
            try:
                await self.blocker(session, pane, e.agents.get(session.agent))
            except Exception as exc:  # a look for status only: never fatal
                log.debug("cannot look at session %s: %r", session.name, exc)

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
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING

from .agents import AgentProfile, settings_for
from .hooktypes import state_label
from .occupant import OURS, PERSON, SELF, Occupant
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
NOTES = {
    PERSON: "dispatchd never kills, replaces or types into what it did not start; the session "
            "is looked at again every round",
    SELF: "this daemon runs in this session's pane; it never takes it: run `dispatchd run` "
          "outside the pool (another tmux session, or as a service)",
}
"""What ``status`` and ``explain`` say about a pane that is not free, by its occupant."""
REFRESH_EVERY = 10.0
"""Seconds between looks at idle sessions while no task waits (for ``status``)."""


class Survey:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._lookups: dict[tuple[str, str], tuple[bool, str, float]] = {}
        """(session, program) → (found, the pane id it was looked up in, when)."""
        self._missing_path: dict[tuple[str, str], str] = {}
        """(session, program) → the PATH it was looked up on (for the message)."""
        self._warned: set[tuple[str, str]] = set()
        """(session, what) said once: a missing program, the daemon's own pane."""
        self._last_refresh = 0.0

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
        occupant = await self.engine.transport.occupant(pane)
        if occupant.kind == OURS:
            occupant = await self._our_agent(session, pane, occupant)
        if not occupant.free:
            session.unavailable, session.note = occupant.state(), NOTES.get(
                occupant.kind, NOTES[PERSON])
            if occupant.kind == SELF:
                self._say_once(session.name, SELF, f"session {session.name}: {session.note}")
            return occupant.describe()
        program = self.program_of(agent) if agent is not None else ""
        if agent is not None and program and not await self._finds(session, pane, program):
            self.missing(session, agent, program, self._missing_path.get(
                (session.name, program), ""))
            return state_label(*session.unavailable)
        session.unavailable, session.note = ("", ""), ""
        return None

    async def _finds(self, session: Session, pane: PaneRef, program: str) -> bool:
        """Whether the session's shell finds ``program``; a found one is not looked up again
        for ``FOUND_VALID`` in the same pane, a missing one not for ``AGENT_RECHECK``."""
        key, now = (session.name, program), time.time()
        cached = self._lookups.get(key)
        if cached is not None and cached[1] == pane.pane_id and \
                now - cached[2] < (FOUND_VALID if cached[0] else AGENT_RECHECK):
            return cached[0]
        resolution = await self.engine.transport.which(pane, program)
        found = resolution.found is not None or not resolution.certain
        self._lookups[key] = (found, pane.pane_id, now)
        self._missing_path[key] = resolution.path
        if found and (session.name, program) in self._warned:
            self._warned.discard((session.name, program))
            log.info("session %s: its shell now finds %s at %s", session.name, program,
                     resolution.found)
        return found

    def missing(self, session: Session, agent: AgentProfile, program: str, path: str,
                pane_id: str = "") -> None:
        """The session's shell does not find ``program``: no task for ``agent`` there until a
        look ``AGENT_RECHECK`` later finds it; said once (also when the launcher found out)."""
        key = (session.name, program)
        if pane_id:
            self._lookups[key] = (False, pane_id, time.time())
            self._missing_path[key] = path
        session.unavailable = ("agent_missing", agent.name)
        session.note = (f"agent {agent.name!r} is not found in session {session.name}: "
                        f"{program!r} is not on its shell's PATH ({path or 'empty'}), nor "
                        f"found by a login shell there; put it on that PATH, or set "
                        f"agents.{agent.name}.command to its full path. No task is claimed "
                        "for it there meanwhile")
        self._say_once(session.name, program, session.note)

    def _say_once(self, session: str, what: str, message: str) -> None:
        if (session, what) not in self._warned:
            self._warned.add((session, what))
            log.warning("%s", for_log(message))

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

"""The session transport seam: how the engine reaches a session's terminal.

:class:`dispatchd.tmux.TmuxTransport` is the local implementation; a transport
for tmux on other hosts (over SSH) implements the same methods. Sessions are
addressed by the ids the transport reports, never by name alone, so a session
re-created under the same name is noticed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .hooktypes import AgentLaunch
from .occupant import Occupant


class TransportError(Exception):
    """The transport could not do what was asked (server gone, pane gone, command failed)."""


class PaneTaken(TransportError):
    """The pane is not free to start an agent in: a person's job or typed text holds it."""

    def __init__(self, occupant: Occupant) -> None:
        super().__init__(f"the pane is {occupant.describe()}")
        self.occupant = occupant


class ProgramNotFound(TransportError):
    """The agent's program is not found the way the session's shell looks it up."""

    def __init__(self, program: str, path: str) -> None:
        super().__init__(f"{program!r} is not found on the PATH of the session's shell "
                         f"({path or 'empty'}); put it there, or give its full path in "
                         "agents.<name>.command")
        self.program, self.path = program, path


@dataclass(frozen=True)
class Resolution:
    """Where the session's shell finds a program (``found`` is None: nowhere)."""

    program: str
    found: str | None
    path: str
    certain: bool = True
    """False when the shell's current PATH could not be read (the check was a guess)."""


@dataclass(frozen=True)
class PaneRef:
    """One session's pane: its name and the transport's own ids for it.

    ``session_id`` includes the session's creation time (tmux reuses ``$N`` and
    ``%N`` ids after a server restart), so a re-created session never matches.
    """

    session: str
    session_id: str
    pane_id: str


@dataclass(frozen=True)
class SessionPanes:
    """One session as the transport sees it now: its active pane and the ids of all its panes."""

    active: PaneRef
    pane_ids: frozenset[str]

    def pick(self, previous: PaneRef | None) -> PaneRef:
        """The pane an agent runs in: the one used before while it exists, else the active one."""
        if self.holds(previous):
            assert previous is not None
            return previous
        return self.active

    def holds(self, pane: PaneRef | None) -> bool:
        """Whether ``pane`` is still one of this very session's panes."""
        if pane is None or pane.pane_id not in self.pane_ids:
            return False
        if "@" not in pane.session_id:  # recorded by a version without creation times
            return pane.session_id == self.active.session_id.split("@")[0]
        return pane.session_id == self.active.session_id


class SessionTransport(Protocol):
    async def panes(self) -> dict[str, SessionPanes]:
        """Every session by name; empty when no server runs."""
        ...

    async def occupant(self, pane: PaneRef) -> Occupant:
        """What holds ``pane`` now: an idle shell, dispatchd's own agent, or a person's work."""
        ...

    async def which(self, pane: PaneRef, program: str) -> Resolution:
        """Where the shell of ``pane`` would find ``program`` if a person typed its name."""
        ...

    async def start(self, pane: PaneRef, cwd: Path, launch: AgentLaunch, marker: str) -> None:
        """Start a fresh agent in ``pane`` as its shell would, with that shell's environment.

        Only an idle shell is used, after dispatchd's own agent from an earlier
        task is stopped; a person's job or typed text raises :class:`PaneTaken`,
        an agent the shell cannot find :class:`ProgramNotFound`. When the agent
        exits, the line ``<marker> <status>`` appears on screen and the shell is back.
        """
        ...

    async def stop_agent(self, pane: PaneRef) -> None:
        """Stop dispatchd's own agent in ``pane`` (nothing else), leaving the person's shell."""
        ...

    async def capture(self, pane: PaneRef, history: bool = False) -> str:
        """The visible text of ``pane``; with ``history``, its scrollback too."""
        ...

    async def paste(self, pane: PaneRef, text: str, bracketed: bool = True) -> None:
        """Paste ``text`` as one bracketed paste (newlines inside do not submit); with
        ``bracketed=False`` as plain input, each newline an Enter."""
        ...

    async def press_enter(self, pane: PaneRef) -> None: ...

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


class TransportError(Exception):
    """The transport could not do what was asked (server gone, pane gone, command failed)."""


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

    async def start(self, pane: PaneRef, cwd: Path, launch: AgentLaunch, marker: str) -> None:
        """Replace whatever runs in ``pane`` with a fresh agent (never typed into a program).

        When the agent exits, the line ``<marker> <status>`` must appear on screen.
        """
        ...

    async def reset(self, pane: PaneRef) -> None:
        """Stop whatever runs in ``pane`` and leave a shell."""
        ...

    async def capture(self, pane: PaneRef) -> str:
        """The visible text of ``pane``."""
        ...

    async def paste(self, pane: PaneRef, text: str, bracketed: bool = True) -> None:
        """Paste ``text`` as one bracketed paste (newlines inside do not submit); with
        ``bracketed=False`` as plain input, each newline an Enter."""
        ...

    async def press_enter(self, pane: PaneRef) -> None: ...

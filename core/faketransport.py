"""A session transport in memory: scripted panes, recorded keys, agents the test plays.

The second :class:`~dispatchd.transport.SessionTransport` beside tmux, held to the
same contract (``tests/test_transport_contract.py``), so the engine can be tested
without a terminal. A pane holds a shell (its prompt, text typed at it, a person's
job) and at most one agent that dispatchd started. Agents are Python objects made
by the factory registered under the program's name; :class:`EchoAgent` looks like
Claude Code to its profile. Every paste and key is recorded in ``keys``.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .hooktypes import AgentLaunch
from .occupant import OURS, PERSON, SHELL, Occupant
from .transport import (
    PaneRef,
    PaneTaken,
    ProgramNotFound,
    Resolution,
    SessionPanes,
    TransportError,
)

PROMPT, NBSP, RULE = "❯", "\u00a0", "─" * 40
SHELL_PROMPT = "$ "


class FakeAgent:
    """An agent process in a fake pane: what it shows, and what it does with input."""

    def __init__(self, argv: tuple[str, ...], env: Mapping[str, str | None], cwd: Path) -> None:
        self.argv, self.env, self.cwd = argv, env, cwd

    def screen(self) -> str:
        raise NotImplementedError

    def paste(self, text: str) -> None:
        """Text pasted in one piece (a bracketed paste)."""

    def key(self, key: str) -> None:
        """A key: ``Enter``, or one character typed."""


class EchoAgent(FakeAgent):
    """Looks like Claude Code to its profile: an input box between rules, busy for ``work``
    seconds after Enter (``esc to interrupt``), then a reply. ``submitted`` lists every text
    it took, in order."""

    work = 0.2

    def __init__(self, argv: tuple[str, ...], env: Mapping[str, str | None], cwd: Path) -> None:
        super().__init__(argv, env, cwd)
        self.box = ""
        self.submitted: list[str] = []
        self.transcript: list[str] = []
        self.busy_until = 0.0

    def screen(self) -> str:
        busy = time.monotonic() < self.busy_until
        if not busy and self.transcript and self.transcript[-1].startswith(PROMPT + " "):
            self.transcript.append(f"● FAKE-REPLY: {self.transcript[-1][2:]}")
        lines = ["fake agent", "", *self.transcript]
        if busy:
            lines.append("✶ Working… (esc to interrupt)")
        return "\n".join([*lines, RULE, PROMPT + NBSP + self.box.replace("\n", " "), RULE]) + "\n"

    def paste(self, text: str) -> None:
        self.box += text

    def key(self, key: str) -> None:
        if key != "Enter":
            self.box += key
        elif self.box.strip() and time.monotonic() >= self.busy_until:
            self.screen()  # the previous reply is on record first
            self.submitted.append(self.box)
            self.transcript.append(f"{PROMPT} {self.box.splitlines()[0]}")
            self.box, self.busy_until = "", time.monotonic() + self.work


@dataclass
class FakePane:
    """One session's only pane: a shell, maybe a person's job or typed text, maybe our agent."""

    ref: PaneRef
    history: list[str] = field(default_factory=list)
    typed: str = ""
    job: str | None = None
    agent: FakeAgent | None = None
    marker: str = ""
    missing: set[str] = field(default_factory=set)
    """Programs this session's shell does not find."""

    def shell_screen(self) -> str:
        return "\n".join([*self.history, SHELL_PROMPT + self.typed]) + "\n"


class FakeTransport:
    """:class:`~dispatchd.transport.SessionTransport` in memory."""

    def __init__(self, agents: Mapping[str, Callable[..., FakeAgent]] | None = None) -> None:
        self.agents: dict[str, Callable[..., FakeAgent]] = {"claude": EchoAgent,
                                                            **(agents or {})}
        self.sessions: dict[str, FakePane] = {}
        self.keys: list[tuple[str, str, str]] = []
        """(pane id, ``paste``/``key``/``start``/``stop``, what) in the order they came."""
        self._ids = itertools.count(1)

    # -- the test's side -----------------------------------------------------
    def add_session(self, name: str) -> FakePane:
        """A new session (or a re-created one: new ids) with an idle shell."""
        n = next(self._ids)
        pane = FakePane(PaneRef(name, f"${n}@{time.time_ns()}", f"%{n}"))
        self.sessions[name] = pane
        return pane

    def kill_session(self, name: str) -> None:
        self.sessions.pop(name, None)

    # -- the contract ------------------------------------------------------------
    async def panes(self) -> dict[str, SessionPanes]:
        return {name: SessionPanes(p.ref, frozenset({p.ref.pane_id}))
                for name, p in self.sessions.items()}

    async def occupant(self, pane: PaneRef) -> Occupant:
        p = self._pane(pane)
        if p.agent is not None:
            return Occupant(OURS, pid=os.getpid())
        if p.job is not None:
            return Occupant(PERSON, p.job)
        if p.typed:
            return Occupant(PERSON, f"typed: {SHELL_PROMPT}{p.typed}"[-40:])
        return Occupant(SHELL, pid=os.getpid())

    async def which(self, pane: PaneRef, program: str) -> Resolution:
        p = self._pane(pane)
        name = Path(program).name
        found = None if name in p.missing or name not in self.agents else f"/usr/bin/{name}"
        return Resolution(program, found, "/usr/bin")

    async def start(self, pane: PaneRef, cwd: Path, launch: AgentLaunch, marker: str) -> None:
        p = self._pane(pane)
        if p.agent is not None:
            await self.stop_agent(pane)
        occupant = await self.occupant(pane)
        if occupant.kind != SHELL:
            raise PaneTaken(occupant)
        program = launch.argv[0]
        if (await self.which(pane, program)).found is None:
            raise ProgramNotFound(program, "/usr/bin")
        self.keys.append((pane.pane_id, "start", " ".join(launch.argv)))
        p.agent = self.agents[Path(program).name](launch.argv, launch.env, cwd)
        p.marker = marker

    async def stop_agent(self, pane: PaneRef) -> None:
        p = self._pane(pane)
        if p.agent is None:
            return
        self.keys.append((pane.pane_id, "stop", ""))
        p.agent = None
        p.history.append(f"{p.marker} 143")  # as the trampoline prints it, alone on its row

    async def capture(self, pane: PaneRef, history: bool = False) -> str:
        p = self._pane(pane)
        return p.agent.screen() if p.agent is not None else p.shell_screen()

    async def paste(self, pane: PaneRef, text: str, bracketed: bool = True) -> None:
        p = self._pane(pane)
        self.keys.append((pane.pane_id, "paste", text))
        if not bracketed:  # as typed: each newline is an Enter
            lines = text.split("\n")
            for i, line in enumerate(lines):
                self._type(p, line)
                if i < len(lines) - 1:
                    await self.press_enter(pane)
            return
        if p.agent is not None:
            p.agent.paste(text)
        else:
            p.typed += text

    async def press_enter(self, pane: PaneRef) -> None:
        p = self._pane(pane)
        self.keys.append((pane.pane_id, "key", "Enter"))
        if p.agent is not None:
            p.agent.key("Enter")
        else:
            p.history.append(SHELL_PROMPT + p.typed)
            p.typed = ""

    # -- inside ------------------------------------------------------------------
    def _pane(self, pane: PaneRef) -> FakePane:
        p = self.sessions.get(pane.session)
        if p is None or p.ref != pane:
            raise TransportError(f"pane {pane.pane_id} is gone")
        return p

    @staticmethod
    def _type(p: FakePane, text: str) -> None:
        if p.agent is not None:
            for ch in text:
                p.agent.key(ch)
        else:
            p.typed += text

"""The small value types that hooks receive and return (see :mod:`dispatchd.hookspecs`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

SessionKind = Literal["dedicated", "autonomous"]


@dataclass(frozen=True)
class SessionInfo:
    """A session of the pool as a policy hook sees it (a snapshot; changing it changes nothing)."""

    name: str
    kind: SessionKind
    project: Path | None = None
    """The project of a dedicated session; None for an autonomous one."""
    state: str = "idle"
    """One of :data:`SESSION_STATES` (policy hooks are offered ``idle`` sessions)."""
    task: str | None = None
    """Name of the task it is working on, if any."""
    agent: str | None = None
    """The agent the pool config gives this session (``None``: the default agent)."""
    detail: str = ""
    """What makes the state so, for people: ``not dispatchd's: make`` (``busy``), the agent
    (``agent_missing``), the dialog (``waiting_for_person``)."""

    def label(self) -> str:
        """The state as ``status`` shows it: ``busy (not dispatchd's: make)``."""
        return state_label(self.state, self.detail)


SESSION_STATES = ("idle", "launching", "working", "finishing", "cooldown", "missing", "busy",
                  "agent_missing", "waiting_for_person", "unknown")
"""Every state a session can be in, as ``status --json`` gives it (docs/cli.md says what each
means); ``detail`` says more for people."""
_LABELS = {"agent_missing": "agent missing", "waiting_for_person": "waiting for a person"}


def state_label(state: str, detail: str = "") -> str:
    """``state`` and its ``detail`` in words: ``agent missing (claude)``."""
    word = _LABELS.get(state, state)
    return f"{word} ({detail})" if detail else word


@dataclass(frozen=True)
class AgentLaunch:
    """How to start an agent: the program and its arguments as an argv list, never a shell line.

    ``env`` is added to the agent's environment; a value of ``None`` removes
    that variable (e.g. an inherited ``CLAUDECODE`` that would break a nested start).
    """

    argv: tuple[str, ...]
    env: Mapping[str, str | None] = field(default_factory=dict)
    acknowledges: bool = False
    """True when the agent reports each submitted prompt back (``dispatchd hook
    prompt-submit``, e.g. from Claude Code's ``UserPromptSubmit`` hook). Then only an
    acknowledged task counts as delivered; without one in ``dispatcher.ack_timeout`` it
    goes to ``indoubt/``. False: delivery is confirmed on screen only."""


OUTCOMES = ("done", "failed", "indoubt")
"""How a task ends: ``done`` (the agent finished), ``failed`` (with a reason), or ``indoubt``
(its text may have reached the agent, or not; never re-sent automatically)."""

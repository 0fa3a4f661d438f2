"""Starting an agent in a session and handing it one task, without blocking anyone.

Each launch is its own asyncio task: every wait here is an ``await`` (tmux
runs as subprocesses, pauses are ``asyncio.sleep``), so a slow agent delays
only its own session. The engine owns the task's state on disk; this module
only talks to the session.
"""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from .agents import AgentProfile, AgentRegistry, UnknownAgent
from .config import Config
from .durations import format_duration
from .faults import fault_point
from .hooktypes import AgentLaunch, SessionInfo
from .task import Task
from .text import ATTEMPT, sanitize_for_terminal
from .trampoline import EXIT_MARKER
from .transport import PaneRef, SessionTransport

POLL_FIRST, POLL_MAX = 0.05, 0.2
"""Screen polling starts fast (agents are often ready in < 1 s) and backs off."""
PASTE_REGISTER_TIMEOUT = 2.0
DIALOG_POLL = 0.5
"""Seconds between looks at an agent that waits at a dialog for a person."""


class LaunchError(Exception):
    """The agent could not be started or never became ready; nothing of the task was typed."""


class UsageLimited(LaunchError):
    """The agent shows a usage limit before anything was typed; it lifts at ``until``."""

    def __init__(self, until: float) -> None:
        super().__init__(f"the agent's usage limit is reached until {format_clock(until)}")
        self.until = until


def format_clock(when: float) -> str:
    """A Unix time as people read it in a log line: local date and time with zone."""
    return time.strftime("%Y-%m-%d %H:%M %Z", time.localtime(when))


def agent_exited(screen: str, marker: str) -> bool:
    """Whether ``screen`` holds the trampoline's exit line for this launch, alone on its line."""
    if not marker or marker not in screen:
        return False
    line = re.compile(re.escape(marker) + r" -?\d+")
    return any(line.fullmatch(row.strip()) for row in screen.splitlines())




def attempt_line(attempt: str) -> str:
    return f"(dispatchd attempt {attempt})"


def new_attempt() -> str:
    return secrets.token_hex(4)


def attempt_in(prompt: object) -> str | None:
    """The attempt id a submitted prompt carries, if it shows one (a collapsed paste may not)."""
    found = ATTEMPT.findall(prompt) if isinstance(prompt, str) else []
    return found[-1] if found else None


def taken_on_screen(screen: str, agent: AgentProfile, attempt: str, clean: bool) -> bool:
    """Whether a screen whose input box is empty shows that the agent took the text: it
    works on a turn, the attempt line is visible, or (``clean``: its transcript was empty
    when it became ready, so any message there is this one) its transcript shows a message."""
    return (agent.busy(screen) or bool(attempt and attempt_line(attempt) in screen)
            or (clean and agent.message_in_transcript(screen) is True))


def exit_marker() -> str:
    """A line the trampoline prints when the agent exits, unique to one launch."""
    return f"[dispatchd {secrets.token_hex(6)}] {EXIT_MARKER}"


class Launcher:
    def __init__(self, config: Config, hook: Any, transport: SessionTransport,
                 agents: AgentRegistry) -> None:
        self.config, self.hook, self.transport, self.agents = config, hook, transport, agents

    def agent_for(self, task: Task, session: SessionInfo) -> AgentProfile:
        """The task's ``agent:``, else the session's, else the default agent."""
        try:
            return self.agents.get(task.agent or session.agent)
        except UnknownAgent as exc:
            raise LaunchError(str(exc)) from None

    def plan(self, task: Task, session: SessionInfo,
             agent: AgentProfile) -> tuple[str, AgentLaunch]:
        """Model and agent command for ``task`` on ``session`` (the policy hooks)."""
        model = self.hook.choose_model(task=task, session=session, config=self.config, agent=agent)
        if model is None:
            raise LaunchError("no plugin chose a model")
        launch = self.hook.agent_command(task=task, session=session, model=model,
                                         config=self.config, agent=agent)
        if launch is None or not launch.argv:
            raise LaunchError("no plugin gave an agent command")
        env = {**self.config.agent_env, **launch.env, "DISPATCHD_SESSION": session.name,
               "DISPATCHD_TASK_ID": task.id, "DISPATCHD_STATE_DIR": str(self.config.state_dir)}
        return model, replace(launch, env=env)

    async def start(self, pane: PaneRef, task: Task, launch: AgentLaunch, marker: str,
                    agent: AgentProfile,
                    on_dialog: Callable[[str | None], None] | None = None) -> str:
        """Start a fresh agent in the task's project and wait until it is ready for input;
        return its screen then.

        Nothing is typed while it shows a dialog (folder trust, first-run setup …):
        the agent and its dialog stay on screen for a person to answer, with no
        time limit; ``on_dialog`` hears which dialog waits, and ``None`` once it is gone.
        """
        if not task.project.is_dir():
            raise LaunchError(f"project directory {task.project} does not exist")
        await self.transport.start(pane, task.project, launch, marker)
        deadline = time.monotonic() + self.config.prompt_timeout
        delay, waiting = POLL_FIRST, None
        while True:
            screen = await self.transport.capture(pane)
            if agent_exited(screen, marker):
                raise LaunchError("the agent exited before it was ready: "
                                  + _tail(screen.split(marker)[0]))
            limit = self.hook.agent_usage_limit(screen=screen, task=task, config=self.config,
                                                agent=agent)
            if limit is not None:
                raise UsageLimited(limit)
            ready = self.hook.agent_ready(screen=screen, task=task, config=self.config,
                                          agent=agent)
            dialog = None if ready else agent.dialog(screen)
            if dialog != waiting and on_dialog is not None:
                on_dialog(dialog)
            waiting = dialog
            if ready:
                return screen
            if dialog is not None:  # a person answers it, however long that takes
                deadline, delay = time.monotonic() + self.config.prompt_timeout, DIALOG_POLL
            elif time.monotonic() >= deadline:
                waited = format_duration(self.config.prompt_timeout)
                raise LaunchError(f"agent not ready after {waited}; "
                                  f"screen ends with: {_tail(screen)}")
            await asyncio.sleep(delay)
            delay = min(delay * 1.5, POLL_MAX) if dialog is None else DIALOG_POLL

    def message(self, task: Task, session: SessionInfo, model: str, attempt: str) -> str:
        """The text to paste: ``build_message``, sanitised, with the attempt's id last."""
        text = self.hook.build_message(task=task, session=session, model=model,
                                       config=self.config)
        return sanitize_for_terminal((text or "").rstrip() + "\n\n" + attempt_line(attempt))

    async def submit(self, pane: PaneRef, text: str, agent: AgentProfile) -> None:
        """Paste as the agent's recipe says, wait until the screen shows it, then Enter.

        Default recipe: one bracketed paste and a lone Enter. Agents that read line by
        line get the text plainly between the recipe's ``wrap`` lines.
        """
        recipe = agent.submit
        if recipe.wrap:
            await self.transport.paste(pane, recipe.wrap[0], bracketed=False)
            await self.transport.press_enter(pane)
        before = await self.transport.capture(pane)
        await self.transport.paste(pane, text, bracketed=recipe.bracketed)
        fault_point("after_paste")
        deadline = time.monotonic() + PASTE_REGISTER_TIMEOUT
        while time.monotonic() < deadline:
            await asyncio.sleep(POLL_FIRST)
            if await self.transport.capture(pane) != before:
                break
        await asyncio.sleep(max(self.config.submit_delay, recipe.enter_delay))
        if recipe.wrap:
            await self.transport.press_enter(pane)
            await self.transport.paste(pane, recipe.wrap[1], bracketed=False)
        await self.transport.press_enter(pane)


def _tail(screen: str, lines: int = 3) -> str:
    rows = [r.strip() for r in screen.strip().splitlines() if r.strip()]
    return " | ".join(rows[-lines:]) or "(empty screen)"

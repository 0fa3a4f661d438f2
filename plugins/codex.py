"""OpenAI's Codex CLI (npm ``@openai/codex``): launch, hooks, and its screen.

Launch: ``codex [-m <model>] --dangerously-bypass-approvals-and-sandbox
--disable daemon_auto_start`` (no background app-server left behind), with its
``UserPromptSubmit`` and ``Stop`` hooks given as ``-c`` overrides that report
to dispatchd, trusted for this run only by their hashes (``hooks.state``), so
no "Hooks need review" dialog appears and no other hook is trusted. Codex has
no failure hook: a failed turn ends from the screen. With
``agents.codex.trust_projects: true`` the project is marked trusted for that
run (``-c projects=…``); nothing is written to ``~/.codex``.

Screen (measured; recorded in tests/screens/): the composer line starts with ``›`` (dialogs number
their options: ``› 1. Trust and continue``); busy while ``esc to interrupt``
shows, above the composer. The input counts as there only once the status
line under the composer names the model and folder (``fake-model default ·
/path``): Codex draws its composer ~0.3 s after start while still ``loading``
and only then decides on its folder-trust and hooks-review dialogs (~0.55 s);
text pasted into that early composer lands in the dialog, whose Enter trusts
the folder in ``$CODEX_HOME/config.toml`` and drops the message. A dialog
replaces the composer, so its words in the transcript above a live composer
do not count.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from typing import Any

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile, first_dialog, worked_before
from dispatchd.callbacks import hook_command
from dispatchd.clock import next_time
from dispatchd.config import AgentSettings, Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.setback import LIMIT as LIMIT_KIND
from dispatchd.setback import Setback
from dispatchd.task import Task

COMPOSER = re.compile(r"^› (?!\d+\. )(.*)$")
STATUS = re.compile(r"\S · [~/]")
"""The status line under the composer once the session is set up: ``<model> <effort> · <folder>``
(absent while Codex is still loading, and while a dialog is up). Searched, not anchored: a
stray cell left by a redraw (seen once: `` ifake-model default · /…``) must not hide it."""
PLACEHOLDERS = ("Ask Codex to do anything", "Find and fix a bug in @filename",
                "Write tests for @filename", "Improve documentation in @filename",
                "Summarize recent commits", "Explain this codebase", "Implement {feature}")
"""Text Codex shows in an empty composer."""
DIALOGS = {"folder trust": ("Trust this folder?", "Trust and continue"),
           "hooks review": ("Hooks need review",),
           "sign-in": ("Sign in with ChatGPT", "Welcome to Codex"),
           "approval": ("Would you like to run the following command?",)}
HOOK_EVENTS = {"UserPromptSubmit": ("user_prompt_submit", "prompt-submit"), "Stop": ("stop", "stop")}
"""Codex hook → (its key in ``hooks.state``, the ``dispatchd hook`` event it reports)."""
HOOK_SOURCE = "/<session-flags>/config.toml"
"""Where Codex files hooks given with ``-c`` (the prefix of their ``hooks.state`` keys)."""
LIMIT = re.compile(r"hit your usage limit.*?try again at (.+)", re.IGNORECASE | re.DOTALL)


def trust_hash(event: str, command: str, timeout: int = 600) -> str:
    """The hash Codex records when a person trusts one command hook (0.169.0)."""
    ident = {"event_name": event, "hooks": [{"async": False, "command": command,
                                             "timeout": timeout, "type": "command"}]}
    text = json.dumps(ident, separators=(",", ":"), sort_keys=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def _composer(screen: str) -> str | None:
    for line in reversed(screen.splitlines()):
        m = COMPOSER.match(line)
        if m:
            return m.group(1).strip()
    return None


def _loaded(screen: str) -> bool:
    """Whether the last composer line has Codex's status line somewhere below it."""
    lines = screen.splitlines()
    last = next((i for i in range(len(lines) - 1, -1, -1) if COMPOSER.match(lines[i])), None)
    return last is not None and any(STATUS.search(line) for line in lines[last + 1:])


class Codex(AgentProfile):
    name = "codex"
    description = "OpenAI Codex CLI (npm @openai/codex), with its hooks wired back"
    program = ("codex",)
    trusts_projects = True

    def command(self, task: Task, session: SessionInfo, model: str, config: Config,
                settings: AgentSettings) -> AgentLaunch:
        argv = self.argv(settings, model)
        argv += ["--dangerously-bypass-approvals-and-sandbox", "--disable", "daemon_auto_start"]
        overrides = []
        if settings.options.get("trust_projects") is True:
            overrides.append(f"projects={{{_toml(str(task.project))}={{trust_level=\"trusted\"}}}}")
        if config.agent_hooks:
            state = []
            for name, (key, event) in HOOK_EVENTS.items():
                command = hook_command(config.state_dir, session.name, task.id, event)
                overrides.append(f"hooks.{name}=[{{hooks=[{{type=\"command\","
                                 f"command={_toml(command)}}}]}}]")
                state.append(f"{_toml(f'{HOOK_SOURCE}:{key}:0:0')}="
                             f"{{trusted_hash=\"{trust_hash(key, command)}\"}}")
            overrides.append("hooks.state={" + ",".join(state) + "}")
        for override in overrides:
            argv += ["-c", override]
        return AgentLaunch(argv=tuple(argv), env=dict(settings.env), acknowledges=config.agent_hooks)

    def prompt(self, screen: str) -> bool:
        return _loaded(screen)

    def busy(self, screen: str) -> bool:
        return "esc to interrupt" in screen

    def input_pending(self, screen: str) -> bool:
        text = _composer(screen)
        return bool(text) and text not in PLACEHOLDERS

    def dialog(self, screen: str) -> str | None:
        if _loaded(screen):  # a dialog replaces the composer; its words in a transcript don't count
            return None
        return first_dialog(screen, DIALOGS)

    def usage_limit(self, screen: str) -> float | None:
        m = LIMIT.search(screen.replace("’", "'"))
        return next_time(m.group(1)) if m else None

    def setback(self, screen: str, report: Mapping[str, Any] | None) -> Setback | None:
        """Its usage limit, on screen once the turn is over (Codex has no failure hook):
        ``■ You've hit your usage limit. … try again at 4:13 AM.`` (0.169.0, measured). A
        5xx with a ``retry-after`` it waits out by itself, busy."""
        if self.busy(screen) or not self.prompt(screen):
            return None
        until = self.usage_limit(screen)
        lines = screen.replace("’", "'").splitlines()
        row = next((i for i in range(len(lines) - 1, -1, -1)
                    if lines[i].startswith("■") and "hit your usage limit" in lines[i]), None)
        if until is None or row is None:
            return None
        return Setback(LIMIT_KIND, "usage limit", until, worked_before(lines, row, "› "))


@hookimpl
def register_agents(register: Callable[[AgentProfile], None]) -> None:
    register(Codex())

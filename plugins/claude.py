"""Claude Code, the default agent: how to start it, and how to read its screen.

Launch: ``claude --model <m> --dangerously-skip-permissions`` plus
``--resume <uuid>`` when ``~/.claude-context/<session>-resume-id.txt`` holds one
(the file is consumed), and ``--settings`` carrying the ``UserPromptSubmit``
(acknowledgement), ``Stop`` and ``StopFailure`` hooks that report back to
dispatchd, and ``skipDangerousModePermissionPrompt`` (the bypass warning would
otherwise take the first keystrokes). ``--settings`` is merged with the user's
own settings; their files are never edited, except the folder-trust answer
when ``agents.claude.trust_projects`` is true (see :mod:`.claude_trust`).

Screen: the input line is ``❯`` followed by a no-break space at column 0
(dialog cursors are indented; past messages use an ASCII space), and the agent
is busy while ``esc to interrupt`` is on screen. A usage limit shows as
"Claude usage limit reached … reset at 5pm (Europe/Berlin)", "5-hour limit
reached ∙ resets 5pm" or "You've hit your limit · resets 5pm"; only the last
lines are read, so an old message in a resumed transcript does not count.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile, first_dialog, worked_before
from dispatchd.callbacks import hook_command
from dispatchd.clock import next_time
from dispatchd.config import AgentSettings, Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.plugins.claude_setback import (
    classify,
    error_on_screen,
    worked_in_transcript,
)
from dispatchd.plugins.claude_trust import trust_project
from dispatchd.setback import Setback
from dispatchd.task import Task

log = logging.getLogger(__name__)

PROMPT = "❯"
RULE = "─"
NBSP = "\u00a0"
BUSY_SIGNS = ("esc to interrupt",)
PLACEHOLDERS = ("Once fixed, resend your message", "Resend your message to try again")
"""Text Claude Code shows in an empty input box."""
DIALOGS = {
    "folder trust": ("Do you trust the files in this folder?", "Yes, I trust this folder",
                     "Is this a project you created or one you trust?"),
    "bypass permissions": ("running in Bypass Permissions mode", "Yes, I accept"),
    "custom API key": ("Do you want to use this API key?", "Detected a custom API key"),
    "first-run setup": ("Choose the text style", "Let's get started", "Select login method"),
    "tool permission": ("Do you want to proceed?",),
}
"""Dialogs seen on real screens (recorded in tests/screens/): dispatchd never types into one."""
HOOK_EVENTS = {"UserPromptSubmit": "prompt-submit", "Stop": "stop", "StopFailure": "stop-failure"}
"""Claude Code hook → the ``dispatchd hook`` event it reports (acknowledgement, completion)."""
LIMIT = re.compile(r"limit reached|hit your (?:[\w-]+ )?limit", re.IGNORECASE)
"""Claude Code's words for a usage limit; they count only with a reset time (or as
"usage limit reached"), so a task that merely mentions a limit does not."""
RESET = re.compile(r"resets?\s+(?:at\s+)?(.+)|(\|\s*\d{10})", re.IGNORECASE)
LIMIT_LINES = 12
"""How many of the screen's last non-blank lines may hold a usage-limit message."""
LIMIT_DEFAULT_HOLD = 3600.0
"""Seconds a session is held when the agent names no reset time."""
RESUME_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{7,63}$")


def resume_file(session: str) -> Path:
    return Path.home() / ".claude-context" / f"{session}-resume-id.txt"


def take_resume_id(session: str) -> str | None:
    """Read and consume the session's resume id; a malformed one is ignored with a warning."""
    path = resume_file(session)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    path.unlink(missing_ok=True)
    if not RESUME_ID.match(text):
        log.warning("ignoring malformed resume id in %s", path)
        return None
    return text


def _input_line(screen: str) -> str | None:
    """The input line: the last line with the prompt glyph at column 0, right below a rule.

    The rule tells it from a shell prompt that uses ``❯`` (a trailing space is
    lost in a capture, so the glyph alone cannot).
    """
    lines = screen.splitlines()
    for i in range(len(lines) - 1, 0, -1):
        if lines[i].startswith(PROMPT):
            return lines[i] if lines[i - 1].startswith(RULE) else None
    return None


class ClaudeCode(AgentProfile):
    name = "claude"
    description = "Claude Code (npm @anthropic-ai/claude-code), with its hooks wired back"
    default = True
    program = ("claude",)
    trusts_projects = True
    hooks_off_hint = ("its settings turn hooks off (disableAllHooks, or managed settings with "
                      "allowManagedHooksOnly)")

    def model_for(self, task: Task) -> str:
        return "opus" if task.priority == "critical" else "sonnet"

    def command(self, task: Task, session: SessionInfo, model: str, config: Config,
                settings: AgentSettings) -> AgentLaunch:
        argv = self.argv(settings, model)
        argv.append("--dangerously-skip-permissions")
        resume = take_resume_id(session.name)
        if resume:
            argv += ["--resume", resume]
        extra: dict[str, object] = {"skipDangerousModePermissionPrompt": True}
        if config.agent_hooks:
            extra["hooks"] = {name: [{"hooks": [{"type": "command", "command": hook_command(
                config.state_dir, session.name, task.id, event)}]}]
                for name, event in HOOK_EVENTS.items()}
        argv += ["--settings", json.dumps(extra, separators=(",", ":"))]
        env: dict[str, str | None] = {**settings.env, "CLAUDECODE": None}
        if os.geteuid() == 0:
            env["IS_SANDBOX"] = "1"  # else --dangerously-skip-permissions refuses to start as root
        if settings.options.get("trust_projects") is True:
            trust_project(task.project, {**os.environ, **settings.env})
        return AgentLaunch(argv=tuple(argv), env=env, acknowledges=config.agent_hooks)

    def prompt(self, screen: str) -> bool:
        line = _input_line(screen)
        return line is not None and (line == PROMPT or line.startswith(PROMPT + NBSP))

    def busy(self, screen: str) -> bool:
        return any(sign in screen for sign in BUSY_SIGNS)

    def dialog(self, screen: str) -> str | None:
        if self.prompt(screen):  # a dialog replaces the input box; its words in a transcript don't count
            return None
        return first_dialog(screen, DIALOGS)

    def ready(self, screen: str) -> bool:
        return self.prompt(screen) and not self.busy(screen)

    def idle(self, screen: str) -> bool:
        return self.prompt(screen) and not self.busy(screen)

    def message_in_transcript(self, screen: str) -> bool:
        return any(line.startswith(PROMPT + " ") for line in screen.splitlines())

    def input_pending(self, screen: str) -> bool:
        line = _input_line(screen)
        if line is None or not line.startswith(PROMPT + NBSP):
            return False
        text = line[len(PROMPT) + 1:].strip()
        return bool(text) and text not in PLACEHOLDERS

    def setback(self, screen: str, report: Mapping[str, Any] | None) -> Setback | None:
        if report is None and (self.busy(screen) or not self.prompt(screen)):
            return None  # its turn goes on (it may be retrying by itself)
        lines = screen.splitlines()
        until = self.usage_limit(screen)
        row = error_on_screen(lines)
        if report is not None:
            found = classify(str(report.get("error") or ""),
                             str(report.get("last_assistant_message") or ""))
        else:
            found = classify("", lines[row]) if row is not None else None
        if found is None and until is None:
            return None
        kind, reason = found or ("limit", "usage limit")
        worked = worked_in_transcript(report) if report is not None else None
        if worked is None and row is not None:
            worked = worked_before(lines, row, "❯ ")
        return Setback(kind, reason, until, worked)

    def usage_limit(self, screen: str) -> float | None:
        lines = [row for row in screen.splitlines() if row.strip()][-LIMIT_LINES:]
        for i, line in enumerate(lines):
            found = LIMIT.search(line)
            if found is None or line.lstrip().startswith(PROMPT):  # the user's own message
                continue
            after = " ".join([line[found.end():], *lines[i + 1:i + 2]])  # the time may wrap
            reset = RESET.search(after)
            when = next_time(reset.group(1) or reset.group(2)) if reset else None
            if when is not None:
                return when
            if "usage limit reached" in line.lower():  # Claude's own words, with no readable time
                return time.time() + LIMIT_DEFAULT_HOLD
        return None


@hookimpl
def register_agents(register: Callable[[AgentProfile], None]) -> None:
    register(ClaudeCode())

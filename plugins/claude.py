"""Claude Code, the default agent: how to start it, and how to read its screen.

Launch (S7): ``claude --model <m> --dangerously-skip-permissions`` plus
``--resume <uuid>`` when ``~/.claude-context/<session>-resume-id.txt`` holds one
(the file is consumed), and ``--settings`` carrying the ``UserPromptSubmit``
(acknowledgement), ``Stop`` and ``StopFailure`` hooks that report back to
dispatchd; the user's own ``~/.claude`` files are never edited. The
program itself is ``dispatcher.agent_command`` (``claude`` by default).

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
from pathlib import Path

from dispatchd import hookimpl
from dispatchd.callbacks import hook_command
from dispatchd.clock import next_time
from dispatchd.config import Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.task import Task

log = logging.getLogger(__name__)

PROMPT = "❯"
NBSP = "\u00a0"
BUSY_SIGNS = ("esc to interrupt",)
PLACEHOLDERS = ("Once fixed, resend your message",)
"""Text Claude Code shows in an empty input box."""
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
    """Read and consume the session's resume id (S7); a malformed one is ignored with a warning."""
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


@hookimpl(trylast=True)
def agent_command(task: Task, session: SessionInfo, model: str, config: Config) -> AgentLaunch:
    argv = [*config.agent_command, "--model", model, "--dangerously-skip-permissions"]
    resume = take_resume_id(session.name)
    if resume:
        argv += ["--resume", resume]
    if config.agent_hooks:
        hooks = {name: [{"hooks": [{"type": "command", "command": hook_command(
                    config.state_dir, session.name, task.id, event)}]}]
                 for name, event in HOOK_EVENTS.items()}
        argv += ["--settings", json.dumps({"hooks": hooks}, separators=(",", ":"))]
    env: dict[str, str | None] = {"CLAUDECODE": None}
    if os.geteuid() == 0:
        env["IS_SANDBOX"] = "1"  # else --dangerously-skip-permissions refuses to start as root
    return AgentLaunch(argv=tuple(argv), env=env, acknowledges=config.agent_hooks)


def _input_line(screen: str) -> str | None:
    """The last line that starts with the prompt glyph at column 0, if any."""
    for line in reversed(screen.splitlines()):
        if line.startswith(PROMPT):
            return line
    return None


def _at_prompt(screen: str) -> bool:
    line = _input_line(screen)
    if line is None or not (line == PROMPT or line.startswith(PROMPT + NBSP)):
        return False
    return not any(sign in screen for sign in BUSY_SIGNS)


@hookimpl(trylast=True)
def agent_ready(screen: str, task: Task, config: Config) -> bool:
    return _at_prompt(screen)


@hookimpl(trylast=True)
def agent_input_pending(screen: str, task: Task, config: Config) -> bool:
    line = _input_line(screen)
    if line is None or not line.startswith(PROMPT + NBSP):
        return False
    text = line[len(PROMPT) + 1:].strip()
    return bool(text) and text not in PLACEHOLDERS


@hookimpl(trylast=True)
def agent_idle(screen: str, task: Task, session: SessionInfo, config: Config) -> bool:
    return _at_prompt(screen)


@hookimpl(trylast=True)
def agent_usage_limit(screen: str, task: Task, config: Config) -> float | None:
    lines = [row for row in screen.splitlines() if row.strip()][-LIMIT_LINES:]
    for i, line in enumerate(lines):
        found = LIMIT.search(line)
        if found is None or line.lstrip().startswith(PROMPT):  # a user's message, not the agent's
            continue
        after = " ".join([line[found.end():], *lines[i + 1:i + 2]])  # the time may wrap
        reset = RESET.search(after)
        when = next_time(reset.group(1) or reset.group(2)) if reset else None
        if when is not None:
            return when
        if "usage limit reached" in line.lower():  # Claude's own words, with no time we can read
            return time.time() + LIMIT_DEFAULT_HOLD
    return None

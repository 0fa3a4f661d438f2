"""Google's Gemini CLI (npm ``@google/gemini-cli``): launch and screen.

Launch: ``gemini [-m <model>] --yolo`` (no approval prompts). It has no hooks
dispatchd uses: delivery is confirmed on screen and completion read from it.
Gemini swallows an Enter that comes less than ~0.2 s after a paste (measured),
so its recipe waits 0.4 s; a submit the screen does not confirm gets
one more Enter. Its folder-trust and sign-in dialogs are recognised and never
typed into (pre-seed ``~/.gemini/trustedFolders.json`` and
``~/.gemini/settings.json`` to skip them; see docs/agents/gemini.md).

Screen (measured; recorded in tests/screens/): the input line is `` >   Type your message or
@path/to/file`` when empty; busy while ``esc to cancel`` shows.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile, SubmitRecipe, first_dialog
from dispatchd.config import AgentSettings, Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.task import Task

INPUT = re.compile(r"^ ?> (.*)$")
PLACEHOLDER = "Type your message or @path/to/file"
DIALOGS = {"folder trust": ("Do you trust the files in this folder?",),
           "sign-in": ("How would you like to authenticate", "Get started")}


def _input(screen: str) -> str | None:
    for line in reversed(screen.splitlines()):
        m = INPUT.match(line)
        if m:
            return m.group(1).strip()
    return None


class Gemini(AgentProfile):
    name = "gemini"
    description = "Google Gemini CLI (npm @google/gemini-cli); screen only"
    program = ("gemini",)
    submit = SubmitRecipe(enter_delay=0.4)

    def command(self, task: Task, session: SessionInfo, model: str, config: Config,
                settings: AgentSettings) -> AgentLaunch:
        argv = self.argv(settings, model)
        return AgentLaunch(argv=(*argv, "--yolo"), env=dict(settings.env))

    def prompt(self, screen: str) -> bool:
        return _input(screen) is not None and self.dialog(screen) is None

    def busy(self, screen: str) -> bool:
        return "esc to cancel" in screen

    def input_pending(self, screen: str) -> bool:
        text = _input(screen)
        return bool(text) and text != PLACEHOLDER

    def dialog(self, screen: str) -> str | None:
        return first_dialog(screen, DIALOGS)


@hookimpl
def register_agents(register: Callable[[AgentProfile], None]) -> None:
    register(Gemini())

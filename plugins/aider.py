"""aider (PyPI ``aider-chat``): launch and screen.

Launch: ``aider [--model <model>] --yes-always --no-check-update
--no-show-model-warnings --analytics-disable``; ``--yes-always`` answers its
y/n questions (a missing git repo, for one), so none can take a task's text.
It has no hooks: delivery is confirmed on screen and completion read from it.
Text goes in as one bracketed paste (aider enables it); typed line by line,
each line would be its own message.

Screen (measured; recorded in tests/screens/): idle when the last line is the ``>`` prompt; busy while
``Waiting for <model>`` shows; a question ends in ``(Y)es/(N)o …``.
"""

from __future__ import annotations

from collections.abc import Callable

from dispatchd import hookimpl
from dispatchd.agents import AgentProfile
from dispatchd.config import AgentSettings, Config
from dispatchd.hooktypes import AgentLaunch, SessionInfo
from dispatchd.task import Task


def _last_lines(screen: str, n: int = 1) -> list[str]:
    return [row for row in screen.splitlines() if row.strip()][-n:]


def _last_line(screen: str) -> str:
    return next(iter(_last_lines(screen)), "")


class Aider(AgentProfile):
    name = "aider"
    description = "aider (PyPI aider-chat); screen only"
    program = ("aider",)

    def command(self, task: Task, session: SessionInfo, model: str, config: Config,
                settings: AgentSettings) -> AgentLaunch:
        argv = self.argv(settings, model)
        argv += ["--yes-always", "--no-check-update", "--no-show-model-warnings",
                 "--analytics-disable"]
        return AgentLaunch(argv=tuple(argv), env=dict(settings.env))

    def prompt(self, screen: str) -> bool:
        last = _last_line(screen)
        return last == ">" or last.startswith("> ")

    def busy(self, screen: str) -> bool:
        return any("Waiting for " in line for line in _last_lines(screen, 3))

    def input_pending(self, screen: str) -> bool:
        return _last_line(screen).startswith("> ")

    def dialog(self, screen: str) -> str | None:
        return "question" if "(Y)es/(N)o" in _last_line(screen) else None


@hookimpl
def register_agents(register: Callable[[AgentProfile], None]) -> None:
    register(Aider())

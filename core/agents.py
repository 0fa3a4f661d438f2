"""Agent profiles: everything dispatchd must know about one agent CLI, in one object.

The core knows no agent by name. A plugin describes an agent by subclassing
:class:`AgentProfile` and registering an instance through the
``register_agents`` hook. The task's ``agent:`` field, else its session's
``agent`` in the pool config, else ``agents.default``, else the profile
registered with ``default = True`` picks one. The ``agent_*`` hooks receive
that profile, and their built-in defaults (``dispatchd.plugins.agents``) ask
it, so a plugin may add an agent (a profile of ~30 lines) or override one
decision for every agent (a hook).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from .hooktypes import AgentLaunch, SessionInfo
from .text import ATTEMPT

if TYPE_CHECKING:
    from .config import AgentSettings, Config
    from .setback import Setback
    from .task import Task


@dataclass(frozen=True)
class SubmitRecipe:
    """How a message goes into this agent's input box and gets submitted."""

    bracketed: bool = True
    """One bracketed paste: a newline inside it never submits. False: the text is pasted
    plainly, each line ending in Enter (agents that read line by line, with :attr:`wrap`)."""
    wrap: tuple[str, str] | None = None
    """Lines typed, each with Enter, before and after the message (``llm chat``: ``!multi``,
    ``!end``), so a multi-line message stays one message."""
    enter_delay: float = 0.0
    """Least seconds between the paste and Enter (Gemini CLI swallows an earlier Enter);
    ``dispatcher.submit_delay`` applies when it is larger."""


class AgentProfile:
    """One agent CLI. Override what differs from these defaults."""

    name: ClassVar[str] = ""
    """The name tasks and the config use (``agent: codex``); letters, digits, ``._-``."""
    description: ClassVar[str] = ""
    default: ClassVar[bool] = False
    """The agent used when neither the task nor the config names one."""
    program: ClassVar[tuple[str, ...]] = ()
    """The command that starts it, unless ``agents.<name>.command`` says otherwise."""
    submit: ClassVar[SubmitRecipe] = SubmitRecipe()
    hooks_off_hint: ClassVar[str] = ""
    """Where this agent's settings can turn hooks off (said when its hooks do not run)."""
    trusts_projects: ClassVar[bool] = False
    """Whether ``agents.<name>.trust_projects: true`` answers its folder-trust dialog."""

    def model_for(self, task: Task) -> str:
        """The model for a task that names none; ``""`` leaves it to the agent's own default."""
        return ""

    def command(self, task: Task, session: SessionInfo, model: str, config: Config,
                settings: AgentSettings) -> AgentLaunch:
        """How to start the agent for ``task``: argv and environment, never a shell line."""
        return AgentLaunch(argv=tuple(self.argv(settings, model)), env=dict(settings.env))

    def argv(self, settings: AgentSettings, model: str, model_flag: str = "--model") -> list[str]:
        """The configured command (else :attr:`program`), plus ``--model <m>`` when one is given."""
        argv = list(settings.command or self.program)
        return [*argv, model_flag, model] if model else argv

    def ready(self, screen: str) -> bool:
        """Whether the freshly started agent takes input now."""
        return self.prompt(screen) and not self.busy(screen) and self.dialog(screen) is None

    def prompt(self, screen: str) -> bool:
        """Whether the agent's input line is on screen (busy or not)."""
        return False

    def busy(self, screen: str) -> bool:
        """Whether the agent shows that it is working on a turn."""
        return False

    def idle(self, screen: str) -> bool | None:
        """Whether the agent finished its turn and waits; ``None`` when the screen is unclear."""
        return self.ready(screen)

    def input_pending(self, screen: str) -> bool:
        """Whether text sits unsubmitted in the input box (then one more Enter is safe)."""
        return False

    def dialog(self, screen: str) -> str | None:
        """What dialog is on screen, if one is (e.g. ``folder trust``): never typed into."""
        return None

    def usage_limit(self, screen: str) -> float | None:
        """When the agent's usage limit lifts (Unix time), if the screen shows it was hit."""
        return None

    def setback(self, screen: str, report: Mapping[str, Any] | None) -> Setback | None:
        """Whether the turn failed on the account or the API (see :mod:`dispatchd.setback`):
        from the agent's failure ``report`` (a hook's payload), or the screen alone
        (``report`` is ``None``: answer only once the turn is over). Default: nothing."""
        return None

    def dialog_hint(self, dialog: str) -> str:
        """What else than answering ``dialog`` in the session would end it (a config key)."""
        if dialog == "folder trust" and self.trusts_projects:
            return (f"or set agents.{self.name}.trust_projects: true to have dispatchd mark "
                    "project folders trusted for it")
        return ""

    def message_in_transcript(self, screen: str) -> bool | None:
        """Whether ``screen`` (with scrollback) shows a message already sent to this agent;
        ``None`` when the agent's screen cannot tell. After a restart, an agent that shows
        none, is idle and has an empty input box never received the task."""
        return None


def worked_before(lines: Sequence[str], end: int, message: str) -> bool | None:
    """Whether screen rows between the task's message and row ``end`` (a failed turn's error)
    show work: a tool's summary, output. The message ends at its ``(dispatchd attempt …)``
    line; without it, at its first row (starting with ``message``, the agent's mark for a
    sent message): then rows of the message itself count as work, the cautious side."""
    start = next((i for i in range(end - 1, -1, -1) if ATTEMPT.search(lines[i])), None)
    if start is None:
        start = next((i for i in range(end - 1, -1, -1) if lines[i].startswith(message)), None)
    if start is None:
        return None
    return any(row.strip() for row in lines[start + 1:end])


def settings_for(config: Config, agent: AgentProfile) -> AgentSettings:
    """``agents.<name>`` for ``agent``; ``dispatcher.agent_command`` counts for the default one."""
    is_default = (agent.name == config.default_agent if config.default_agent
                  else agent.default)
    return config.agent_settings(agent.name, is_default)


def first_dialog(screen: str, dialogs: Mapping[str, Sequence[str]]) -> str | None:
    """The name of the first dialog (name → phrases) any of whose phrases is on ``screen``."""
    return next((name for name, signs in dialogs.items() if any(s in screen for s in signs)), None)


class UnknownAgent(LookupError):
    """A task or the config names an agent no installed plugin provides."""


def installed_agents(hook: Any, config: Config) -> AgentRegistry:
    """The agent profiles the plugins register; every agent ``config`` names must be one of
    them (else :class:`UnknownAgent`, naming the config key)."""
    profiles: list[AgentProfile] = []
    hook.register_agents(register=profiles.append)
    if not profiles:
        raise UnknownAgent("no plugin provides an agent (is the built-in 'claude' blocked?)")
    registry = AgentRegistry(profiles)
    for key, name in config.agent_names().items():
        if name not in registry:
            raise UnknownAgent(f"{config.source}: {key}: {registry.unknown(name)}")
    return AgentRegistry(profiles, config.default_agent)


class AgentRegistry:
    """The profiles the installed plugins registered, by name."""

    def __init__(self, profiles: list[AgentProfile], default: str | None = None) -> None:
        self.profiles: dict[str, AgentProfile] = {}
        for profile in profiles:
            self.profiles.setdefault(profile.name, profile)  # the first one registered wins
        flagged = [p.name for p in profiles if p.default]
        self.default = default or (flagged[0] if flagged else next(iter(self.profiles), ""))
        if default is not None:
            self.get(default)

    def unknown(self, name: str) -> str:
        names = ", ".join(sorted(self.profiles)) or "none"
        return f"unknown agent {name!r} (installed: {names})"

    def get(self, name: str | None) -> AgentProfile:
        """The profile called ``name`` (the default one for ``None``)."""
        key = name or self.default
        try:
            return self.profiles[key]
        except KeyError:
            raise UnknownAgent(self.unknown(key)) from None

    def __contains__(self, name: object) -> bool:
        return name in self.profiles

"""The YAML configuration: the seed's ``pool:``/``dispatcher:`` file, loaded unchanged, plus additions.

Every problem is reported as ``<file>: <key>: <reason>`` before anything starts.
The reference of every key lives in ``docs/config.md``.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from .durations import parse_duration
from .occupant import PROMPT_END

log = logging.getLogger(__name__)

T = TypeVar("T")

SESSION_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_@+=-]{0,99}$")
"""tmux rewrites ``.`` and ``:`` in session names, so such names could never match."""
AGENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""An agent profile's name (``agent: codex``): never an option, never a path."""


SECTIONS = {"pool", "dispatcher", "tmux", "agents", "plugins"}
TYPO_CUTOFF = 0.8
"""How alike (difflib's ratio) an unknown key must be to a known one to count as its typo."""


class ConfigError(Exception):
    """A config problem, always naming the file, the key and the reason."""

    def __init__(self, source: str, key: str, reason: str) -> None:
        super().__init__(f"{source}: {key}: {reason}" if key else f"{source}: {reason}")
        self.source, self.key, self.reason = source, key, reason


@dataclass(frozen=True)
class DedicatedSession:
    """A session bound to one project (``pool.dedicated[]``)."""

    name: str
    project: Path
    agent: str | None = None
    """The agent this session runs (``None``: the default agent)."""


@dataclass(frozen=True)
class AutonomousPool:
    """Numbered sessions ``prefix+start_index`` … ``prefix+start_index+max-1``."""

    prefix: str = "ccl-auto-"
    start_index: int = 1
    min: int = 0
    max: int = 4
    agent: str | None = None
    """The agent these sessions run (``None``: the default agent)."""

    def names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(self.start_index, self.start_index + self.max)]


@dataclass(frozen=True)
class TmuxServer:
    """Which tmux server holds the pool: the user's default, a socket name (-L) or path (-S)."""

    socket_name: str | None = None
    socket_path: Path | None = None


@dataclass(frozen=True)
class AgentSettings:
    """What the config says about one agent (``agents.<name>``)."""

    command: tuple[str, ...] = ()
    """The program and fixed arguments; empty: the profile's own ``program``."""
    env: Mapping[str, str] = field(default_factory=dict)
    options: Mapping[str, Any] = field(default_factory=dict)
    """Every other key, for the agent's profile to read (e.g. ``trust_projects``)."""


@dataclass(frozen=True)
class Config:
    """The whole configuration, validated and with defaults applied."""

    source: str = "<defaults>"
    dedicated: tuple[DedicatedSession, ...] = ()
    autonomous: AutonomousPool = field(default_factory=AutonomousPool)
    projects_dirs: tuple[Path, ...] = ()
    prompt_timeout: float = 30.0
    poll_interval: float = 60.0
    cooldown: float = 300.0
    max_attempts: int = 3
    hold_backoff: float = 30.0
    """How long an agent's account is first held after a limit or outage that names no end."""
    hold_backoff_max: float = 1800.0
    """The longest such hold: each probe that meets the setback again doubles it up to this."""
    storm_failures: int = 5
    """This many tasks of one agent failing within ``storm_window`` pause it (0: never)."""
    storm_window: float = 60.0
    completion_poll: float = 2.0
    settle_time: float = 2.0
    submit_delay: float = 0.3
    ack_timeout: float = 15.0
    """How long a submitted task may wait for the agent's acknowledgement."""
    agent_hooks: bool = True
    """False: the agent CLI runs no hooks (a Claude-compatible program without them);
    delivery and completion are then read from the screen only."""
    shell_prompt: str = PROMPT_END
    """How the text before the cursor of an empty shell prompt ends (a regex searched in it,
    trailing spaces cut): a pool session is free only when its shell shows one."""
    watch_events: bool = True
    """False: no file-system events, the periodic scan alone (for NFS/SMB inboxes)."""
    max_task_bytes: int = 1024 * 1024
    agent_command: tuple[str, ...] = ()
    """Shorthand for the default agent's ``agents.<name>.command``."""
    agent_env: Mapping[str, str] = field(default_factory=dict)
    """Added to every agent's environment (``agents.<name>.env`` wins)."""
    default_agent: str | None = None
    """``agents.default``: the agent of tasks and sessions that name none."""
    agents: Mapping[str, AgentSettings] = field(default_factory=dict)
    message_footer: str = (
        "IMPORTANT: carry out the actions this task asks for; do not only describe them."
    )
    state_dir: Path = field(default_factory=lambda: default_state_dir())
    tmux: TmuxServer = field(default_factory=TmuxServer)
    plugin_files: tuple[Path, ...] = ()
    """``plugins:``: Python files loaded as plugins, after the installed ones."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Sections this version does not know (kept for plugins to read their settings)."""

    def session_names(self) -> list[str]:
        """Every session dispatchd may touch, dedicated first."""
        return [d.name for d in self.dedicated] + self.autonomous.names()

    def agent_settings(self, name: str, is_default: bool) -> AgentSettings:
        """The settings for agent ``name``, with ``agent_command``/``agent_env`` applied."""
        own = self.agents.get(name, AgentSettings())
        command = own.command or (self.agent_command if is_default else ())
        return AgentSettings(command, {**self.agent_env, **own.env}, own.options)

    def agent_names(self) -> dict[str, str]:
        """Every agent the config names, with the key that names it (to check they exist)."""
        named = {f"agents.{n}": n for n in self.agents}
        if self.default_agent:
            named["agents.default"] = self.default_agent
        if self.autonomous.agent:
            named["pool.autonomous.agent"] = self.autonomous.agent
        named.update((f"pool.dedicated[{i}].agent", d.agent)
                     for i, d in enumerate(self.dedicated) if d.agent)
        return named


BUILTIN_DEFAULTS: dict[str, Any] = {"dispatcher": {"projects_dir": "~/projects"}}
"""Used when there is no config file: every folder under ``~/projects`` is a project, and the
autonomous sessions ``ccl-auto-1`` … ``ccl-auto-4`` of the default tmux server are the pool."""


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "dispatchd" / "config.yaml"


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "dispatchd"


def load_config(path: Path | None = None) -> Config:
    """Load ``path`` (or the default location; built-in defaults when that is absent)."""
    explicit = path is not None
    path = path or default_config_path()
    if not path.exists():
        if explicit:
            raise ConfigError(str(path), "", "no such file")
        log.debug("no config file at %s: using the built-in defaults", path)
        return parse_config(BUILTIN_DEFAULTS, "<defaults>", base_dir=Path.home())
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(str(path), "", f"cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), "", f"not valid YAML: {exc}") from exc
    return parse_config(data if data is not None else {}, str(path), base_dir=path.parent)


def parse_config(data: object, source: str, base_dir: Path) -> Config:
    """Validate a loaded YAML document into a :class:`Config`."""
    r = _Reader(source, base_dir)
    top = r.mapping(data, "")
    pool = r.mapping(top.get("pool", {}), "pool")
    disp = r.mapping(top.get("dispatcher", {}), "dispatcher")
    tmux = r.mapping(top.get("tmux", {}), "tmux")
    r.refuse_unknown(top, "", SECTIONS)  # other sections are kept for plugins, unless a typo
    default_agent, agents = _agents(r, top.get("agents", {}))
    r.refuse_unknown(pool, "pool", {"dedicated", "autonomous", "shared_projects_dir"})
    r.refuse_unknown(disp, "dispatcher", set(_DISPATCHER_KEYS) | {"projects_dir"})
    r.refuse_unknown(tmux, "tmux", {"socket_name", "socket_path"})

    dedicated = tuple(_dedicated(r, pool.get("dedicated", [])))
    auto = _autonomous(r, pool.get("autonomous", {}))
    dirs = [
        r.path(v, k)
        for k, v in (("dispatcher.projects_dir", disp.get("projects_dir")),
                     ("pool.shared_projects_dir", pool.get("shared_projects_dir")))
        if v is not None
    ]
    kwargs: dict[str, Any] = {}
    for key, convert in _DISPATCHER_KEYS.items():
        if key in disp:
            kwargs[key] = convert(r, disp[key], f"dispatcher.{key}")
    server = TmuxServer(
        socket_name=r.optional(tmux.get("socket_name"), "tmux.socket_name", r.string),
        socket_path=r.optional(tmux.get("socket_path"), "tmux.socket_path", r.path),
    )
    if server.socket_name and server.socket_path:
        raise ConfigError(source, "tmux", "give socket_name or socket_path, not both")
    cfg = Config(
        source=source, dedicated=dedicated, autonomous=auto,
        projects_dirs=tuple(dict.fromkeys(dirs)), tmux=server,
        default_agent=default_agent, agents=agents,
        plugin_files=_plugin_files(r, top.get("plugins")),
        extra={k: v for k, v in top.items() if k not in SECTIONS},
        **kwargs,
    )
    names = cfg.session_names()
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ConfigError(source, "pool", f"session names used twice: {', '.join(dupes)}")
    return cfg


class _Reader:
    """Typed accessors that raise :class:`ConfigError` naming the key."""

    def __init__(self, source: str, base_dir: Path) -> None:
        self.source, self.base_dir = source, base_dir

    def fail(self, key: str, reason: str) -> ConfigError:
        return ConfigError(self.source, key, reason)

    def mapping(self, value: object, key: str) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(key or "<top>", f"expected a mapping, got {type(value).__name__}")
        return {str(k): v for k, v in value.items()}

    def refuse_unknown(self, section: Mapping[str, Any], name: str, known: set[str]) -> None:
        """An unknown key of a section is an error, which names the known key it looks like.
        At the top level (``name`` empty) only a near miss is: other sections are kept for
        plugins, and for other tools sharing the file."""
        prefix = f"{name}." if name else ""
        for key in sorted(set(section) - known):
            near = difflib.get_close_matches(key, sorted(known), n=1, cutoff=TYPO_CUTOFF)
            if near:
                raise self.fail(f"{prefix}{key}", f"unknown key; did you mean {near[0]!r}?")
            if name:
                raise self.fail(f"{prefix}{key}", "unknown key (known: "
                                f"{', '.join(sorted(known))})")

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, f"expected a non-empty string, got {value!r}")
        return value

    def integer(self, value: object, key: str, minimum: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(key, f"expected an integer >= {minimum}, got {value!r}")
        return value

    def duration(self, value: object, key: str) -> float:
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise self.fail(key, str(exc)) from None

    def path(self, value: object, key: str) -> Path:
        text = os.path.expandvars(self.string(value, key))
        p = Path(text).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)

    def optional(self, value: object, key: str, convert: Callable[[object, str], T]) -> T | None:
        return None if value is None else convert(value, key)


def _session_name(r: _Reader, value: object, key: str) -> str:
    name = r.string(value, key)
    if not SESSION_NAME.match(name):
        raise r.fail(key, f"{name!r} is not a usable tmux session name "
                          "(letters, digits, _ - @ + =; no '.' or ':', which tmux rewrites)")
    return name


def _dedicated(r: _Reader, value: object, key: str = "pool.dedicated") -> list[DedicatedSession]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise r.fail(key, f"expected a list of {{name, project}}, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        entry = r.mapping(item, f"{key}[{i}]")
        r.refuse_unknown(entry, f"{key}[{i}]", {"name", "project", "agent"})
        if "name" not in entry or "project" not in entry:
            raise r.fail(f"{key}[{i}]", "needs both 'name' and 'project'")
        out.append(DedicatedSession(_session_name(r, entry["name"], f"{key}[{i}].name"),
                                    r.path(entry["project"], f"{key}[{i}].project"),
                                    r.optional(entry.get("agent"), f"{key}[{i}].agent",
                                               lambda v, k: _agent_name(r, v, k))))
    return out


def _autonomous(r: _Reader, value: object, key: str = "pool.autonomous") -> AutonomousPool:
    entry = r.mapping(value, key)
    r.refuse_unknown(entry, key, {"prefix", "start_index", "min", "max", "agent"})
    d = AutonomousPool()
    prefix = r.string(entry.get("prefix", d.prefix), f"{key}.prefix")
    _session_name(r, prefix, f"{key}.prefix")
    pool = AutonomousPool(
        prefix=prefix,
        start_index=r.integer(entry.get("start_index", d.start_index), f"{key}.start_index"),
        min=r.integer(entry.get("min", d.min), f"{key}.min"),
        max=r.integer(entry.get("max", d.max), f"{key}.max"),
        agent=r.optional(entry.get("agent"), f"{key}.agent", lambda v, k: _agent_name(r, v, k)),
    )
    if pool.min > pool.max:
        raise r.fail(f"{key}.min", f"min ({pool.min}) is larger than max ({pool.max})")
    return pool


def _agent_name(r: _Reader, value: object, key: str) -> str:
    name = r.string(value, key)
    if not AGENT_NAME.match(name):
        raise r.fail(key, f"{name!r} is not an agent name (letters, digits, '.', '_', '-')")
    return name


def _plugin_files(r: _Reader, value: object) -> tuple[Path, ...]:
    """``plugins: [policy.py, ~/dispatchd/site.py]``: existing ``.py`` files."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise r.fail("plugins", f"expected a list of .py files, got {type(value).__name__}")
    out = []
    for i, item in enumerate(value):
        path = r.path(item, f"plugins[{i}]")
        if path.suffix != ".py" or not path.is_file():
            raise r.fail(f"plugins[{i}]", f"{path} is not a .py file")
        out.append(path)
    return tuple(dict.fromkeys(out))


def _agents(r: _Reader, value: object) -> tuple[str | None, dict[str, AgentSettings]]:
    """``agents:``: ``default: <name>`` and one mapping per agent (command, env, options)."""
    section = r.mapping(value, "agents")
    default = r.optional(section.pop("default", None), "agents.default",
                         lambda v, k: _agent_name(r, v, k))
    out = {}
    for name, raw in section.items():
        key = f"agents.{_agent_name(r, name, 'agents')}"
        entry = r.mapping(raw, key)
        out[name] = AgentSettings(
            command=_command(r, entry.pop("command"), f"{key}.command") if "command" in entry else (),
            env=_env(r, entry.pop("env", {}), f"{key}.env"), options=entry)
    return default, out


def _command(r: _Reader, value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (r.string(value, key),)
    if isinstance(value, list) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise r.fail(key, f"expected a program name or a list of argv strings, got {value!r}")


def _env(r: _Reader, value: object, key: str) -> dict[str, str]:
    env = r.mapping(value, key)
    for name, val in env.items():
        if (not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name) or isinstance(val, bool)
                or not isinstance(val, str | int)):
            raise r.fail(f"{key}.{name}", "expected NAME: value (a string or an integer)")
    return {k: str(v) for k, v in env.items()}


def _flag(r: _Reader, value: object, key: str) -> bool:
    if not isinstance(value, bool):
        raise r.fail(key, f"expected true or false, got {value!r}")
    return value


def _text(r: _Reader, value: object, key: str) -> str:
    if not isinstance(value, str):
        raise r.fail(key, f"expected text (may be empty), got {value!r}")
    return value


def _regex(r: _Reader, value: object, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise r.fail(key, f"expected a regular expression, got {value!r}")
    try:
        re.compile(value)
    except re.error as exc:
        raise r.fail(key, f"not a valid regular expression: {exc}") from None
    return value


def _positive_duration(r: _Reader, value: object, key: str) -> float:
    seconds = r.duration(value, key)
    if seconds <= 0:
        raise r.fail(key, "must be longer than zero")
    return seconds


_DISPATCHER_KEYS: dict[str, Callable[[_Reader, object, str], Any]] = {
    "prompt_timeout": _positive_duration,
    "poll_interval": _positive_duration,
    "cooldown": lambda r, v, k: r.duration(v, k),
    "completion_poll": _positive_duration,
    "settle_time": lambda r, v, k: r.duration(v, k),
    "watch_events": lambda r, v, k: _flag(r, v, k),
    "agent_hooks": lambda r, v, k: _flag(r, v, k),
    "ack_timeout": _positive_duration,
    "submit_delay": lambda r, v, k: r.duration(v, k),
    "max_attempts": lambda r, v, k: r.integer(v, k, minimum=1),
    "hold_backoff": _positive_duration,
    "hold_backoff_max": _positive_duration,
    "storm_failures": lambda r, v, k: r.integer(v, k, minimum=0),
    "storm_window": _positive_duration,
    "max_task_bytes": lambda r, v, k: r.integer(v, k, minimum=1),
    "agent_command": _command,
    "agent_env": _env,
    "message_footer": lambda r, v, k: _text(r, v, k),
    "state_dir": lambda r, v, k: r.path(v, k),
    "shell_prompt": _regex,
}

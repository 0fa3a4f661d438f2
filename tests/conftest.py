"""Fixtures shared by the test suite (helpers live in ``harness.py``)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import FAKEAGENT, AgentLog, Daemon, TmuxServer

from dispatchd.pluginmanager import PluginManager, get_plugin_manager

if shutil.which("tmux") is None:  # pragma: no cover - .ci/run installs tmux
    raise RuntimeError("the test suite needs tmux; install it (apt-get install -y tmux)")


@pytest.fixture
def pm() -> PluginManager:
    """A fresh plugin manager with the built-ins only (no installed entry points)."""
    return get_plugin_manager(entry_points=False)


@pytest.fixture
def agent_log(tmp_path: Path) -> AgentLog:
    return AgentLog(tmp_path / "agent.jsonl")


@pytest.fixture
def tmux(agent_log: AgentLog) -> Iterator[TmuxServer]:
    server = TmuxServer(agent_log.path)
    yield server
    server.kill()


@pytest.fixture
def make_daemon(tmp_path: Path, tmux: TmuxServer) -> Iterator[Callable[..., Daemon]]:
    """Build a daemon whose config uses the private tmux server and the fake agent."""
    made: list[Daemon] = []

    def factory(config: dict[str, Any] | None = None, **env: str) -> Daemon:
        cfg: dict[str, Any] = {"pool": {"autonomous": {"prefix": "auto-", "start_index": 1,
                                                       "min": 0, "max": 0}},
                               "dispatcher": {"prompt_timeout": "10s", "poll_interval": "5s",
                                              "completion_poll": "300ms", "cooldown": "5m",
                                              "settle_time": "500ms", "submit_delay": "100ms",
                                              "state_dir": str(tmp_path / "state"),
                                              "agent_command": [sys.executable, str(FAKEAGENT)]},
                               "tmux": {"socket_path": str(tmux.socket)}}
        for section, values in (config or {}).items():
            if isinstance(values, dict):
                cfg.setdefault(section, {}).update(values)
            else:
                cfg[section] = values
        daemon = Daemon(tmp_path, cfg, env)
        made.append(daemon)
        return daemon

    yield factory
    for daemon in made:
        daemon.stop()

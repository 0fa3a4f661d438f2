"""Default backends: tasks in per-project folders, sessions on the local tmux server."""

from __future__ import annotations

from dispatchd import hookimpl
from dispatchd.config import Config
from dispatchd.store import FileStore, TaskStore
from dispatchd.tmux import TmuxTransport
from dispatchd.transport import SessionTransport


@hookimpl(trylast=True)
def task_store(config: Config) -> TaskStore:
    return FileStore(config.max_task_bytes)


@hookimpl(trylast=True)
def session_transport(config: Config) -> SessionTransport:
    return TmuxTransport(config.tmux, config.state_dir, config.shell_prompt)

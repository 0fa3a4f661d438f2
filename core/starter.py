"""``dispatchd init``: a commented starter config that loads as it is."""

from __future__ import annotations

from pathlib import Path

STARTER_CONFIG = """\
# dispatchd configuration (the reference of every key: docs/config.md).
# Durations are written like 30s, 5m, 300ms or 1h.

pool:
  # Sessions bound to one project: a task of that project goes there first.
  # Uncomment and adapt; "project" is a folder holding .agent-queue/inbox/.
  dedicated: []
  #  - name: web
  #    project: ~/projects/web
  #    agent: claude            # optional: the agent this session runs

  # Numbered sessions that take tasks of any project:
  # prefix+start_index ... prefix+start_index+max-1 (ccl-auto-1 ... ccl-auto-4).
  autonomous:
    prefix: ccl-auto-
    start_index: 1
    min: 0                      # how many `dispatchd pool up` creates (at least)
    max: 4                      # how many dispatchd may ever use (`pool up --all`)

  # Every folder under this one that has .agent-queue/inbox/ is a project.
  shared_projects_dir: ~/projects

dispatcher:
  poll_interval: 60s            # full rescan of every inbox (events are seen at once)
  prompt_timeout: 30s           # how long an agent may take to show its prompt
  cooldown: 5m                  # a session rests this long after a failed launch
  max_attempts: 3               # failed launches before a task goes to failed/
  settle_time: 2s               # a file must be unchanged this long before it is taken
  # state_dir: ~/.local/state/dispatchd   # lock, status.json, inflight.json

agents:
  default: claude               # the agent of tasks and sessions that name none
  # claude:
  #   command: [claude]         # program and fixed arguments
  #   env: {}                   # extra environment for the agent

tmux:
  # Which tmux server holds the pool. Neither key: your default server.
  # socket_name: dispatchd      # like `tmux -L dispatchd`
  # socket_path: /tmp/dispatchd.sock   # like `tmux -S /tmp/dispatchd.sock`
"""


class InitError(Exception):
    """The starter config was not written (the file exists, or the folder is not writable)."""


def write_starter(path: Path, force: bool = False, text: str = STARTER_CONFIG) -> Path:
    """Write the starter config to ``path``; refuse to replace a file unless ``force``."""
    if path.exists() and not force:
        raise InitError(f"{path} already exists; use --force to replace it")
    if path.exists() and path.is_dir():
        raise InitError(f"{path} is a directory")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise InitError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path

"""SIGHUP: read the config again, as daemons do, and apply what can change while running.

A config that does not load, or names an agent no plugin provides, is refused
with one log line and the old one stays: a reload never stops the daemon. The
pool, the tmux server, the state folder and file-system events are set up once;
a change to them is logged and waits for the next start. Everything else (the
dispatcher's timings, agents' commands and environment, the projects folders,
the message footer) applies from the next dispatch round.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from .config import Config

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

AT_START = ("dedicated", "autonomous", "tmux", "state_dir", "watch_events", "max_task_bytes",
            "shell_prompt", "plugin_files")
"""Config fields read once at start (what the pool, the task store and the tmux transport
are built with)."""


def reload_config(engine: Engine, load: Callable[[], Config]) -> bool:
    """Load the config again and apply it to ``engine``; False (and the old one kept) when
    it is refused."""
    old = engine.config
    try:
        new = load()
        engine.agents_for(new)  # names only installed agents
    except Exception as exc:  # whatever it is, the daemon runs on with the config it has
        log.error("config reload refused, the running config stays: %s", exc)
        return False
    waiting = [name for name in AT_START if getattr(new, name) != getattr(old, name)]
    new = replace(new, **{name: getattr(old, name) for name in AT_START})
    engine.use_config(new)
    log.warning("config reloaded from %s%s", new.source,
                f"; changes to {', '.join(waiting)} apply at the next start" if waiting else "")
    return True

"""A third-party policy: ``docs`` tasks go to the session ``auto-2``; ``cheap`` tasks use haiku."""

from __future__ import annotations

import dispatchd


@dispatchd.hookimpl
def select_session(task, candidates, config):
    if "docs" in task.tags:
        return "auto-2" if any(c.name == "auto-2" for c in candidates) else None
    return None  # everything else: the built-in default decides


@dispatchd.hookimpl
def choose_model(task, session, config):
    return "haiku" if "cheap" in task.tags else None

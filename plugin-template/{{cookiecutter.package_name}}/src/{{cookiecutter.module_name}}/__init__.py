"""{{ cookiecutter.description }}"""

from __future__ import annotations

import dispatchd

TARGET_SESSION = "docs-writer"


@dispatchd.hookimpl
def select_session(task, candidates, config):
    """Tasks tagged ``docs`` go to TARGET_SESSION (and wait for it); others: the default."""
    if "docs" not in task.tags:
        return None
    return TARGET_SESSION if any(c.name == TARGET_SESSION for c in candidates) else None

"""{{ cookiecutter.description }}

Each function marked ``@dispatchd.hookimpl`` overrides one of dispatchd's hooks
(see its docs/hooks.md); returning ``None`` leaves the decision to the next plugin
and finally to dispatchd's built-in default.
"""

from __future__ import annotations

import dispatchd

TARGET_SESSION = "docs-writer"


@dispatchd.hookimpl
def select_session(task, candidates, config):
    """Tasks tagged ``docs`` go to TARGET_SESSION, and wait while it is busy; others: the default.

    Returning a configured session's name that is not among ``candidates`` (it is
    busy) makes the task wait for it.
    """
    return TARGET_SESSION if "docs" in task.tags else None

"""dispatchd: hands Markdown task files to idle AI-agent sessions in tmux.

The package root exposes what a plugin needs: the pluggy markers, and the types
its hooks see (``Task``, ``SessionInfo``, ``AgentProfile``, ``AgentLaunch``,
``Setback``). Importing it builds nothing, and the types are imported only when
first asked for (the plugin manager is made by
:func:`dispatchd.pluginmanager.get_plugin_manager`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .agents import AgentProfile
    from .hooktypes import AgentLaunch, SessionInfo
    from .setback import Setback
    from .task import Task

__version__ = "0.1.0"

PROJECT_NAME = "dispatchd"
"""The pluggy project name and the entry-point group third-party plugins use."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@dispatchd.hookimpl``."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used by :mod:`dispatchd.hookspecs`)."""

_TYPES = {"Task": "task", "SessionInfo": "hooktypes", "AgentLaunch": "hooktypes",
          "AgentProfile": "agents", "Setback": "setback"}


def __getattr__(name: str) -> Any:
    if name in _TYPES:
        return getattr(importlib.import_module(f".{_TYPES[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["PROJECT_NAME", "AgentLaunch", "AgentProfile", "SessionInfo", "Setback", "Task",
           "__version__", "hookimpl", "hookspec"]

"""dispatchd: hands Markdown task files to idle AI-agent sessions in tmux.

The package root only exposes the pluggy markers a plugin needs; importing it
builds nothing (the plugin manager is made by :func:`dispatchd.pluginmanager.get_plugin_manager`).
"""

import pluggy

__version__ = "0.1.0"

PROJECT_NAME = "dispatchd"
"""The pluggy project name and the entry-point group third-party plugins use."""

hookimpl = pluggy.HookimplMarker(PROJECT_NAME)
"""Marker for hook implementations: ``@dispatchd.hookimpl``."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
"""Marker for hook specifications (used by :mod:`dispatchd.hookspecs`)."""

__all__ = ["PROJECT_NAME", "__version__", "hookimpl", "hookspec"]

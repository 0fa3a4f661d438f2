"""Building the plugin manager: blocked names, entry points, built-ins, ``check_pending()``.

Nothing here runs at import: every caller (the CLI, a test) builds its own
manager with :func:`get_plugin_manager`. Built-in plugins are imported by name,
so this module (and the rest of the core) never imports one directly.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from . import PROJECT_NAME, hookspecs

log = logging.getLogger(__name__)

BUILTIN_PLUGINS = (
    "dispatchd.plugins.ordering",
    "dispatchd.plugins.selection",
    "dispatchd.plugins.models",
    "dispatchd.plugins.messages",
    "dispatchd.plugins.agents",
    "dispatchd.plugins.claude",
    "dispatchd.plugins.codex",
    "dispatchd.plugins.gemini",
    "dispatchd.plugins.aider",
    "dispatchd.plugins.dispatch_log",
    "dispatchd.plugins.local",
)
"""Modules that provide the defaults; each registers under its last dotted part."""

DISABLE_ENV = "DISPATCHD_DISABLE_PLUGINS"
"""Comma-separated plugin names to block (built-in or entry-point names)."""
ALLOW_ENV = "DISPATCHD_PLUGINS"
"""Comma-separated entry-point names: when set, only these installed plugins load (built-ins
still do, unless blocked); empty (``DISPATCHD_PLUGINS=``) loads no installed plugin."""
TRACE_ENV = "DISPATCHD_TRACE_HOOKS"
"""``1``: log every hook call, its arguments and its result (logger ``dispatchd.hooks``)."""


@dataclass(frozen=True)
class LoadFailure:
    """An entry-point plugin that could not be loaded; the daemon runs on without it."""

    name: str
    dist: str | None
    error: str


def blocked_from_env() -> set[str]:
    return _names(os.environ.get(DISABLE_ENV, ""))


def allowed_from_env() -> set[str] | None:
    """The allow-list of installed plugins, or None (all of them) when it is not set."""
    value = os.environ.get(ALLOW_ENV)
    return None if value is None else _names(value)


def _names(value: str) -> set[str]:
    return {n.strip() for n in value.split(",") if n.strip()}


def trace_hooks(pm: pluggy.PluginManager) -> None:
    """Log each hook call with its arguments and outcome (pluggy's public call monitoring)."""
    trace = logging.getLogger("dispatchd.hooks")

    def before(hook_name: str, impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]) -> None:
        trace.info("call %s(%s)", hook_name,
                   ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k != "config"))

    def after(outcome: pluggy.Result[Any], hook_name: str, impls: Sequence[pluggy.HookImpl],
              kwargs: Mapping[str, Any]) -> None:
        error = outcome.exception
        trace.info("  %s -> %s", hook_name,
                   f"raised {error!r}" if error is not None else repr(outcome.get_result()))

    pm.add_hookcall_monitoring(before, after)


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what ``dispatchd plugins`` reports: the plugins that failed to load."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.load_failures: list[LoadFailure] = []
        self.distributions: dict[str, tuple[str, str]] = {}
        """Plugin name → (distribution, version) for plugins loaded from entry points."""
        self.files: dict[str, Path] = {}
        """Plugin name → the file it was loaded from (``plugins:`` in the config)."""


def get_plugin_manager(
    *, blocked: Iterable[str] = (), entry_points: bool = True, builtins: bool = True
) -> PluginManager:
    """A fresh, fully loaded manager.

    ``blocked`` adds to the names in ``$DISPATCHD_DISABLE_PLUGINS``. A
    third-party plugin that fails to import is logged with its name, listed by
    :func:`load_failures`, and skipped.
    """
    pm = PluginManager()
    pm.add_hookspecs(hookspecs)
    for name in set(blocked) | blocked_from_env():
        pm.set_blocked(name)
    if entry_points:
        pm.load_failures = _load_entry_points(pm, allowed_from_env())
    if builtins:
        for modname in BUILTIN_PLUGINS:
            short = modname.rsplit(".", 1)[1]
            if pm.is_blocked(short):
                continue
            pm.register(importlib.import_module(modname), name=short)
    pm.check_pending()
    if os.environ.get(TRACE_ENV, "") not in ("", "0"):
        trace_hooks(pm)
    return pm


def load_file_plugins(pm: PluginManager, paths: Iterable[Path]) -> None:
    """Register the plugin files a config names (``plugins: [policy.py]``), each under its
    file's stem. One that fails to load is logged and listed, as an installed one would be."""
    for path in paths:
        name = path.stem
        if pm.files.get(name) == path or pm.is_blocked(name):
            continue
        if pm.get_plugin(name) is not None:
            error = f"its name {name!r} is taken by another plugin; rename the file"
            log.error("plugin file %s is skipped: %s", path, error)
            pm.load_failures.append(LoadFailure(name, str(path), error))
            continue
        try:
            spec = importlib.util.spec_from_file_location(f"dispatchd_file_plugin_{name}", path)
            if spec is None or spec.loader is None:
                raise ImportError(f"cannot load {path}")
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            pm.register(module, name=name)
            pm.check_pending()
        except Exception as exc:
            if pm.has_plugin(name):
                pm.unregister(name=name)
            log.error("plugin file %s failed to load and is skipped: %s: %s", path,
                      type(exc).__name__, exc)
            pm.load_failures.append(LoadFailure(name, str(path), f"{type(exc).__name__}: {exc}"))
            continue
        pm.files[name] = path
        log.debug("loaded plugin file %s", path)


def _load_entry_points(pm: PluginManager, allowed: set[str] | None) -> list[LoadFailure]:
    failures = []
    builtin_names = {m.rsplit(".", 1)[1] for m in BUILTIN_PLUGINS}
    for ep in importlib.metadata.entry_points(group=PROJECT_NAME):
        dist = ep.dist.name if ep.dist else None
        if ep.name in builtin_names:
            error = f"its entry-point name {ep.name!r} is the name of a built-in plugin"
            log.error("plugin %r (from %s) is skipped: %s; rename the entry point", ep.name,
                      dist or "?", error)
            failures.append(LoadFailure(ep.name, dist, error))
            continue
        if allowed is not None and ep.name not in allowed:
            pm.set_blocked(ep.name)  # listed by `dispatchd plugins` as blocked
            continue
        if pm.is_blocked(ep.name) or pm.has_plugin(ep.name):
            continue
        try:
            plugin = ep.load()
            pm.register(plugin, name=ep.name)
            pm.check_pending()
            if ep.dist is not None:
                pm.distributions[ep.name] = (ep.dist.name, ep.dist.version)
        except Exception as exc:
            if pm.has_plugin(ep.name):
                pm.unregister(name=ep.name)
            log.error("plugin %r (from %s) failed to load and is skipped: %s: %s",
                      ep.name, dist or "?", type(exc).__name__, exc)
            failures.append(LoadFailure(ep.name, dist, f"{type(exc).__name__}: {exc}"))
            continue
        log.debug("loaded plugin %r from %s", ep.name, dist)
    return failures

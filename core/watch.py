"""``dispatchd status --watch``: the status table, kept up to date.

On a terminal it is a live table drawn with rich (redrawn in place); written
to a pipe or a file it is the plain table again every interval, separated by a
blank line and a time stamp, so ``watch``-style logging stays readable. The
data is exactly that of ``status --json`` (:func:`dispatchd.status.collect_status`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

from .config import Config
from .hooktypes import state_label
from .status import ago, collect_status, render_status
from .store import STATES
from .text import for_log


def watch(config: Config, interval: float, count: int | None = None,
          echo: Callable[[str], None] = print) -> None:
    """Show the status every ``interval`` seconds, ``count`` times (forever: None)."""
    if sys.stdout.isatty():
        _live(config, interval, count)
        return
    shown = 0
    while count is None or shown < count:
        if shown:
            time.sleep(interval)
        echo(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}\n{render_status(collect_status(config))}\n")
        shown += 1


def _live(config: Config, interval: float, count: int | None) -> None:
    from rich.live import Live

    shown = 0
    with Live(_render(collect_status(config)), auto_refresh=False, screen=False) as live:
        while count is None or shown < count:
            shown += 1
            time.sleep(interval)
            live.update(_render(collect_status(config)), refresh=True)


def _render(data: dict[str, Any]) -> Any:
    from rich.console import Group
    from rich.table import Table

    d = data["daemon"]
    sessions = Table(title=(f"dispatchd: running (pid {d['pid']})" if d["running"]
                            else "dispatchd: not running"), title_justify="left")
    for header in ("session", "kind", "state", "task", "model", "for"):
        sessions.add_column(header)
    for s in data["sessions"]:
        sessions.add_row(s["name"], s["kind"], state_label(s["state"], s.get("detail") or ""),
                         for_log(s.get("task") or "-"),
                         s.get("model") or "-", ago(s.get("since")))
    projects = Table()
    projects.add_column("project")
    for state in STATES:
        projects.add_column(state, justify="right")
    for p in data["projects"]:
        projects.add_row(for_log(p["path"]), *[str(p["counts"][s]) for s in STATES])
    waiting = Table(title="next", title_justify="left")
    for header in ("#", "priority", "task", "project"):
        waiting.add_column(header)
    for i, t in enumerate(data["waiting"][:10]):
        waiting.add_row(str(i + 1), t["priority"], for_log(t["name"]), for_log(t["project"]))
    return Group(sessions, projects, waiting)

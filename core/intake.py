"""Intake: from files in inboxes to the ordered queue of waiting tasks (S1, S2, S3).

The periodic full scan is the source of truth; watcher events only make it
faster. Every path costs work proportional to that one file: a file already
read is recognised by its store fingerprint (one ``lstat``) and never re-read.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

from .callbacks import events_dir
from .store import NotSettled
from .task import TaskError
from .text import for_log

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)


class Intake:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.projects: set[Path] = set()
        self.pinned: set[tuple[Path, str]] = set()
        """Inbox names a launch is moving a task back to: events about them wait for it."""
        self.known: dict[Path, dict[str, tuple[int, int]]] = {}
        """project → name → fingerprint of files read. A file being launched stays known,
        so an event that arrives during its claim cannot queue it a second time."""

    def on_fs_event(self, kind: str, path: Path) -> None:
        """A watcher event (see :data:`dispatchd.watcher.Notify`), on the event loop."""
        if kind == "agent-event":
            self.engine.completion.take_agent_events()
        elif kind == "discover":
            self.discover()
            for project in self.projects:
                if path == project or project in path.parents or path in project.parents:
                    self.scan_project(project)
        else:
            located = self.engine.store.locate(path)
            if located is None or located[0] not in self.projects:
                return
            project, name = located
            if kind == "gone":
                self.forget(project, name)
            else:
                self.ingest(project, name, settle=0.0 if kind == "file" else None)

    def discover(self) -> None:
        """Projects (S1): dedicated sessions' projects and every folder under the projects dirs."""
        config, store = self.engine.config, self.engine.store
        found = {d.project.resolve() for d in config.dedicated}
        for root in config.projects_dirs:
            with contextlib.suppress(OSError), os.scandir(root) as it:
                found.update(Path(e.path).resolve() for e in it
                             if not e.name.startswith(".") and e.is_dir(follow_symlinks=True))
        for project in sorted(found - self.projects):
            log.info("watching project %s", project)
        new = found - self.projects
        self.projects = found
        fixed = [*config.projects_dirs, events_dir(config.state_dir)]
        watched = {project: store.watch_folder(project) for project in found}
        self.engine.watcher.sync([*fixed, *watched.values()])
        for _ in range(3):
            # A folder created (say, inbox/ by `mkdir -p`) before the watch on its parent was
            # in place sent no event: look again now that the watches are in place.
            moved = {p for p in found if store.watch_folder(p) != watched[p]}
            if not moved:
                break
            watched.update((p, store.watch_folder(p)) for p in moved)
            self.engine.watcher.sync([*fixed, *watched.values()])
            new |= moved
        for project in new:
            self.scan_project(project)

    def full_scan(self) -> None:
        """The safety net (S2): every project, every inbox."""
        self.engine.watcher.ensure_alive()
        self.discover()
        for project in self.projects:
            self.scan_project(project)

    def scan_project(self, project: Path) -> None:
        names = set(self.engine.store.waiting_names(project))
        for gone in set(self.known.get(project, ())) - names:
            self.forget(project, gone)
        for name in names:
            self.ingest(project, name, settle=None)

    def ingest(self, project: Path, name: str, settle: float | None) -> None:
        """Read one waiting file into the queue; no file, however broken, stops the daemon.

        ``settle=None`` means "found by a scan or a bare create": the file counts only once
        it has not changed for ``settle_time`` (it may still be being written).
        """
        try:
            self._ingest(project, name, settle)
        except Exception:
            log.exception("could not read task %s in %s; it is retried at the next scan",
                          for_log(name), project)

    def _ingest(self, project: Path, name: str, settle: float | None) -> None:
        engine = self.engine
        if (project, name) in self.pinned:
            return
        fingerprint = engine.store.fingerprint(project, name)
        if fingerprint is None:
            self.forget(project, name)
            return
        if self.known.get(project, {}).get(name) == fingerprint:
            return
        try:
            task = engine.store.load(project, name, engine.config.settle_time
                                     if settle is None else settle)
        except NotSettled as wait:
            engine.call_later(wait.delay + 0.01, self.ingest, project, name, None)
            return
        except TaskError as exc:
            self.reject(project, name, str(exc))
            return
        if task is None:
            return
        if task.session is not None and task.session not in engine.pool.sessions:
            self.reject(project, name, f"invalid field session: {task.session!r} is not a "
                        "configured session")
            return
        try:
            key = engine.hook.task_sort_key(task=task)
        except Exception:
            log.exception("task_sort_key failed for %s; it is retried at the next scan",
                          for_log(name))
            return
        for warning in task.warnings:
            log.warning("task %s: %s", for_log(name), warning)
        self.known.setdefault(project, {})[name] = fingerprint
        engine.queue.add(task, key)
        engine.wake()

    def requeue(self, project: Path, names: tuple[str, ...]) -> None:
        """Read a task a launch has just moved back into the inbox (and unpin its names)."""
        for name in names:
            self.pinned.discard((project, name))
            self.forget(project, name)
        for name in names:
            self.ingest(project, name, settle=0.0)

    def forget(self, project: Path, name: str) -> None:
        self.known.get(project, {}).pop(name, None)
        self.engine.queue.discard_file(project, name)

    def reject(self, project: Path, name: str, reason: str) -> None:
        """Set a file that can never be dispatched aside, with its reason (never deleted)."""
        if self.engine.dry_run:
            log.warning("DRY-RUN task %s would be set aside: %s", for_log(name), for_log(reason))
            return
        rejected = self.engine.store.reject(project, name, reason)
        self.forget(project, name)
        if rejected is not None:
            self.engine.notify("on_task_finished", task=rejected, session=None,
                               outcome="failed", reason=reason)

"""Intake: from files in inboxes to the ordered queue of waiting tasks.

The periodic full scan is the source of truth; watcher events only make it
faster, and when the kernel drops events (its queue overflowed) every inbox is
scanned at once. Every path costs work proportional to that one file: a file
already read is recognised by its store fingerprint (one ``lstat``) and never
re-read.

A file with other hard links may be a second name of a file that lives
elsewhere: it is not read while it has them. A producer that publishes with
``link`` then ``unlink`` (as ``dispatchd resolve --retry`` does) drops the extra
link within moments; a file that still has one after :data:`HARD_LINK_GRACE` is
set aside in ``failed/``.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .callbacks import events_dir
from .store import NotSettled, inbox_of, notice_time, unsafe_inbox
from .task import TaskError
from .text import for_log

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

HARD_LINK_GRACE = 60.0
"""Seconds a waiting file may keep other hard links (counted from when this daemon first saw
them) before it is set aside; until then it is not read. Looked up at each check."""

MAX_QUEUED_EVENTS = Path("/proc/sys/fs/inotify/max_queued_events")


class Intake:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.projects: set[Path] = set()
        self.pinned: set[tuple[Path, str]] = set()
        """Inbox names a launch is moving a task back to: events about them wait for it."""
        self.known: dict[Path, dict[str, tuple[int, int]]] = {}
        """project → name → fingerprint of files read. A file being launched stays known,
        so an event that arrives during its claim cannot queue it a second time."""
        self.linked: dict[tuple[Path, str], tuple[int, float]] = {}
        """Waiting files with other hard links → (inode, monotonic time first seen so)."""
        self.link_checks: set[tuple[Path, str]] = set()
        """Files of :attr:`linked` whose next look is already scheduled."""
        self.overflow_scan = False
        self.warned: set[str] = set()
        """Ids of tasks whose file's warnings were logged (said once per task)."""
        """A full scan after an event-queue overflow is scheduled."""
        self.dry_rejected: set[tuple[Path, str]] = set()
        """With ``--dry-run``: files already reported as to be set aside."""
        self.noticed: dict[tuple[Path, str], int] = {}
        """Waiting names not yet read → when first noticed (ns): the order of a burst."""
        self.settling: dict[tuple[Path, str], tuple[float, tuple[int, int], float]] = {}
        """Files still being written (or just arrived) → (arrival, order, monotonic time
        first seen settling): no later task is handed out meanwhile, for one settle_time."""

    def on_fs_event(self, kind: str, path: Path) -> None:
        """A watcher event (see :data:`dispatchd.watcher.Notify`), on the event loop."""
        if kind == "agent-event":
            self.engine.completion.take_agent_events()
        elif kind == "overflow":
            self.overflowed()
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

    def overflowed(self) -> None:
        """The kernel dropped file-system events: scan everything now (once per burst)."""
        if self.overflow_scan:
            return
        self.overflow_scan = True
        try:
            limit = f" (now {MAX_QUEUED_EVENTS.read_text().strip()})"
        except OSError:
            limit = ""
        log.warning("the file-system event queue overflowed: events were lost; scanning every "
                    "inbox now (if this recurs, raise the sysctl fs.inotify.max_queued_events%s)",
                    limit)
        self.engine.call_later(0.0, self._scan_after_overflow)

    def _scan_after_overflow(self) -> None:
        self.overflow_scan = False
        try:
            self.engine.full_scan()
        except Exception:
            log.exception("error in the scan after an event-queue overflow; the periodic scan "
                          "retries")

    def discover(self) -> None:
        """Projects: dedicated sessions' projects and every folder under the projects dirs."""
        config, store = self.engine.config, self.engine.store
        found = {d.project.resolve() for d in config.dedicated}
        found |= store.projects(config.projects_dirs)
        for project in sorted(found - self.projects):
            log.info("watching project %s", project)
        new = found - self.projects
        self.projects = found
        fixed = [*config.projects_dirs, events_dir(config.state_dir)]
        watched = {project: store.watch_folder(project) for project in found}
        self.engine.watcher.sync(self._with_parents(fixed, watched))
        for _ in range(3):
            # A folder created (say, inbox/ by `mkdir -p`) before the watch on its parent was
            # in place sent no event: look again now that the watches are in place.
            moved = {p for p in found if store.watch_folder(p) != watched[p]}
            if not moved:
                break
            watched.update((p, store.watch_folder(p)) for p in moved)
            self.engine.watcher.sync(self._with_parents(fixed, watched))
            new |= moved
        for project in new:
            self.scan_project(project)

    @staticmethod
    def _with_parents(fixed: list[Path], watched: dict[Path, Path]) -> list[Path]:
        """Each project's watched folder and, below the project, its parent: the parent's
        events tell when the inbox (or ``.agent-queue``) is renamed away or made anew,
        which its own watch, following the moved folder, never would."""
        folders = list(fixed)
        for project, folder in watched.items():
            folders.append(folder)
            if folder != project:
                folders.append(folder.parent)
        return folders

    def full_scan(self) -> None:
        """The safety net: every project, every inbox."""
        self.engine.watcher.ensure_alive()
        self.discover()
        for project in self.projects:
            self.scan_project(project)

    def scan_project(self, project: Path) -> None:
        names = set(self.engine.store.waiting_names(project))
        for gone in set(self.known.get(project, ())) - names:
            self.forget(project, gone)
        for name in sorted(names):  # files of one burst found together: noticed in name order
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
        if self._held_for_links(project, name):
            return
        noticed = self.noticed.setdefault((project, name), notice_time())
        try:
            task = engine.store.load(project, name, engine.config.settle_time
                                     if settle is None else settle, noticed)
        except NotSettled as wait:
            self._settling(project, name, fingerprint, noticed)
            engine.call_later(wait.delay + 0.01, self.ingest, project, name, None)
            return
        except TaskError as exc:
            self.reject(project, name, str(exc))
            return
        self._settled(project, name)
        if task is None:
            return
        if task.session is not None and task.session not in engine.pool.sessions:
            self.reject(project, name, f"invalid field session: {task.session!r} is not a "
                        "configured session")
            return
        if task.agent is not None and task.agent not in engine.agents:
            self.reject(project, name, f"invalid field agent: {engine.agents.unknown(task.agent)}")
            return
        try:
            key = engine.hook.task_sort_key(task=task)
        except Exception:
            log.exception("task_sort_key failed for %s; it is retried at the next scan",
                          for_log(name))
            return
        if task.warnings and task.id not in self.warned:  # once, not at every return to the inbox
            self.warned.add(task.id)
            for warning in task.warnings:
                log.warning("task %s: %s", for_log(name), warning)
        self.known.setdefault(project, {})[name] = fingerprint
        engine.queue.add(task, key)
        engine.wake()

    def _settling(self, project: Path, name: str, fingerprint: tuple[int, int],
                  noticed: int) -> None:
        """Remember a file that is not read yet because it may still be being written."""
        key = (project, name)
        if key not in self.settling:
            try:
                ctime = os.lstat(inbox_of(project) / name).st_ctime_ns
            except OSError:
                return
            arrival = min(time.time(), fingerprint[1] / 1e9)
            self.settling[key] = (arrival, (ctime, noticed), time.monotonic())
            # the hold on later tasks ends after one settle_time even if the file never does
            self.engine.call_later(self.engine.config.settle_time + 0.01, self.engine.wake)

    def _settled(self, project: Path, name: str) -> None:
        """The file was read (or is gone): it no longer holds later tasks back."""
        self.noticed.pop((project, name), None)
        if self.settling.pop((project, name), None) is not None:
            self.engine.wake()

    def earliest_settling(self) -> tuple[float, tuple[int, int]] | None:
        """(arrival, order) of the earliest file still settling (for at most one
        ``settle_time``): a task that arrived after it waits, since that file may come first.
        Asked once per dispatch round."""
        if not self.settling:
            return None
        limit = time.monotonic() - self.engine.config.settle_time
        active = [(arrival, order) for arrival, order, since in self.settling.values()
                  if since > limit]
        return min(active) if active else None

    def _held_for_links(self, project: Path, name: str) -> bool:
        """True while a waiting file has other hard links: it is not read, and is looked at
        again soon. After :data:`HARD_LINK_GRACE` with them it is set aside (also True)."""
        key = (project, name)
        try:
            st = os.lstat(inbox_of(project) / name)
        except OSError:
            st = None
        if (st is None or st.st_nlink < 2 or not stat.S_ISREG(st.st_mode)
                or unsafe_inbox(project)):  # gone, or for the store to refuse or read
            self.linked.pop(key, None)
            return False
        now, others = time.monotonic(), st.st_nlink - 1
        inode, since = self.linked.get(key, (None, now))
        if inode != st.st_ino:  # first seen so (or another file under the same name)
            since = now
            log.info("task %s has %d other hard link(s): not read while it has them, set aside "
                     "if they stay %gs", for_log(name), others, HARD_LINK_GRACE)
        waited = now - since
        if waited >= HARD_LINK_GRACE:
            self.linked.pop(key, None)
            self.reject(project, name, f"hard link: {name} still has {others} other link(s) to "
                        f"the same file after {HARD_LINK_GRACE:g}s; dispatchd refuses files "
                        "that also live elsewhere (copy or move the file into the inbox instead)")
            return True
        self.linked[key] = (st.st_ino, since)
        if key not in self.link_checks:  # looked at quickly, then less and less often
            self.link_checks.add(key)
            delay = min(HARD_LINK_GRACE - waited, max(0.05, waited))
            self.engine.call_later(delay + 0.001, self._check_links_again, project, name)
        return True

    def _check_links_again(self, project: Path, name: str) -> None:
        self.link_checks.discard((project, name))
        if (project, name) in self.linked:
            self.ingest(project, name, settle=None)

    def requeue(self, project: Path, names: tuple[str, ...]) -> None:
        """Read a task a launch has just moved back into the inbox (and unpin its names)."""
        for name in names:
            self.pinned.discard((project, name))
            self.forget(project, name)
        for name in names:
            self.ingest(project, name, settle=0.0)

    def forget(self, project: Path, name: str) -> None:
        self._settled(project, name)
        self.known.get(project, {}).pop(name, None)
        self.linked.pop((project, name), None)
        self.engine.queue.discard_file(project, name)

    def reject(self, project: Path, name: str, reason: str) -> None:
        """Set a file that can never be dispatched aside, with its reason (never deleted)."""
        if self.engine.dry_run:
            if (project, name) not in self.dry_rejected:  # said once, however often it is read
                self.dry_rejected.add((project, name))
                log.warning("DRY-RUN task %s would be set aside: %s", for_log(name),
                            for_log(reason))
            return
        rejected = self.engine.store.reject(project, name, reason)
        self.forget(project, name)
        if rejected is not None:
            self.engine.notify("on_task_finished", task=rejected, session=None,
                               outcome="failed", reason=reason)

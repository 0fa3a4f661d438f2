"""The event loop: intake of task files, ordering, dispatch rounds, launches and completions.

Everything policy-shaped is a hook call; everything on disk goes through the
task store; everything in a terminal goes through the session transport. The
loop itself never waits on I/O: launches and screen checks are separate asyncio
tasks, and file-system events arrive from the watcher thread as messages.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from pathlib import Path
from typing import Any

import pluggy

from .callbacks import events_dir
from .completion import CompletionWatch
from .config import Config
from .launcher import Launcher, LaunchError
from .pool import IDLE, LAUNCHING, WORKING, Pool, Session
from .queue import TaskQueue
from .statefile import StateDir
from .store import ClaimedInvalid, NotSettled, TaskStore
from .task import Task, TaskError
from .text import for_log
from .transport import PaneRef, SessionTransport, TransportError
from .watcher import Watcher

log = logging.getLogger(__name__)

SUBMIT_GRACE = 10.0
"""At shutdown, how long a launch that already pasted may take to press Enter."""


class Engine:
    """One daemon: ``await Engine(config, pm).run()`` until :meth:`stop`."""

    def __init__(self, config: Config, pm: pluggy.PluginManager, *,
                 store: TaskStore | None = None, transport: SessionTransport | None = None,
                 dry_run: bool = False) -> None:
        self.config, self.pm, self.hook = config, pm, pm.hook
        self.store: TaskStore = store or self.hook.task_store(config=config)
        self.transport: SessionTransport = transport or self.hook.session_transport(config=config)
        self.state = StateDir(config.state_dir)
        self.launcher = Launcher(config, self.hook, self.transport)
        self.pool = Pool(config)
        self.queue = TaskQueue()
        self.dry_run = dry_run
        self.projects: set[Path] = set()
        self.known: dict[tuple[Path, str], tuple[int, int]] = {}
        """(project, name) → store fingerprint of files already read: a scan re-reads nothing."""
        self.launches: dict[str, asyncio.Task[None]] = {}
        self.sending: set[str] = set()
        """Sessions whose launch is past the point of no return (task in ``sent/``)."""
        self.watcher = Watcher(self._notify_threadsafe, events_dir(config.state_dir))
        self.completion = CompletionWatch(self)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status_pending = False

    # -- lifecycle -------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.dry_run:  # one decision pass over everything waiting; nothing moves or is typed
            self._discover()
            for project in self.projects:
                for name in self.store.waiting_names(project):
                    self.ingest(project, name, settle=0.0)
            await self.dispatch_round()
            return
        self.state.lock()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self.stop)
        try:
            self._recover()
            if self.config.source == "<defaults>":
                log.info("no config file: running on the built-in defaults")
            events = self.config.watch_events and self.watcher.start()
            log.info("dispatchd %s started: %d session(s) configured, %s", os.getpid(),
                     len(self.pool.sessions), "watching events" if events else "polling only")
            self.full_scan()
            await self._report_pool()
            workers = [asyncio.create_task(self._dispatcher(), name="dispatcher"),
                       asyncio.create_task(self._poller(), name="poller"),
                       asyncio.create_task(self.completion.run(), name="completion")]
            await self._stopping.wait()
            for w in workers:
                w.cancel()
            await self._shutdown()
        finally:
            self.watcher.stop()
            self.state.unlock()

    async def _report_pool(self) -> None:
        """Say at start what is missing, so a quiet daemon is never a mystery."""
        for root in self.config.projects_dirs:
            if not root.is_dir():
                log.warning("projects dir %s does not exist (yet); it is checked every scan", root)
        try:
            present = await self.transport.panes()
        except TransportError as exc:
            log.warning("cannot reach tmux: %s; tasks wait until it is back", exc)
            return
        missing = [name for name in self.pool.sessions if name not in present]
        if missing:
            log.warning("%d of %d configured session(s) do not exist: %s; tasks wait for them "
                        "(create one with: tmux new-session -d -s %s)", len(missing),
                        len(self.pool.sessions), ", ".join(missing[:8])
                        + (" …" if len(missing) > 8 else ""), missing[0])

    def stop(self) -> None:
        log.info("stopping: no new claims; launches that typed nothing are undone")
        self._stopping.set()

    async def _shutdown(self) -> None:
        """Launches that typed nothing are undone; those already sending finish their submit."""
        finishing = [t for name, t in self.launches.items() if name in self.sending]
        for name, launch in list(self.launches.items()):
            if name not in self.sending:
                launch.cancel()
        if finishing:
            await asyncio.wait(finishing, timeout=SUBMIT_GRACE)
        if self.launches:
            for launch in self.launches.values():
                launch.cancel()
            await asyncio.gather(*self.launches.values(), return_exceptions=True)
        self._save_inflight()
        self._write_status()
        log.info("stopped: %d task(s) in flight recorded", len(self.pool.working()))

    def wake(self) -> None:
        """Ask for a dispatch round soon (cheap; many calls make one round)."""
        self._wake.set()
        self._status_soon()

    # -- intake -----------------------------------------------------------
    def _notify_threadsafe(self, kind: str, path: Path) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._on_fs_event, kind, path)

    def _on_fs_event(self, kind: str, path: Path) -> None:
        if kind == "agent-event":
            self.completion.take_agent_events()
        elif kind == "discover":
            self._discover()
            for project in self.projects:
                if path == project or project in path.parents or path in project.parents:
                    self.scan_project(project)
        else:
            located = self.store.locate(path)
            if located is None or located[0] not in self.projects:
                return
            project = located[0]
            if kind == "gone":
                self._forget(project, path.name)
            else:
                self.ingest(project, path.name, settle=0.0 if kind == "file" else None)

    def _discover(self) -> None:
        """Projects (S1): dedicated sessions' projects and every folder under the projects dirs."""
        found = {d.project for d in self.config.dedicated}
        for root in self.config.projects_dirs:
            with contextlib.suppress(OSError), os.scandir(root) as it:
                found.update(Path(e.path) for e in it
                             if not e.name.startswith(".") and e.is_dir(follow_symlinks=True))
        for project in sorted(found - self.projects):
            log.info("watching project %s", project)
        self.projects = found
        folders: list[Path] = [*self.config.projects_dirs, events_dir(self.config.state_dir)]
        folders += [self.store.watch_folder(project) for project in found]
        self.watcher.sync(folders)

    def full_scan(self) -> None:
        """The safety net (S2): every project, every inbox; known files cost one ``lstat``."""
        self._discover()
        for project in self.projects:
            self.scan_project(project)
        self.completion.take_agent_events()
        self.wake()

    def scan_project(self, project: Path) -> None:
        names = set(self.store.waiting_names(project))
        for gone in [n for (p, n) in self.known if p == project and n not in names]:
            self._forget(project, gone)
        for name in names:
            self.ingest(project, name, settle=None)

    def ingest(self, project: Path, name: str, settle: float | None) -> None:
        """Read one waiting file into the queue (work proportional to that file only).

        ``settle=None`` means "found by a scan or a bare create": the file counts only once
        it has not changed for ``settle_time`` (it may still be being written).
        """
        fingerprint = self.store.fingerprint(project, name)
        if fingerprint is None:
            self._forget(project, name)
            return
        if self.known.get((project, name)) == fingerprint:
            return
        try:
            task = self.store.load(project, name, self.config.settle_time
                                   if settle is None else settle)
        except NotSettled as wait:
            assert self._loop is not None
            self._loop.call_later(wait.delay + 0.01, self.ingest, project, name, None)
            return
        except TaskError as exc:
            self._reject(project, name, str(exc))
            return
        if task is None:
            return
        if task.session is not None and task.session not in self.pool.sessions:
            self._reject(project, name, f"invalid field session: {task.session!r} is not a "
                         "configured session")
            return
        for warning in task.warnings:
            log.warning("task %s: %s", for_log(name), warning)
        self.known[(project, name)] = fingerprint
        self.queue.add(task, self.hook.task_sort_key(task=task))
        self.wake()

    def _forget(self, project: Path, name: str) -> None:
        self.known.pop((project, name), None)
        self.queue.discard_file(project, name)

    def _reject(self, project: Path, name: str, reason: str) -> None:
        if self.dry_run:
            log.warning("DRY-RUN task %s would be set aside: %s", for_log(name), for_log(reason))
            return
        rejected = self.store.reject(project, name, reason)
        self._forget(project, name)
        if rejected is not None:
            self.hook.on_task_finished(task=rejected, session=None, outcome="failed",
                                       reason=reason)

    # -- dispatch ---------------------------------------------------------
    async def _dispatcher(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self.dispatch_round()
            except TransportError as exc:
                log.warning("tmux unavailable, tasks stay queued: %s", exc)
            except Exception:  # a plugin error must not stop dispatching for good
                log.exception("error in a dispatch round; the next event or scan retries")

    async def _poller(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval)
            try:
                self.full_scan()
            except Exception:
                log.exception("error in the periodic scan; retried at the next one")

    async def dispatch_round(self) -> None:
        """Give waiting tasks, in order, to free sessions chosen by ``select_session``."""
        if not len(self.queue) or self._stopping.is_set():
            return
        present = await self.transport.panes()
        free = self.pool.free(present)
        candidates = [s.info() for s in free]
        for task in self.queue:
            if not candidates:
                break
            name = self.hook.select_session(task=task, candidates=candidates, config=self.config)
            if not name:
                continue
            chosen = next((c for c in candidates if c.name == name), None)
            if chosen is None:
                if name not in self.pool.sessions:
                    log.error("select_session chose %r, which is not a configured session",
                              for_log(name))
                continue  # a configured session that is busy: the task waits for it
            candidates.remove(chosen)
            session = self.pool.sessions[name]
            if self.dry_run:
                model = self.hook.choose_model(task=task, session=chosen, config=self.config)
                log.info("DRY-RUN would dispatch session=%s task=%s model=%s", name,
                         for_log(task.name), model)
                continue
            self.queue.remove(task)  # still "known": an event during the claim must not re-add it
            session.assign(task, LAUNCHING)
            self.launches[name] = asyncio.create_task(self._launch(session, task, present[name]),
                                                      name=f"launch:{name}")

    async def _launch(self, session: Session, task: Task, pane: PaneRef) -> None:
        """Claim, start the agent, mark sent, paste and submit; one per session, concurrently.

        Until the task is in ``sent/`` any failure (a plugin error included) returns it
        to the queue; from then on its text is never typed again.
        """
        sent = False
        try:
            claimed = await asyncio.to_thread(self.store.claim, task)
            if claimed is None:
                log.info("task %s was taken elsewhere before its claim", for_log(task.name))
                session.free_up()
                return
            task = claimed
            session.task, session.pane = task, pane
            self._save_inflight()
            info = session.info()
            model, launch = self.launcher.plan(task, info)
            session.model = model
            await self.launcher.start(pane, task, launch)
            message = self.launcher.message(task, info, model)
            task = await asyncio.to_thread(self.store.mark_sent, task, session.name)
            sent, session.task = True, task
            self.sending.add(session.name)
            self._save_inflight()
            await self.launcher.submit(pane, message)
            session.state = WORKING
            self._save_inflight()
            self.hook.on_dispatched(task=task, session=session.info(), model=model)
            self.completion.started(session)
        except asyncio.CancelledError:
            if not sent:
                await self._abandon(session, task)
            else:
                session.state = WORKING
            raise
        except ClaimedInvalid as exc:
            session.free_up()
            self.hook.on_task_finished(task=exc.task, session=None, outcome="failed",
                                       reason=str(exc))
        except Exception as exc:
            if not isinstance(exc, LaunchError | TransportError | OSError):
                log.exception("error while launching %s on %s", for_log(task.name), session.name)
            reason = str(exc) or type(exc).__name__
            if sent:
                await self.finish(session, "failed", "delivery broke off after the text may "
                                  f"have reached the agent: {reason}")
            else:
                await self._launch_failed(session, task, reason)
        finally:
            self.sending.discard(session.name)
            self.launches.pop(session.name, None)
            self.wake()

    async def _abandon(self, session: Session, task: Task) -> None:
        """A launch stopped by shutdown before any text was sent: undo it completely."""
        pane = session.pane
        if task.path.parent.name == "claimed":
            self.store.release(task)
            self._forget(task.project, task.name)
        session.free_up()
        if pane is not None:
            with contextlib.suppress(TransportError):
                await self.transport.reset(pane)

    async def _launch_failed(self, session: Session, task: Task, reason: str) -> None:
        """Nothing was sent: cool the session down, stop what was started, requeue or give up."""
        session.cooldown_until = time.time() + self.config.cooldown
        session.last_failure = reason
        pane = session.pane
        session.free_up()
        if pane is not None:
            with contextlib.suppress(TransportError):
                await self.transport.reset(pane)  # never leave a half-started agent behind
        task = task.moved(task.path, attempts=task.attempts + 1)
        if task.path.parent.name != "claimed":  # the claim itself failed: the file is waiting
            self.hook.on_launch_failed(task=task, session=session.info(), reason=reason)
            self._forget(task.project, task.path.name)
            self.ingest(task.project, task.path.name, settle=0.0)
            return
        if task.attempts >= self.config.max_attempts:
            why = f"launch failed {task.attempts} times; last: {reason}"
            task = await asyncio.to_thread(self.store.finish, task, "failed", why)
            self.hook.on_launch_failed(task=task, session=session.info(), reason=reason)
            self.hook.on_task_finished(task=task, session=None, outcome="failed", reason=why)
        else:
            task = await asyncio.to_thread(self.store.release, task)
            self.hook.on_launch_failed(task=task, session=session.info(), reason=reason)
            self._forget(task.project, task.path.name)
            self.ingest(task.project, task.path.name, settle=0.0)
        self._save_inflight()

    async def finish(self, session: Session, outcome: str, reason: str | None = None,
                     task_id: str | None = None) -> None:
        """The session's task ended: move it to done/ or failed/ and free the session.

        With ``task_id``, only if the session still holds that task (a late report
        about an earlier task never ends a newer one).
        """
        task = session.task
        if task is None or (task_id is not None and task.id != task_id):
            return
        info = session.info()
        session.free_up()
        self._save_inflight()
        try:
            final = await asyncio.to_thread(self.store.finish, task, outcome, reason)
        except FileNotFoundError:
            log.warning("task file %s vanished from sent/", for_log(task.path))
            final = task
        self.hook.on_task_finished(task=final, session=info, outcome=outcome, reason=reason)
        self.wake()

    # -- persistence ------------------------------------------------------
    def _recover(self) -> None:
        """After a restart: claimed tasks go back to the inbox; sent ones stay with their session."""
        self._discover()
        inflight = self.state.read_inflight()
        by_task = {rec.get("task"): (name, rec) for name, rec in inflight.items()}
        for project in self.projects:
            for task in self.store.recover(project):
                name, rec = by_task.get(task.id, (None, {}))
                session = self.pool.get(name) if name else None
                if session is None or rec.get("pane_id") is None:
                    log.warning("task %s is in sent/ with no session on record; left there",
                                for_log(task.path))
                    continue
                session.assign(task, WORKING)
                session.since = float(rec.get("since") or session.since)
                session.model = rec.get("model")
                session.pane = PaneRef(name or "", rec.get("session_id", ""), rec["pane_id"])
                self.completion.started(session)
                log.info("session %s is still working on %s", name, for_log(task.name))
        self._save_inflight()

    def _save_inflight(self) -> None:
        data: dict[str, dict[str, Any]] = {}
        for s in self.pool:
            if s.task is not None and s.state in (LAUNCHING, WORKING):
                data[s.name] = {"task": s.task.id, "name": s.task.name, "path": str(s.task.path),
                                "model": s.model, "since": s.since,
                                "pane_id": s.pane.pane_id if s.pane else None,
                                "session_id": s.pane.session_id if s.pane else None}
        self.state.write_inflight(data)
        self._status_soon()

    def _status_soon(self) -> None:
        if self._status_pending or self._loop is None or self.dry_run:
            return
        self._status_pending = True
        self._loop.call_later(0.2, self._write_status)

    def _write_status(self) -> None:
        self._status_pending = False
        sessions = [{"name": s.name, "kind": s.kind, "state": s.info().state,
                     "project": str(s.project) if s.project else None,
                     "task": s.task.name if s.task else None,
                     "task_id": s.task.id if s.task else None, "model": s.model,
                     "since": s.since if s.state != IDLE else None,
                     "cooldown_until": s.cooldown_until if s.in_cooldown() else None,
                     "last_failure": s.last_failure} for s in self.pool]
        waiting = [{"id": t.id, "name": t.name, "project": str(t.project),
                    "priority": t.priority, "arrival": t.arrival} for t in self.queue]
        with contextlib.suppress(OSError):
            self.state.write_status({"pid": os.getpid(), "sessions": sessions,
                                     "waiting": waiting[:1000], "waiting_total": len(waiting),
                                     "projects": sorted(str(p) for p in self.projects)})

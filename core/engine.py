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
import shlex
import signal
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pluggy

from .accounts import AccountGuard
from .agents import AgentProfile, AgentRegistry, UnknownAgent, installed_agents
from .callbacks import events_dir, peek_events
from .completion import CompletionWatch
from .config import Config
from .dryrun import dry_run_pass
from .faults import fault_point
from .hooktypes import SessionInfo
from .intake import Intake
from .launcher import Launcher, LaunchError
from .launches import Launches
from .pool import FINISHING, IDLE, LAUNCHING, WORKING, Pool, Session
from .queue import TaskQueue
from .reload import reload_config
from .rounds import RoundPlan
from .settle import settle_cut_submit
from .statefile import StateDir
from .store import TaskStore
from .survey import Survey
from .task import Task
from .text import for_log
from .tmux import tmux_base
from .transport import PaneRef, SessionTransport, TransportError
from .watcher import Watcher

log = logging.getLogger(__name__)

FINISH_RETRY = 5.0
"""Seconds before moving a finished task is tried again after an error (e.g. a full disk)."""


class SetupError(Exception):
    """The daemon cannot be assembled (e.g. no plugin provides a task store)."""


class Engine:
    """One daemon: ``await Engine(config, pm).run()`` until :meth:`stop`."""

    def __init__(self, config: Config, pm: pluggy.PluginManager, *,
                 store: TaskStore | None = None, transport: SessionTransport | None = None,
                 dry_run: bool = False, reload: Callable[[], Config] | None = None) -> None:
        self.config, self.pm, self.hook = config, pm, pm.hook
        self.store: TaskStore = store or self.hook.task_store(config=config)
        self.transport: SessionTransport = transport or self.hook.session_transport(config=config)
        if self.store is None or self.transport is None:
            raise SetupError("no plugin provides a " + ("task store" if self.store is None
                             else "session transport") + " (is the built-in 'local' blocked?)")
        self.agents = self.agents_for(config)
        self.state = StateDir(config.state_dir)
        self.launcher = Launcher(config, self.hook, self.transport, self.agents)
        self.pool = Pool(config)
        self.queue = TaskQueue()
        self.dry_run = dry_run
        self.dry_plans: list[tuple[str, str]] = []
        """With ``dry_run``: (session, task id) of each dispatch it would make."""
        self._reload = reload
        """How SIGHUP reads the config again (None: SIGHUP is ignored)."""
        self.watcher = Watcher(self._notify_threadsafe, events_dir(config.state_dir))
        self.intake = Intake(self)
        self.launches = Launches(self)
        self.completion = CompletionWatch(self)
        self.survey = Survey(self)
        self.accounts = AccountGuard(self)
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self.started = asyncio.Event()
        """Set once recovery and the first scan are done and the workers run."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._status_pending = False
        self._bad_choices: set[tuple[str, str]] = set()
        """(task id, name) of select_session answers naming no configured session, logged."""

    def agents_for(self, config: Config) -> AgentRegistry:
        """The installed agent profiles; every agent ``config`` names must be one of them."""
        try:
            return installed_agents(self.hook, config)
        except UnknownAgent as exc:
            raise SetupError(str(exc)) from None

    def use_config(self, config: Config) -> None:
        """Run on ``config`` from now on (a reload: see :mod:`dispatchd.reload`)."""
        self.config = self.launcher.config = config
        self.agents = self.launcher.agents = self.agents_for(config)
        self.accounts.configure(config)
        try:
            self.intake.discover()
        except Exception:
            log.exception("error looking for projects after a reload; the next scan retries")
        self.wake()

    # -- lifecycle -------------------------------------------------------
    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        if self.dry_run:  # one decision pass over everything waiting; nothing moves or is typed
            await dry_run_pass(self)
            return
        self.state.lock()
        events_dir(self.config.state_dir).mkdir(exist_ok=True)  # watched from the start
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                self._loop.add_signal_handler(sig, self.stop)
        with contextlib.suppress(NotImplementedError, RuntimeError):  # a closed terminal sends it
            self._loop.add_signal_handler(signal.SIGHUP, self._on_hangup)
        try:
            self.accounts.load()
            await self._recover()
            if self.config.source == "<defaults>":
                log.info("no config file: running on the built-in defaults")
            events = self.config.watch_events and self.watcher.start()
            log.info("dispatchd %s started: %d session(s) configured, %s", os.getpid(),
                     len(self.pool.sessions), "watching events" if events else "polling only")
            try:
                self.full_scan()
            except Exception:
                log.exception("error in the first scan; retried at the next one")
            await self._report_pool()
            workers = [asyncio.create_task(self._dispatcher(), name="dispatcher"),
                       asyncio.create_task(self._poller(), name="poller"),
                       asyncio.create_task(self.completion.run(), name="completion")]
            self.started.set()
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
        self.survey.presence(present)
        await self.survey.refresh(force=True)  # says which agent each session's shell lacks
        missing = [name for name in self.pool.sessions if name not in present]
        if missing:
            create = shlex.join([*tmux_base(self.config.tmux), "new-session", "-d", "-s",
                                 missing[0]])
            log.warning("%d of %d configured session(s) do not exist: %s; tasks wait for them "
                        "(create one with: %s)", len(missing), len(self.pool.sessions),
                        ", ".join(missing[:8]) + (" …" if len(missing) > 8 else ""), create)

    def _on_hangup(self) -> None:
        if self._reload is None:
            log.info("SIGHUP: nothing to reload; running on")
            return
        reload_config(self, self._reload)

    def stop(self) -> None:
        log.info("stopping: no new claims; launches that typed nothing are undone")
        self._stopping.set()

    async def _shutdown(self) -> None:
        await self.launches.shutdown()
        self.save_inflight()
        self._write_status()
        log.info("stopped: %d task(s) in flight recorded", len(self.pool.working()))

    def wake(self) -> None:
        """Ask for a dispatch round soon (cheap; many calls make one round)."""
        self._wake.set()
        self.status_soon()

    def notify(self, hook_name: str, **kwargs: object) -> None:
        """Call a notification hook; a plugin that raises is logged, never stops the daemon."""
        try:
            getattr(self.hook, hook_name)(**kwargs)
        except Exception:
            log.exception("a plugin failed in %s", hook_name)

    def call_later(self, delay: float, fn: Callable[..., object], *args: object) -> None:
        assert self._loop is not None
        self._loop.call_later(delay, fn, *args)

    def _notify_threadsafe(self, kind: str, path: Path) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.intake.on_fs_event, kind, path)

    def full_scan(self) -> None:
        self.intake.full_scan()
        self.completion.take_agent_events()
        self.wake()

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
        """Give waiting tasks, in order, to free sessions chosen by ``select_session``.

        A chosen session whose pane a person holds, or whose shell does not find the
        task's agent, drops out of this round's candidates and the task is offered
        to the rest: nothing is claimed for it.
        """
        if not len(self.queue) or self._stopping.is_set():
            return
        present = await self.transport.panes()
        for session in self.survey.presence(present):
            log.info("session %s appeared in tmux", session.name)
        free = self.pool.free(present)
        # offered as idle: what held a pane at the last look is looked at again below
        candidates = [replace(s.info(), state=IDLE, detail="") for s in free]
        settling = self.intake.earliest_settling()
        plan = RoundPlan(candidates, self._select,
                         admits=lambda t, c: self.accounts.admits(self._agent(t, c)))
        for task in self.queue:
            if settling is not None and settling < (task.arrival, task.order):
                continue  # a file that arrived before it is still settling: it may come first
            while (chosen := plan.choose(task)) is not None:
                session = self.pool.sessions[chosen.name]
                pane = present[chosen.name].pick(session.home_pane)
                agent = self._agent(task, chosen)  # None: the launch fails and says why
                plan.take(chosen)
                try:
                    blocked = await self.survey.blocker(session, pane, agent)
                except TransportError as exc:
                    log.warning("cannot look at session %s: %s", session.name, exc)
                    continue
                if blocked:
                    log.debug("session %s takes no task now: %s", session.name, blocked)
                    continue
                if self._stopping.is_set() or session.state != IDLE or \
                        self.queue.get_file(task.project, task.path.name) is not task or \
                        not self.accounts.admits(agent):
                    return  # it changed while we looked: the next round decides afresh
                if self.dry_run:
                    model = agent and self.hook.choose_model(
                        task=task, session=chosen, config=self.config, agent=agent)
                    log.info("DRY-RUN would dispatch session=%s task=%s model=%s", chosen.name,
                             for_log(task.name), model)
                    self.dry_plans.append((chosen.name, task.id))
                    break
                self.queue.remove(task)  # still "known": an event during the claim must not re-add it
                session.assign(task, LAUNCHING)
                self.accounts.claimed(agent, task)
                self.launches.start(session, task, pane)
                break
            if not plan.free:
                break

    def _agent(self, task: Task, session: SessionInfo) -> AgentProfile | None:
        """The agent ``task`` would run in ``session`` (None: not installed; its launch says so)."""
        try:
            return self.launcher.agent_for(task, session)
        except LaunchError:
            return None

    def _select(self, task: Task, candidates: list[SessionInfo]) -> SessionInfo | None:
        """The candidate ``select_session`` picks for ``task``, or None (the task waits)."""
        try:
            name = self.hook.select_session(task=task, candidates=candidates, config=self.config)
        except Exception:
            log.exception("select_session failed for %s; it waits", for_log(task.name))
            return None
        if not name:
            return None
        chosen = next((c for c in candidates if c.name == name), None)
        if chosen is None and name not in self.pool.sessions and \
                (task.id, name) not in self._bad_choices:  # said once per task and name
            self._bad_choices.add((task.id, name))
            plugins = [impl.plugin_name for impl in self.hook.select_session.get_hookimpls()]
            log.error("select_session chose %r for %s, which is not a configured session; the "
                      "task waits (plugins implementing select_session: %s)", for_log(name),
                      for_log(task.name), ", ".join(plugins))
        return chosen  # None for a configured session that is busy: the task waits for it

    async def finish(self, session: Session, outcome: str, reason: str | None = None,
                     task_id: str | None = None) -> None:
        """The session's task ended: move it to done/ or failed/ and free the session.

        With ``task_id``, only if the session still holds that task (a late report
        about an earlier task never ends a newer one).
        """
        task = session.task
        if task is None or session.state == FINISHING or (task_id is not None
                                                           and task.id != task_id):
            return
        info = session.info()
        before = session.state
        session.phase = self.phase_of(session)  # what a restart must assume until the move is done
        session.state = FINISHING  # neither free nor checked, and still on record until moved
        fault_point("before_archive")
        try:
            final = await asyncio.to_thread(self.store.finish, task, outcome, reason)
        except FileNotFoundError:
            log.warning("task file %s vanished from sent/", for_log(task.path))
            final = task
        except Exception:
            log.exception("could not move %s to %s/; retrying in %gs", for_log(task.name),
                          outcome, FINISH_RETRY)
            session.state = before
            self.call_later(FINISH_RETRY, lambda: asyncio.ensure_future(
                self.finish(session, outcome, reason, task_id=task.id)))
            return
        self.completion.forget(task.id)
        self.accounts.finished(session, task, outcome)
        session.free_up()
        if outcome == "indoubt":  # its text may still sit in the agent's box: say so if cleared
            session.left_text = task.name
        self.save_inflight()
        self.notify("on_task_finished", task=final, session=info, outcome=outcome, reason=reason)
        self.wake()

    # -- persistence ------------------------------------------------------
    async def _recover(self) -> None:
        """After a restart: claimed tasks go back to the inbox; sent ones stay with their session.

        A task whose submit was cut off (phase ``sending``) is never typed again: unless
        its acknowledgement waits in the events folder, its screen decides
        (:mod:`dispatchd.settle`), and only what it cannot tell ends in ``indoubt/``.
        """
        self.intake.discover()
        inflight = self.state.read_inflight()
        pending_acks = {e.task_id for e in peek_events(self.config.state_dir)
                        if e.event == "prompt-submit"}
        cut_off: list[Session] = []
        by_task = {rec.get("task"): (name, rec) for name, rec in inflight.items()}
        for project in self.intake.projects:
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
                session.exit_marker = rec.get("exit_marker") or ""
                session.attempt = rec.get("attempt") or ""
                session.reports = bool(rec.get("reports", self.config.agent_hooks))
                session.clean = bool(rec.get("clean"))
                if rec.get("acked"):
                    self.completion.acked.add(task.id)
                with contextlib.suppress(UnknownAgent):  # uninstalled since: the default reads it
                    session.profile = self.agents.get(rec.get("agent"))
                session.pane = PaneRef(session.name, rec.get("session_id") or "", rec["pane_id"])
                if rec.get("phase") == LAUNCHING:  # moved to sent/, but nothing typed yet
                    self.store.release(task)
                    session.free_up()
                    continue
                if rec.get("phase") == "sending" and task.id not in pending_acks:
                    # still "sending" on record until settled below, whatever happens first
                    session.state = LAUNCHING
                    self.launches.sending.add(session.name)
                    cut_off.append(session)
                    continue
                self.completion.started(session)
                log.info("session %s is still working on %s", name, for_log(task.name))
        self.save_inflight()
        await asyncio.gather(*(settle_cut_submit(self, s) for s in cut_off))

    def phase_of(self, s: Session) -> str:
        """What a restart must assume about the session's task (see :meth:`_recover`)."""
        in_sent = s.task is not None and s.task.path.parent.name == "sent"
        if s.state == LAUNCHING and s.name not in self.launches.sending and not in_sent:
            return LAUNCHING  # nothing typed yet
        if s.state == LAUNCHING and s.task is not None and s.task.id not in self.completion.acked:
            return "sending"  # typed, delivery unknown
        return WORKING

    def save_inflight(self) -> None:
        data: dict[str, dict[str, Any]] = {}
        for s in self.pool:
            if s.task is not None and s.state in (LAUNCHING, WORKING, FINISHING):
                phase = s.phase if s.state == FINISHING else self.phase_of(s)
                data[s.name] = {"task": s.task.id, "name": s.task.name, "path": str(s.task.path),
                                "phase": phase, "exit_marker": s.exit_marker, "reports": s.reports,
                                "attempt": s.attempt, "clean": s.clean,
                                "acked": s.task.id in self.completion.acked,
                                "agent": s.profile.name if s.profile else None,
                                "model": s.model, "since": s.since,
                                "pane_id": s.pane.pane_id if s.pane else None,
                                "session_id": s.pane.session_id if s.pane else None}
        self.state.write_inflight(data)
        self.status_soon()

    def status_soon(self) -> None:
        if self._status_pending or self._loop is None or self.dry_run:
            return
        self._status_pending = True
        self._loop.call_later(0.2, self._write_status)

    def _write_status(self) -> None:
        self._status_pending = False
        sessions = [{"name": s.name, "kind": s.kind, "state": s.info().state,
                     "detail": s.info().detail or None,
                     "project": str(s.project) if s.project else None,
                     "task": s.task.name if s.task else None,
                     "task_id": s.task.id if s.task else None, "model": s.model,
                     "since": s.since if s.state != IDLE else None,
                     "cooldown_until": s.cooldown_until if s.in_cooldown() else None,
                     "last_failure": s.last_failure, "note": s.note or None} for s in self.pool]
        waiting = [{"id": t.id, "name": t.name, "project": str(t.project),
                    "priority": t.priority, "arrival": t.arrival} for t in self.queue.head(1000)]
        with contextlib.suppress(OSError):
            self.state.write_status({"pid": os.getpid(), "sessions": sessions,
                                     "waiting": waiting, "waiting_total": len(self.queue),
                                     "holds": self.accounts.snapshot(),
                                     "projects": sorted(str(p) for p in self.intake.projects)})

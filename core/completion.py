"""Learning that an agent finished: its own hook first, the screen as a fallback.

The agent's ``Stop`` hook runs ``dispatchd hook stop``, which leaves an event
file (:mod:`dispatchd.callbacks`); an event counts only for the task id the
session holds now, so a late or repeated event never frees a session busy with
a newer task. In case no hook ever reports (an agent without hooks, an
interrupted turn), the screen is also checked every
``dispatcher.completion_poll``: the task is done once the agent, seen busy,
is idle again (or has looked idle on three checks in a row; an agent that
reports through hooks, only after ``REPORTED_IDLE_GRACE`` of looking idle
with no ``Stop``, and then as interrupted); a session whose
pane vanished, or whose agent exited, ends its task as failed with the reason.
A turn that failed on the agent's account or the API (a rate or usage limit,
an overload: the ``agent_setback`` hook) holds the account instead of failing
task after task (:mod:`dispatchd.accounts`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .agents import AgentProfile
from .callbacks import AgentEvent, consume, peek_events
from .faults import fault_point
from .launcher import agent_exited, attempt_in
from .pool import LAUNCHING, WORKING, Session
from .setback import LIMIT, Setback
from .task import Task
from .text import for_log
from .transport import SessionPanes, TransportError

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

IDLE_CHECKS = 3
"""Idle looks needed when the busy state was never seen (a turn shorter than one poll)."""
INTERRUPTED = ("interrupted: the agent's screen is idle again but it reported no end of "
               "turn (a user pressed Esc, or its Stop hook did not run)")
"""Why a task of an agent that reports through hooks ended from the screen instead."""
REPORTED_IDLE_GRACE = 5.0
"""Seconds an agent that reports through hooks must look idle before its screen ends the task:
right after Enter, and while its Stop hook runs, it looks idle without being done."""
FAILURE_REDRAW = 0.5
"""After an agent reports a failure, seconds to let it draw why before the screen is read."""


class CompletionWatch:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.early: dict[str, AgentEvent] = {}
        """Events that arrived while their task's launch was still finishing (fast agents)."""
        self.acked: set[str] = set()
        """Task ids whose prompt the agent reported as submitted (``prompt-submit``)."""
        self._ack_waiters: dict[str, asyncio.Event] = {}
        self.reporting: set[str] = set()
        """Sessions whose agent's failure report is being read (see ``FAILURE_REDRAW``)."""
        self.handling: set[Path] = set()
        """Event files being acted on: read again meanwhile, they are skipped; removed after."""

    async def wait_ack(self, task_id: str, timeout: float) -> bool:
        """Wait until the agent acknowledges ``task_id``; False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        waiter = self._ack_waiters.setdefault(task_id, asyncio.Event())
        try:
            while task_id not in self.acked:
                left = deadline - loop.time()
                if left <= 0:
                    return False
                try:  # the event folder is also read here, in case a watcher event is late
                    await asyncio.wait_for(waiter.wait(), timeout=min(0.25, left))
                except TimeoutError:
                    self.take_agent_events()
            return True
        finally:
            self._ack_waiters.pop(task_id, None)

    def agent_of(self, session: Session) -> AgentProfile:
        """The profile of the agent working in ``session`` (the default one if unknown)."""
        return session.profile or self.engine.agents.get(None)

    def forget(self, task_id: str) -> None:
        """The task ended: drop what was kept about it."""
        self.acked.discard(task_id)
        event = self.early.pop(task_id, None)
        if event is not None:
            self._done(event)

    def _done(self, event: AgentEvent) -> None:
        consume(event)
        if event.path is not None:
            self.handling.discard(event.path)

    def started(self, session: Session) -> None:
        """The session's task was submitted: apply an event that came before we were done."""
        if session.task is not None and session.task.id in self.early:
            event = self.early.pop(session.task.id)
            asyncio.get_running_loop().create_task(self._apply(session, event))

    def take_agent_events(self) -> None:
        """Act on the events in the folder; each file goes once what it says is on record."""
        for event in peek_events(self.engine.config.state_dir, skip=self.handling):
            session = self.engine.pool.get(event.session)
            task = session.task if session else None
            if session is None or task is None or task.id != event.task_id:
                log.info("ignoring %s event for task %s: session %s no longer holds it",
                         event.event, event.task_id, event.session)
                consume(event)
                continue
            shown = attempt_in(event.payload.get("prompt"))
            if event.event == "prompt-submit" and shown and shown != session.attempt:
                log.warning("ignoring an acknowledgement for %s: its prompt is attempt %s, not the "
                            "current attempt %s", for_log(task.name), shown, session.attempt)
                consume(event)
                continue
            if event.event == "prompt-submit":
                fault_point("before_ack")
                self.acked.add(task.id)
                self.engine.save_inflight()  # delivered: a restart now keeps it with its session
                consume(event)
                if task.id in self._ack_waiters:
                    self._ack_waiters[task.id].set()
                continue
            if session.state not in (LAUNCHING, WORKING):
                consume(event)  # already finishing: this report changes nothing
                continue
            if event.path is not None:
                self.handling.add(event.path)
            if session.state == LAUNCHING:
                self.early[task.id] = event
            else:
                asyncio.get_running_loop().create_task(self._apply(session, event))

    async def _apply(self, session: Session, event: AgentEvent) -> None:
        try:
            await self._act(session, event)
        finally:
            self._done(event)

    async def _act(self, session: Session, event: AgentEvent) -> None:
        if event.event == "stop":
            await self.engine.finish(session, "done", task_id=event.task_id)
        elif event.event == "stop-failure":
            self.reporting.add(session.name)  # the screen check must not end it meanwhile
            try:
                await asyncio.sleep(FAILURE_REDRAW)
                if session.task is None or session.task.id != event.task_id:
                    return
                if await self._setback(session, session.task, report=event.payload):
                    return
            finally:
                self.reporting.discard(session.name)
            error = event.payload.get("error") or event.payload.get("reason") or "unknown error"
            await self.engine.finish(session, "failed", f"the agent reported a failure: {error}",
                                     task_id=event.task_id)

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.engine.config.completion_poll)
            self.take_agent_events()
            self.engine.accounts.take_resume_request()
            if len(self.engine.queue):
                self.engine.wake()  # a session may have appeared in tmux, or left its cooldown
            await self.engine.survey.refresh()  # what holds the idle ones, for status
            working = self.engine.pool.working()
            if not working:
                continue
            try:
                present = await self.engine.transport.panes()
            except TransportError as exc:
                log.warning("cannot check sessions: %s", exc)
                continue
            results = await asyncio.gather(*(self._check(s, present) for s in working),
                                           return_exceptions=True)
            for session, result in zip(working, results, strict=True):
                if isinstance(result, Exception):
                    log.error("error checking session %s: %r", session.name, result)

    async def _check(self, session: Session, present: dict[str, SessionPanes]) -> None:
        pane, task = session.pane, session.task
        if task is None or session.state != WORKING or session.name in self.reporting:
            return  # it finished, and may already hold a new task, since the list was made
        now = present.get(session.name)
        if pane is None or now is None or not now.holds(pane):
            await self.engine.finish(session, "failed",
                                     "session lost: its tmux pane is gone or was re-created",
                                     task_id=task.id)
            return
        try:
            screen = await self.engine.transport.capture(pane)
        except TransportError:
            return
        if session.state != WORKING or session.task is not task or session.name in self.reporting:
            return  # it changed while we looked
        if agent_exited(screen, session.exit_marker):
            await self.engine.finish(session, "failed",
                                     "the agent exited before reporting completion",
                                     task_id=task.id)
            return
        if await self._setback(session, task, screen):
            return
        idle = self.engine.hook.agent_idle(screen=screen, task=task, session=session.info(),
                                           config=self.engine.config, agent=self.agent_of(session))
        if idle is None:
            return
        if not idle:
            session.busy_seen, session.idle_polls, session.idle_since = True, 0, 0.0
            return
        session.idle_polls += 1
        session.idle_since = session.idle_since or time.monotonic()
        if session.reports and task.id not in self.acked:
            self._hooks_silent(session, task)  # taken, as its screen showed, yet no hook ran
        if session.reports:  # its Stop hook decides; the screen only after a long quiet
            if time.monotonic() - session.idle_since >= REPORTED_IDLE_GRACE:
                await self.engine.finish(session, "done", INTERRUPTED, task_id=task.id)
        elif session.busy_seen or session.idle_polls >= IDLE_CHECKS:
            await self.engine.finish(session, "done", task_id=task.id)

    def _hooks_silent(self, session: Session, task: Task) -> None:
        """The agent took the task without acknowledging it: its hooks do not run. Its
        screen alone tells when it is done (no wait for a ``Stop`` that never comes)."""
        session.reports = False
        self.engine.save_inflight()
        if session.hooks_silent:
            return
        session.hooks_silent = True
        hint = self.agent_of(session).hooks_off_hint
        log.warning("session %s: the agent took %s (its screen showed it) but ran none of "
                    "dispatchd's hooks; its screen alone tells when it is done. Check whether "
                    "%s, and that `sh` can run the hook command", session.name,
                    for_log(task.name), hint or "its settings turn hooks off")

    async def _setback(self, session: Session, task: Task, screen: str | None = None,
                       report: dict[str, Any] | None = None) -> bool:
        """If the turn failed on the agent's account or the API: hold the account, and the
        task goes back to its inbox or fails (see :mod:`dispatchd.accounts`)."""
        e = self.engine
        if screen is None:
            screen = ""
            if session.pane is not None:
                with contextlib.suppress(TransportError):
                    screen = await e.transport.capture(session.pane)
        found = await asyncio.to_thread(self._classify, screen, report, task,
                                        self.agent_of(session))
        if found is None or session.task is not task or session.state != WORKING or \
                (report is None and session.name in self.reporting):
            return False  # it changed meanwhile, or the agent's own report now decides
        await e.accounts.setback(session, task, found)
        return True

    def _classify(self, screen: str, report: dict[str, Any] | None, task: Task,
                  agent: AgentProfile) -> Setback | None:
        """``agent_setback``, else a usage limit on screen (``agent_usage_limit``)."""
        hook, config = self.engine.hook, self.engine.config
        found: Setback | None = hook.agent_setback(screen=screen, report=report, task=task,
                                                   config=config, agent=agent)
        if found is None:
            until = hook.agent_usage_limit(screen=screen, task=task, config=config, agent=agent)
            if until is not None:
                found = Setback(LIMIT, "usage limit", until)
        return found

"""Running launches: claim, start, mark sent, submit; and undoing or ending them.

One asyncio task per session. Until the task is in ``sent/`` any failure (a
plugin error included) returns it to the queue and cools the session down;
from then on its text is never typed again. File moves run in a thread and are
shielded: a shutdown never interrupts one halfway, so the undo always knows
where the task is.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from .agents import AgentProfile
from .faults import fault_point
from .launcher import LaunchError, UsageLimited, exit_marker, new_attempt, taken_on_screen
from .pool import WORKING, Session
from .store import ClaimedInvalid
from .task import Task
from .text import for_log
from .transport import PaneRef, PaneTaken, ProgramNotFound, TransportError

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

T = TypeVar("T")

SCREEN_CONFIRM = 1.5
"""Seconds the screen may take to show that a submit took (agents without acknowledgements)."""
ACK_GRACE = 1.0
"""Seconds after the Enter before the screen alone may confirm a task an acknowledging agent
took (its hook is usually faster; the screen then speaks when the hooks do not run)."""
ACK_POLL = 0.25
SUBMIT_GRACE = 10.0
"""At shutdown, how long a launch that already pasted may take to press Enter."""


class _Stopped(Exception):
    """Shutdown arrived during a file move; ``result`` is where the move left the task."""

    def __init__(self, result: object) -> None:
        self.result = result


class Launches:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.running: dict[str, asyncio.Task[None]] = {}
        self.sending: set[str] = set()
        """Sessions past the point of no return (their task is in ``sent/``)."""

    def start(self, session: Session, task: Task, pane: PaneRef) -> None:
        self.running[session.name] = asyncio.create_task(self._launch(session, task, pane),
                                                         name=f"launch:{session.name}")

    async def _move(self, fn: Callable[..., T], *args: object) -> T:
        fut = asyncio.ensure_future(asyncio.to_thread(fn, *args))
        try:
            return await asyncio.shield(fut)
        except asyncio.CancelledError:
            await asyncio.wait([fut])
            raise _Stopped(None if fut.exception() else fut.result()) from None

    async def _launch(self, session: Session, task: Task, pane: PaneRef) -> None:
        e = self.engine
        sent = submitted = cut_off = False
        try:
            claimed = await self._move(e.store.claim, task)
            if claimed is None:
                log.info("task %s was taken elsewhere before its claim", for_log(task.name))
                e.accounts.returned(task)
                session.free_up()
                return
            task = claimed
            session.task, session.pane = task, pane
            e.save_inflight()
            fault_point("after_claim")
            info = session.info()
            agent = session.profile = e.launcher.agent_for(task, info)
            model, launch = e.launcher.plan(task, info, agent)
            session.model, session.exit_marker = model, exit_marker()
            session.attempt = new_attempt()
            session.reports = launch.acknowledges
            ready = await e.launcher.start(pane, task, launch, session.exit_marker, agent,
                                           on_dialog=lambda d: self._dialog(session, task, agent,
                                                                            d))
            fault_point("after_launch")
            session.clean = agent.message_in_transcript(ready) is False
            session.left_text = ""  # the agent that may have held it is gone
            message = e.launcher.message(task, info, model, session.attempt)
            task = await self._move(e.store.mark_sent, task, session.name)
            fault_point("after_mark_sent")
            sent, session.task = True, task
            self.sending.add(session.name)
            e.save_inflight()
            await e.launcher.submit(pane, message, agent)
            fault_point("after_enter")
            if launch.acknowledges:
                await self.confirm_ack(session, pane, task, agent)
            else:
                await self.confirm_on_screen(pane, task, agent)
            submitted, session.state = True, WORKING
            e.save_inflight()
            e.notify("on_dispatched", task=task, session=session.info(), model=model)
            e.completion.started(session)
        except _Stopped as stop:  # shutdown during a move: nothing was typed yet
            moved = stop.result if isinstance(stop.result, Task) else task
            await self.abandon(session, moved)
            raise asyncio.CancelledError from None
        except asyncio.CancelledError:
            if not sent:
                await self.abandon(session, task)
            elif not submitted:  # recorded as "sending": the next start settles it
                cut_off = True
                log.warning("the stop cut off the submit of %s in session %s; the next start "
                            "settles it from the agent's screen, never typing it again",
                            for_log(task.name), session.name)
                e.save_inflight()
            raise
        except (PaneTaken, ProgramNotFound) as exc:  # raised before anything was typed
            await self.not_taken(session, task, exc)
        except ClaimedInvalid as exc:
            e.accounts.returned(task)
            session.free_up()
            e.notify("on_task_finished", task=exc.task, session=None, outcome="failed",
                     reason=str(exc))
        except Exception as exc:
            if not isinstance(exc, LaunchError | TransportError | OSError):
                log.exception("error while launching %s on %s", for_log(task.name), session.name)
            reason = str(exc) or type(exc).__name__
            if sent:
                await e.finish(session, "indoubt", "delivery broke off after the text may "
                               f"have reached the agent: {reason}")
            else:
                await self.failed(session, task, reason,
                                  hold_until=exc.until if isinstance(exc, UsageLimited) else None)
        finally:
            if self.running.get(session.name) is asyncio.current_task():
                if not cut_off:
                    self.sending.discard(session.name)
                del self.running[session.name]
            e.wake()

    async def confirm_ack(self, session: Session, pane: PaneRef, task: Task,
                       agent: AgentProfile) -> None:
        """Wait for the agent's acknowledgement, or for its screen to show it took the text.

        A missing acknowledgement is not proof of non-delivery (hooks can be
        disabled): once ``ACK_GRACE`` has passed, an emptied input box with the
        agent busy, or the message in its transcript, also counts. Halfway through
        ``ack_timeout``, while the text verifiably still sits in the box, one lone
        Enter. With no evidence either way by then: :class:`LaunchError`
        (``indoubt/``).
        """
        e = self.engine
        start = time.monotonic()
        entered = False
        while True:
            if await e.completion.wait_ack(task.id, ACK_POLL):
                e.store.note(task, "acknowledged")
                return
            waited = time.monotonic() - start
            screen = await e.transport.capture(pane)
            pending = bool(e.hook.agent_input_pending(screen=screen, task=task, config=e.config,
                                                      agent=agent))
            if waited >= ACK_GRACE and not pending and taken_on_screen(
                    screen, agent, session.attempt, session.clean):
                e.store.note(task, "submitted", confirmed="screen")
                log.info("%s taken, as the agent's screen shows; no acknowledgement from its "
                         "hooks (yet)", for_log(task.name))
                return
            if pending and not entered and waited >= e.config.ack_timeout / 2:
                entered = True
                log.info("no acknowledgement for %s and its text is still in the input box: "
                         "pressing Enter once more", for_log(task.name))
                await e.transport.press_enter(pane)
            if waited >= e.config.ack_timeout:
                raise LaunchError(f"no acknowledgement from the agent within "
                                  f"{e.config.ack_timeout:g}s, and its screen does not show "
                                  "that it took the text")

    async def confirm_on_screen(self, pane: PaneRef, task: Task, agent: AgentProfile) -> None:
        """For an agent that acknowledges nothing: the screen must show the submit took.

        It took once the agent looks busy or its input box no longer holds the text.
        While the text verifiably still sits there, one lone Enter (the agent's
        Enter may have come too early, as with Gemini CLI); if it still sits there
        after that, :class:`LaunchError` (the task goes to ``indoubt/``).
        """
        e = self.engine
        for attempt in (1, 2):
            deadline = time.monotonic() + SCREEN_CONFIRM
            while True:
                screen = await e.transport.capture(pane)
                if agent.busy(screen) or not e.hook.agent_input_pending(
                        screen=screen, task=task, config=e.config, agent=agent):
                    e.store.note(task, "submitted", confirmed="screen")
                    log.info("%s submitted, as its screen shows (this agent sends no "
                             "acknowledgement)", for_log(task.name))
                    return
                if time.monotonic() >= deadline:
                    break
                await asyncio.sleep(0.1)
            if attempt == 1:
                log.info("the text of %s is still in the agent's input box: pressing Enter once "
                         "more", for_log(task.name))
                await e.transport.press_enter(pane)
        raise LaunchError("the text is still in the agent's input box after a second Enter")

    def _dialog(self, session: Session, task: Task, agent: AgentProfile,
                dialog: str | None) -> None:
        """The starting agent shows (or no longer shows) a dialog only a person may answer."""
        session.waiting_for = dialog or ""
        if dialog is None:
            session.note = ""
            log.info("session %s: the dialog is gone; %s goes on", session.name,
                     for_log(task.name))
        else:
            hint = agent.dialog_hint(dialog)
            session.note = (f"{agent.name} waits at its {dialog} dialog in session "
                            f"{session.name}: answer it there (tmux attach -t {session.name})"
                            + (f", {hint}" if hint else "")
                            + f"; {task.name} waits for it, with no attempt counted")
            log.warning("%s", for_log(session.note))
        self.engine.wake()  # status shows it at once

    async def not_taken(self, session: Session, task: Task, exc: TransportError) -> None:
        """The pane was not free, or its shell lacks the agent: not the task's fault.

        The task goes back untouched (no attempt counted) and the session is not
        cooled down; the survey keeps it out until the cause is gone.
        """
        if isinstance(exc, ProgramNotFound) and session.profile is not None:
            pane_id = session.pane.pane_id if session.pane else ""
            self.engine.survey.missing(session, session.profile, exc.program, exc.path, pane_id)
            log.info("%s goes back to its inbox untouched", for_log(task.name))
        elif isinstance(exc, PaneTaken):
            session.unavailable = exc.occupant.state()
            log.info("session %s is %s; %s goes back to its inbox untouched", session.name,
                     exc.occupant.describe(), for_log(task.name))
        await self.failed(session, task, str(exc), counted=False)

    async def abandon(self, session: Session, task: Task) -> None:
        """Undo a launch that typed nothing: task back to the inbox, the pane back to a shell."""
        e, pane = self.engine, session.pane
        if task.path.parent.name in ("claimed", "sent"):
            e.store.release(task)
            e.intake.forget(task.project, task.name)  # read again at the next start
        e.accounts.returned(task)
        session.free_up()
        e.save_inflight()
        if pane is not None:
            with contextlib.suppress(TransportError):
                await e.transport.stop_agent(pane)

    async def failed(self, session: Session, task: Task, reason: str,
                     hold_until: float | None = None, counted: bool = True) -> None:
        """Nothing was sent: cool the session down, stop what was started, requeue or give up.

        With ``hold_until`` (the agent's usage limit) the session waits until then, and the
        attempt is not counted against the task: it goes back untouched. With
        ``counted=False`` (a cause outside the task) it goes back untouched, no cooldown.
        """
        e = self.engine
        if hold_until is not None:
            session.cooldown_until, counted = hold_until, False
        elif counted:
            session.cooldown_until = time.time() + e.config.cooldown
        session.last_failure = reason
        if hold_until is not None:
            log.warning("session %s: %s; it takes no task until then, and %s goes back to its "
                        "inbox untouched", session.name, reason, for_log(task.name))
            e.accounts.boot_limit(session, session.profile or e.agents.get(None), task,
                                  hold_until)
        pane = session.pane
        session.free_up()
        if pane is not None:
            with contextlib.suppress(TransportError):
                await e.transport.stop_agent(pane)  # never leave a half-started agent behind
        if counted:
            task = task.moved(task.path, attempts=task.attempts + 1)
        e.completion.forget(task.id)
        e.accounts.returned(task)
        given_up = None
        if task.path.parent.name == "claimed" and task.attempts >= e.config.max_attempts:
            given_up = f"launch failed {task.attempts} times; last: {reason}"
            task = await asyncio.to_thread(e.store.finish, task, "failed", given_up)
            e.save_inflight()
        elif task.path.parent.name == "claimed":
            task = await self.put_back(task)
        else:  # the claim itself failed: read the inbox file again
            e.save_inflight()
            e.intake.requeue(task.project, (task.name, f"{task.id}.{task.name}"))
        if session.cooldown_until > time.time():
            e.call_later(session.cooldown_until - time.time() + 0.01, e.wake)
        e.notify("on_launch_failed", task=task, session=session.info(), reason=reason)
        if given_up is not None:
            e.notify("on_task_finished", task=task, session=None, outcome="failed",
                     reason=given_up)

    async def put_back(self, task: Task, reason: str | None = None) -> Task:
        """claimed/ or sent/ → its inbox as it came (id, arrival, attempts), read again at once."""
        e = self.engine
        names = (task.name, f"{task.id}.{task.name}")  # where release may put it
        e.intake.pinned.update((task.project, n) for n in names)
        try:
            task = await asyncio.to_thread(e.store.release, task, reason)
        finally:
            e.intake.pinned.difference_update((task.project, n) for n in names)
        e.save_inflight()
        e.intake.requeue(task.project, names)
        return task

    async def shutdown(self) -> None:
        """Launches that typed nothing are undone; those already sending finish their submit."""
        finishing = [t for name, t in self.running.items() if name in self.sending]
        for name, launch in list(self.running.items()):
            if name not in self.sending:
                launch.cancel()
        if finishing:
            await asyncio.wait(finishing, timeout=SUBMIT_GRACE)
        for launch in self.running.values():
            launch.cancel()
        if self.running:
            await asyncio.gather(*self.running.values(), return_exceptions=True)

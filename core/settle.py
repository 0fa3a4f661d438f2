"""After a restart: finish the job for a task whose submit a stop cut off.

Its text may have reached the agent, or not; it is never typed again. What the
agent's screen shows decides, and only what cannot be told either way goes to
``indoubt/``:

- the text waits unsubmitted in the input box: it gets its lone Enter, and the
  task goes on as delivered once the agent acknowledges it or its screen shows
  it took it;
- the agent works on a turn, the attempt line is in its scrollback, or its
  transcript (empty when it became ready) shows a message: delivered;
- the agent is idle at an empty input box, with no message and no attempt line
  in its scrollback, and no acknowledgement on record: the text never arrived;
  the task goes back to its inbox and the attempt is not counted.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .launcher import LaunchError, agent_exited, attempt_line, taken_on_screen
from .pool import LAUNCHING, WORKING, Session
from .text import for_log
from .trampoline import start_line
from .transport import TransportError

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

UNKNOWN = "the daemon stopped during the submit; whether the agent received the task is unknown"


async def settle_cut_submit(engine: Engine, session: Session) -> None:
    """Decide, from the session's screen, what became of its cut-off submit (see above)."""
    e, task = engine, session.task
    assert task is not None
    session.state = LAUNCHING  # events that come meanwhile wait, as during a launch
    e.launches.sending.add(session.name)  # a crash now still means: typed, delivery unknown
    try:
        verdict = await _verdict(e, session)
    except (TransportError, LaunchError) as exc:
        verdict = f"indoubt: {UNKNOWN} ({exc})"
    except Exception as exc:  # a plugin's hook, a full disk …: a person decides
        log.exception("error while settling %s", for_log(task.name))
        verdict = f"indoubt: {UNKNOWN} (error while settling: {exc!r})"
    if session.task is not task:
        e.launches.sending.discard(session.name)
        return
    if verdict == "delivered":
        e.launches.sending.discard(session.name)
        session.state = WORKING
        e.save_inflight()
        e.completion.started(session)
        log.info("session %s is working on %s (delivered before the restart, as its screen "
                 "shows)", session.name, for_log(task.name))
    elif verdict == "never arrived":
        log.info("%s never reached the agent in session %s (idle, empty input box, no message "
                 "and no attempt line on its screen): back to its inbox, attempt not counted",
                 for_log(task.name), session.name)
        e.launches.sending.discard(session.name)
        try:
            e.store.release(task)
        except OSError:
            log.exception("could not return %s to its inbox; left in sent/", for_log(task.name))
            await e.finish(session, "indoubt", f"{UNKNOWN} (it never arrived, but could not "
                           "be returned to its inbox)")
            return
        session.free_up()
        e.save_inflight()
    else:
        await e.finish(session, "indoubt", verdict.removeprefix("indoubt: "))
    e.launches.sending.discard(session.name)


async def _verdict(e: Engine, session: Session) -> str:
    task, pane = session.task, session.pane
    assert task is not None
    agent = e.completion.agent_of(session)
    present = await e.transport.panes()
    now = present.get(session.name)
    if pane is None or now is None or not now.holds(pane):
        return f"indoubt: {UNKNOWN}, and its tmux pane is gone since"
    history = await e.transport.capture(pane, history=True)
    if agent_exited(history, session.exit_marker):
        return f"indoubt: {UNKNOWN}, and the agent has exited since"
    screen = await e.transport.capture(pane)
    start = start_line(session.exit_marker) if session.exit_marker else ""
    # this launch's output only: earlier agents in the pane left messages in the scrollback
    mine = history.rsplit(start, 1)[1] if start and start in history else None
    if e.hook.agent_input_pending(screen=screen, task=task, config=e.config, agent=agent):
        log.info("%s waits unsubmitted in the input box of session %s after the restart: "
                 "pressing the Enter the stop cut off", for_log(task.name), session.name)
        await e.transport.press_enter(pane)
        if session.reports:
            await e.launches.confirm_ack(session, pane, task, agent)
        else:
            await e.launches.confirm_on_screen(pane, task, agent)
        return "delivered"
    if (taken_on_screen(screen, agent, session.attempt, session.clean)
            or attempt_line(session.attempt) in history
            or (mine is not None and session.clean
                and agent.message_in_transcript(mine) is True)):
        e.store.note(task, "submitted", confirmed="screen after restart")
        return "delivered"
    idle = e.hook.agent_idle(screen=screen, task=task, session=session.info(), config=e.config,
                             agent=agent)
    if (idle and mine is not None and agent.message_in_transcript(mine) is False
            and attempt_line(session.attempt) not in history):
        return "never arrived"
    return f"indoubt: {UNKNOWN}, and its screen does not tell"

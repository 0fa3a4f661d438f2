"""The log lines operators grep for: ``DISPATCHED session=… task=… model=…`` and outcomes."""

from __future__ import annotations

import logging

from dispatchd import hookimpl
from dispatchd.hooktypes import SessionInfo
from dispatchd.task import Task
from dispatchd.text import for_log

log = logging.getLogger("dispatchd")


@hookimpl(trylast=True)
def on_dispatched(task: Task, session: SessionInfo, model: str) -> None:
    log.info("DISPATCHED session=%s task=%s model=%s", for_log(session.name),
             for_log(task.name), model)


@hookimpl(trylast=True)
def on_task_finished(task: Task, session: SessionInfo | None, outcome: str,
                     reason: str | None) -> None:
    where = f" session={for_log(session.name)}" if session else ""
    why = f" reason={for_log(reason)}" if reason else ""
    if outcome == "done":
        log.info("DONE%s task=%s%s", where, for_log(task.name), why)
    else:  # a person may have to act: seen with -q too, with the id `resolve` takes
        log.warning("%s%s task=%s id=%s%s", outcome.upper(), where, for_log(task.name),
                    for_log(task.id), why)


@hookimpl(trylast=True)
def on_launch_failed(task: Task, session: SessionInfo, reason: str) -> None:
    log.warning("LAUNCH-FAILED session=%s task=%s reason=%s", for_log(session.name),
                for_log(task.name), for_log(reason))

"""Default task order: priority (critical > high > default > low), then arrival; files of
one burst (one tick of the file system's clock) by when they were renamed in (ctime), then
in the order dispatchd noticed them, then by name."""

from __future__ import annotations

from typing import Any

from dispatchd import hookimpl
from dispatchd.task import Task


@hookimpl(trylast=True)
def task_sort_key(task: Task) -> tuple[Any, ...]:
    return (task.priority_rank, task.arrival, task.order, task.name, task.id)

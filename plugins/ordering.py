"""Default task order: priority (critical > high > default > low), then arrival, never file names."""

from __future__ import annotations

from typing import Any

from dispatchd import hookimpl
from dispatchd.task import Task


@hookimpl(trylast=True)
def task_sort_key(task: Task) -> tuple[Any, ...]:
    return (task.priority_rank, task.arrival, task.id)

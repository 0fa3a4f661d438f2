"""The waiting tasks of every project, kept in dispatch order.

Insertion and removal cost O(log n) comparisons (plus a list shift), so an
event for one file never re-sorts or re-reads the inbox.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .task import Task


class TaskQueue:
    """Waiting tasks ordered by a sort key (from the ``task_sort_key`` hook)."""

    def __init__(self) -> None:
        self._order: list[tuple[tuple[Any, ...], str]] = []
        self._tasks: dict[str, tuple[tuple[Any, ...], Task]] = {}
        self._by_file: dict[tuple[Path, str], str] = {}

    def __len__(self) -> int:
        return len(self._tasks)

    def __iter__(self) -> Iterator[Task]:
        """Tasks in dispatch order (a snapshot: the queue may change while iterating)."""
        return iter([self._tasks[tid][1] for _, tid in list(self._order)])

    def head(self, n: int) -> list[Task]:
        """The first ``n`` tasks in dispatch order (cheap whatever the queue's length)."""
        return [self._tasks[tid][1] for _, tid in self._order[:n]]

    def add(self, task: Task, key: tuple[Any, ...]) -> None:
        self.discard_file(task.project, task.path.name)
        self._tasks[task.id] = (key, task)
        self._by_file[(task.project, task.path.name)] = task.id
        bisect.insort(self._order, (key, task.id))

    def remove(self, task: Task) -> None:
        entry = self._tasks.pop(task.id, None)
        if entry is None:
            return
        key, stored = entry
        self._by_file.pop((stored.project, stored.path.name), None)
        i = bisect.bisect_left(self._order, (key, task.id))
        if i < len(self._order) and self._order[i][1] == task.id:
            del self._order[i]

    def discard_file(self, project: Path, name: str) -> Task | None:
        """Forget the task read from ``inbox/<name>`` (the file left the inbox)."""
        tid = self._by_file.get((project, name))
        if tid is None:
            return None
        task = self._tasks[tid][1]
        self.remove(task)
        return task

    def get_file(self, project: Path, name: str) -> Task | None:
        tid = self._by_file.get((project, name))
        return self._tasks[tid][1] if tid else None

    def position(self, task_id: str) -> int | None:
        """0-based place of a task in dispatch order."""
        for i, (_, tid) in enumerate(self._order):
            if tid == task_id:
                return i
        return None

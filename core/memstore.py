"""A task store in memory, with the file store's semantics: for tests, and the second
implementation that keeps the :class:`~dispatchd.store.TaskStore` seam honest.

Each project has the same states as on disk (``inbox``, ``claimed``, ``sent``, ``done``,
``failed``, ``indoubt``) and each task the same path shape
(``<project>/.agent-queue/<state>/<id>.<name>``), so the engine cannot tell the two
apart; nothing is written. Every change is atomic and durable, so what a "crash"
keeps is everything: a restarted daemon is a new engine on the same store
(:meth:`MemoryStore.restarted` drops what a process holds only in memory, as a
restarted :class:`~dispatchd.store.FileStore` would).

Producers put tasks with :meth:`MemoryStore.put` (the counterpart of writing a file
and renaming it into the inbox, with its modification time).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from .store import (
    QUEUE_DIR,
    STATES,
    ClaimedInvalid,
    check_settled,
    inbox_location,
    inbox_of,
    is_task_name,
    journal_record,
    new_task_id,
    notice_time,
)
from .task import Task, TaskError, parse_task_text


@dataclass
class _Entry:
    """One file: its text, its modification time, when it came (as a rename sets a file's
    ctime) and a version (as an inode: a new one for every file put)."""

    text: str
    mtime_ns: int
    ctime_ns: int
    version: int
    reason: str | None = None


@dataclass
class _Project:
    states: dict[str, dict[str, _Entry]] = field(
        default_factory=lambda: {state: {} for state in STATES})
    arrivals: dict[int, tuple[str, float, int, tuple[int, int]]] = field(default_factory=dict)
    """version → (id, seen, attempts, order), as ``arrivals.jsonl`` keeps them."""
    journal: list[dict[str, object]] = field(default_factory=list)


@dataclass
class _Data:
    """What a "crash" keeps: everything (each change is atomic and durable)."""

    projects: dict[Path, _Project] = field(default_factory=dict)
    versions: int = 0


class MemoryStore:
    """The :class:`~dispatchd.store.TaskStore` contract, kept in memory."""

    def __init__(self, max_task_bytes: int = 1 << 20, data: _Data | None = None) -> None:
        self._data = data if data is not None else _Data()
        self.max_task_bytes = max_task_bytes

    # -- the producer's side and the test's view --------------------------
    def put(self, project: Path, name: str, text: str, mtime: float | None = None) -> Path:
        """A producer renames a complete file into the inbox (replacing one of that name)."""
        ns = int((time.time() if mtime is None else mtime) * 1e9)
        self._data.versions += 1
        self._project(project).states["inbox"][name] = _Entry(text, ns, notice_time(),
                                                               self._data.versions)
        return inbox_of(project) / name

    def names(self, project: Path, state: str) -> list[str]:
        """The file names in one state, as ``ls`` would list them."""
        return sorted(self._project(project).states[state])

    def journal(self, project: Path) -> list[dict[str, object]]:
        return list(self._project(project).journal)

    def reason(self, project: Path, state: str, name: str) -> str | None:
        return self._project(project).states[state][name].reason

    def restarted(self) -> MemoryStore:
        """The store as a restarted daemon finds it: the same tasks, nothing cached."""
        return MemoryStore(self.max_task_bytes, self._data)

    # -- reading -----------------------------------------------------------
    def projects(self, roots: Sequence[Path]) -> set[Path]:
        return {p for p in self._data.projects if p.parent in roots}

    def waiting_names(self, project: Path) -> list[str]:
        return [n for n in self._project(project).states["inbox"] if is_task_name(n)]

    def fingerprint(self, project: Path, name: str) -> tuple[int, int] | None:
        entry = self._project(project).states["inbox"].get(name)
        return None if entry is None else (entry.version, entry.mtime_ns)

    def watch_folder(self, project: Path) -> Path:
        return inbox_of(project)

    def locate(self, path: Path) -> tuple[Path, str] | None:
        return inbox_location(path)

    def load(self, project: Path, name: str, settle: float = 0.0,
             noticed: int | None = None) -> Task | None:
        entry = self._project(project).states["inbox"].get(name)
        if entry is None:
            return None
        if len(entry.text.encode()) > self.max_task_bytes:
            raise TaskError(f"{name} is larger than {self.max_task_bytes} bytes")
        check_settled(entry.mtime_ns / 1e9, settle)
        task_id, seen, attempts, order = self._arrival(project, entry, noticed)
        task = parse_task_text(entry.text, id=task_id, name=name, project=project,
                               path=inbox_of(project) / name, arrival=seen)
        return replace(task, attempts=attempts, order=order)

    def counts(self, project: Path) -> dict[str, int]:
        states = self._project(project).states
        return {state: sum(1 for n in states[state] if is_task_name(n)) for state in STATES}

    # -- state changes -------------------------------------------------------
    def claim(self, task: Task) -> Task | None:
        entry = self._take(task, "inbox", task.name)
        if entry is None:
            return None
        dst = self._put_state(task, "claimed", entry)
        self._journal(task, "claimed")
        try:
            fresh = parse_task_text(entry.text, id=task.id, name=task.name,
                                    project=task.project, path=dst, arrival=task.arrival)
        except TaskError as exc:
            reason = f"changed while being claimed: {exc}"
            raise ClaimedInvalid(reason, self.finish(task.moved(dst), "failed", reason)) from None
        return fresh.moved(dst, attempts=task.attempts, order=task.order)

    def release(self, task: Task, reason: str | None = None) -> Task:
        state = task.path.parent.name
        entry = self._take(task, state, task.path.name)
        if entry is None:
            raise FileNotFoundError(task.path)
        inbox = self._project(task.project).states["inbox"]
        name = task.name if task.name not in inbox else f"{task.id}.{task.name}"
        inbox[name] = entry
        self._project(task.project).arrivals[entry.version] = (task.id, task.arrival,
                                                               task.attempts, task.order)
        self._journal(task, "released", attempts=task.attempts, reason=reason)
        return task.moved(inbox_of(task.project) / name)

    def mark_sent(self, task: Task, session: str) -> Task:
        entry = self._take(task, task.path.parent.name, task.path.name)
        if entry is None:
            raise FileNotFoundError(task.path)
        dst = self._put_state(task, "sent", entry)
        self._journal(task, "sent", session=session)
        return task.moved(dst)

    def finish(self, task: Task, outcome: str, reason: str | None = None) -> Task:
        state = outcome if outcome in ("failed", "indoubt") else "done"
        entry = self._take(task, task.path.parent.name, task.path.name)
        if entry is None:
            raise FileNotFoundError(task.path)
        entry.reason = reason.rstrip() if reason is not None else None
        dst = self._put_state(task, state, entry)
        self._journal(task, state, outcome=outcome, reason=reason)
        return task.moved(dst)

    def reject(self, project: Path, name: str, reason: str) -> Task | None:
        entry = self._project(project).states["inbox"].pop(name, None)
        if entry is None:
            return None
        task_id = self._arrival(project, entry, None)[0]
        entry.reason = reason.rstrip()
        task = Task(id=task_id, name=name, project=project, path=inbox_of(project) / name,
                    body="")
        dst = self._put_state(task, "failed", entry)
        self._journal(task, "failed", reason=reason)
        return task.moved(dst)

    def recover(self, project: Path) -> list[Task]:
        for task in self._stubs(project, "claimed"):
            self.release(task)
        return self._stubs(project, "sent")

    def note(self, task: Task, event: str, **extra: object) -> None:
        self._journal(task, event, **extra)

    # -- internals ---------------------------------------------------------
    def _project(self, project: Path) -> _Project:
        return self._data.projects.setdefault(project, _Project())

    def _arrival(self, project: Path, entry: _Entry,
                 noticed: int | None) -> tuple[str, float, int, tuple[int, int]]:
        arrivals = self._project(project).arrivals
        if entry.version not in arrivals:
            seen = min(time.time(), entry.mtime_ns / 1e9)
            order = (entry.ctime_ns, noticed if noticed is not None else notice_time())
            arrivals[entry.version] = (new_task_id(seen), seen, 0, order)
        return arrivals[entry.version]

    def _take(self, task: Task, state: str, name: str) -> _Entry | None:
        return self._project(task.project).states[state].pop(name, None)

    def _put_state(self, task: Task, state: str, entry: _Entry) -> Path:
        name = f"{task.id}.{task.name}"
        states = self._project(task.project).states[state]
        if name in states:
            raise FileExistsError(task.project / QUEUE_DIR / state / name)
        states[name] = entry
        return task.project / QUEUE_DIR / state / name

    def _stubs(self, project: Path, state: str) -> list[Task]:
        out = []
        for stored, entry in sorted(self._project(project).states[state].items()):
            task_id, _, name = stored.partition(".")
            if not is_task_name(name):
                continue
            known = self._project(project).arrivals.get(entry.version)
            out.append(Task(id=task_id, name=name, project=project,
                            path=project / QUEUE_DIR / state / stored, body="",
                            arrival=known[1] if known else entry.mtime_ns / 1e9,
                            attempts=known[2] if known else 0,
                            order=known[3] if known else (entry.ctime_ns, 0)))
        return out

    def _journal(self, task: Task, event: str, **extra: object) -> None:
        self._project(task.project).journal.append(journal_record(task, event, **extra))

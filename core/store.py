"""The task store: where each task is, as folders a person can ``ls``.

Layout of one project (documented in ``docs/lifecycle.md``)::

    <project>/.agent-queue/
        inbox/<name>.md         waiting (producers write here, as for the seed)
        claimed/<id>.<name>.md  claimed by dispatchd, the agent is being started;
                                no byte of the task has been typed yet
        sent/<id>.<name>.md     the text was handed to the agent (never typed again)
        done/<id>.<name>.md     the agent reported or showed that it finished
        failed/<id>.<name>.md   set aside, with <id>.<name>.md.reason saying why
        indoubt/<id>.<name>.md  the text may or may not have reached the agent; a person
                                decides (``dispatchd resolve``), with a .reason file
        arrivals.jsonl          first-seen time and id of waiting files (ordering)
        journal.jsonl           one line per state change

Every move is :func:`dispatchd.fsio.move_durable`: atomic, never overwriting,
fsynced. The claim (inbox → claimed) happens before any keystroke reaches a
session, and claimed → sent happens before the paste, so a crash can at worst
leave a task in ``claimed/`` (returned to the inbox at start) or in ``sent/``
(never re-sent automatically).

:class:`TaskStore` is the seam for other stores (a shared queue on Redis):
the engine only calls these methods.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .fsio import (
    NotATaskFile,
    append_line,
    link_in_durable,
    move_durable,
    read_regular,
    write_atomic,
)
from .task import Task, TaskError, parse_task_text
from .text import for_log

log = logging.getLogger(__name__)

QUEUE_DIR = ".agent-queue"
STATES = ("inbox", "claimed", "sent", "done", "failed", "indoubt")


class ClaimedInvalid(TaskError):
    """The file changed into an invalid task while being claimed; it is now in ``failed/``."""

    def __init__(self, reason: str, task: Task) -> None:
        super().__init__(reason)
        self.task = task


_last_notice = 0


def arrival_order(rec: dict[str, object]) -> tuple[int, int]:
    """The ``order`` of an ``arrivals.jsonl`` record (records without one: by ``seen``)."""
    order = rec.get("order")
    if isinstance(order, list) and len(order) == 2:
        return int(order[0]), int(order[1])
    seen = int(float(rec.get("seen") or 0) * 1e9)  # type: ignore[arg-type]
    return seen, seen


def notice_time() -> int:
    """Now in ns, strictly later than the last call: the order in which files were noticed."""
    global _last_notice
    _last_notice = max(time.time_ns(), _last_notice + 1)
    return _last_notice


class NotSettled(Exception):
    """The file changed too recently to be trusted as complete; look again after ``delay``."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"retry in {delay:.2f}s")
        self.delay = delay


def new_task_id(seen: float) -> str:
    """An id for a task first seen at ``seen``: its UTC time, then 48 random bits, so
    thousands of files arriving in one second still get distinct ids."""
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime(seen))}-{secrets.token_hex(6)}"


def check_settled(mtime: float, settle: float) -> None:
    """Raise :class:`NotSettled` for a file changed less than ``settle`` seconds ago. A
    future mtime (clock skew) cannot be judged: the file is taken."""
    age = time.time() - mtime
    if 0 <= age < settle:
        raise NotSettled(settle - age)


def journal_record(task: Task, event: str, **extra: object) -> dict[str, object]:
    """One line of a project's journal (fields that are None are left out)."""
    record: dict[str, object] = {"ts": time.time(), "task": task.id, "name": task.name,
                                 "event": event}
    record.update({k: v for k, v in extra.items() if v is not None})
    return record


def inbox_location(path: Path) -> tuple[Path, str] | None:
    """(project, name) of a path inside an inbox, else None."""
    if path.parent.name == "inbox" and path.parent.parent.name == QUEUE_DIR:
        return path.parent.parent.parent, path.name
    return None


def is_task_name(name: str) -> bool:
    """``*.md`` as the seed matched it, minus hidden and editor files (``.#x.md``, ``.x.md.swp``)."""
    return name.endswith(".md") and not name.startswith(".") and len(name) > 3


def inbox_of(project: Path) -> Path:
    return project / QUEUE_DIR / "inbox"


def unsafe_inbox(project: Path) -> str | None:
    """Why an inbox must not be read: anyone who can write it could run code as us."""
    try:
        st = os.stat(inbox_of(project))
    except OSError:
        return None
    if st.st_uid != os.getuid():
        return f"it is owned by another user (uid {st.st_uid})"
    if st.st_mode & 0o002:
        return "it is writable by every user (chmod o-w to accept it)"
    if st.st_mode & 0o020 and st.st_gid != os.getgid():  # a user-private group is fine
        return (f"it is writable by the members of group {st.st_gid}, not only by you "
                "(chmod g-w to accept it)")
    return None


class TaskStore(Protocol):
    """What the engine needs from a task store."""

    def projects(self, roots: Sequence[Path]) -> set[Path]: ...
    def waiting_names(self, project: Path) -> list[str]: ...
    def fingerprint(self, project: Path, name: str) -> tuple[int, int] | None: ...
    def watch_folder(self, project: Path) -> Path: ...
    def locate(self, path: Path) -> tuple[Path, str] | None: ...
    def load(self, project: Path, name: str, settle: float,
             noticed: int | None = None) -> Task | None: ...
    def claim(self, task: Task) -> Task | None: ...
    def release(self, task: Task, reason: str | None = None) -> Task: ...
    def mark_sent(self, task: Task, session: str) -> Task: ...
    def finish(self, task: Task, outcome: str, reason: str | None = None) -> Task: ...
    def reject(self, project: Path, name: str, reason: str) -> Task | None: ...
    def recover(self, project: Path) -> list[Task]: ...
    def note(self, task: Task, event: str, **extra: object) -> None: ...
    def counts(self, project: Path) -> dict[str, int]: ...


@dataclass
class _Arrival:
    id: str
    seen: float
    attempts: int = 0
    order: tuple[int, int] = (0, 0)
    """(ctime, noticed) in ns: ties of ``seen`` go in this order (see :attr:`Task.order`)."""


class FileStore:
    """Tasks as files in per-project folders (the seed's inbox, extended)."""

    def __init__(self, max_task_bytes: int = 1 << 20) -> None:
        self.max_task_bytes = max_task_bytes
        self._refused: set[Path] = set()
        self._arrivals: dict[Path, dict[tuple[int, int], _Arrival]] = {}

    # -- reading ---------------------------------------------------------
    def projects(self, roots: Sequence[Path]) -> set[Path]:
        """The projects under ``roots``: every folder directly inside one, hidden ones
        left out (an inbox appears in it later, and is watched for)."""
        found: set[Path] = set()
        for root in roots:
            with contextlib.suppress(OSError), os.scandir(root) as it:
                found.update(Path(e.path).resolve() for e in it
                             if not e.name.startswith(".") and e.is_dir(follow_symlinks=True))
        return found

    def waiting_names(self, project: Path) -> list[str]:
        unsafe = unsafe_inbox(project)
        if unsafe:
            if project not in self._refused:
                log.warning("refusing the inbox of %s: %s", project, unsafe)
                self._refused.add(project)
            return []
        self._refused.discard(project)
        try:
            with os.scandir(inbox_of(project)) as it:
                return [e.name for e in it if is_task_name(e.name)]
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            log.warning("cannot read the inbox of %s: %s", project, exc)
            return []

    def fingerprint(self, project: Path, name: str) -> tuple[int, int] | None:
        """Identity of a waiting file (inode, mtime); None when it is gone. One ``lstat``."""
        try:
            st = os.lstat(inbox_of(project) / name)
        except OSError:
            return None
        return (st.st_ino, st.st_mtime_ns)

    def watch_folder(self, project: Path) -> Path:
        """The folder to watch for ``project``: its inbox, or where the inbox will appear."""
        inbox = inbox_of(project)
        for folder in (inbox, inbox.parent):
            if folder.is_dir():
                return folder
        return project

    def locate(self, path: Path) -> tuple[Path, str] | None:
        return inbox_location(path)

    def load(self, project: Path, name: str, settle: float = 0.0,
             noticed: int | None = None) -> Task | None:
        """Parse a waiting file. None if it is gone; :class:`TaskError` if it is unusable.

        ``noticed`` (ns) is when the caller first noticed the name: it orders files of
        the same arrival time (default: now).
        """
        if unsafe_inbox(project):
            return None
        path = inbox_of(project) / name
        try:
            data, st = read_regular(path, self.max_task_bytes)
        except FileNotFoundError:
            return None
        except NotATaskFile as exc:
            raise TaskError(f"{name} {exc}") from None
        except OSError as exc:
            raise TaskError(f"cannot read {name}: {exc.strerror or exc}") from None
        check_settled(st.st_mtime, settle)
        arrival = self._arrival(project, st, noticed)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise TaskError(f"not valid UTF-8 text (byte {exc.start})") from None
        task = parse_task_text(text, id=arrival.id, name=name, project=project, path=path,
                               arrival=arrival.seen)
        return task.moved(path, attempts=arrival.attempts, order=arrival.order)

    def counts(self, project: Path) -> dict[str, int]:
        out = {}
        for state in STATES:
            try:
                names = os.listdir(project / QUEUE_DIR / state)
            except OSError:
                names = []
            out[state] = sum(1 for n in names if is_task_name(n))
        return out

    # -- state changes ---------------------------------------------------
    def claim(self, task: Task) -> Task | None:
        """inbox → claimed, then re-read what was claimed. None if another claimer won.

        Raises :class:`ClaimedInvalid` (the task is then in ``failed/``) if the file
        changed into something that is not a valid task.
        """
        dst = self._state_path(task, "claimed")
        try:
            move_durable(task.path, dst)
        except FileNotFoundError:
            return None
        except FileExistsError:  # another daemon sharing arrivals.jsonl won with the same id
            if not os.path.lexists(task.path):
                return None
            raise
        self._journal(task, "claimed")
        try:
            data, _ = read_regular(dst, self.max_task_bytes)
            fresh = parse_task_text(data.decode("utf-8"), id=task.id, name=task.name,
                                    project=task.project, path=dst, arrival=task.arrival)
        except (TaskError, NotATaskFile, UnicodeDecodeError, OSError) as exc:
            reason = f"changed while being claimed: {exc}"
            raise ClaimedInvalid(reason, self.finish(task.moved(dst), "failed", reason)) from None
        return fresh.moved(dst, attempts=task.attempts, order=task.order)

    def release(self, task: Task, reason: str | None = None) -> Task:
        """claimed → inbox after a launch that typed nothing (or sent → inbox after a turn the
        API refused before any work); keeps its arrival, id and attempts."""
        st = os.lstat(task.path)  # a move keeps inode and mtime: remember before the move,
        self._remember(task.project, st, _Arrival(task.id, task.arrival, task.attempts,
                                                       task.order))
        dst = inbox_of(task.project) / task.name  # so a watcher event right after sees them
        try:
            link_in_durable(task.path, dst)
        except FileExistsError:  # the producer wrote a new file of the same name meanwhile
            dst = inbox_of(task.project) / f"{task.id}.{task.name}"
            link_in_durable(task.path, dst)
        self._journal(task, "released", attempts=task.attempts,
                      **({"reason": reason} if reason else {}))
        return task.moved(dst)

    def mark_sent(self, task: Task, session: str) -> Task:
        dst = self._state_path(task, "sent")
        move_durable(task.path, dst)
        self._journal(task, "sent", session=session)
        return task.moved(dst)

    def finish(self, task: Task, outcome: str, reason: str | None = None) -> Task:
        """Move to ``done/``, ``failed/`` or ``indoubt/`` (the last two with a reason file)."""
        state = outcome if outcome in ("failed", "indoubt") else "done"
        dst = self._state_path(task, state)
        if reason is not None:
            write_atomic(dst.with_name(dst.name + ".reason"), (reason.rstrip() + "\n").encode())
        move_durable(task.path, dst)
        self._journal(task, state, outcome=outcome, reason=reason)
        return task.moved(dst)

    def reject(self, project: Path, name: str, reason: str) -> Task | None:
        """A waiting file that can never be dispatched: set it aside in ``failed/``, never delete."""
        src = inbox_of(project) / name
        try:
            st = os.lstat(src)
        except FileNotFoundError:
            return None
        task_id = self._arrival(project, st).id
        dst = project / QUEUE_DIR / "failed" / f"{task_id}.{name}"
        write_atomic(dst.with_name(dst.name + ".reason"), (reason.rstrip() + "\n").encode())
        try:
            move_durable(src, dst)
        except FileNotFoundError:
            dst.with_name(dst.name + ".reason").unlink(missing_ok=True)
            return None
        log.warning("task %s set aside in failed/: %s", for_log(name), for_log(reason))
        task = Task(id=task_id, name=name, project=project, path=dst, body="")
        self._journal(task, "failed", reason=reason)
        return task

    def recover(self, project: Path) -> list[Task]:
        """After a restart: claimed/ goes back to the inbox; returns what is in sent/."""
        for stub in self._stubs(project, "claimed"):
            log.info("returning %s to the inbox: claimed, never sent", for_log(stub.path.name))
            self.release(stub)
        return list(self._stubs(project, "sent"))

    def _stubs(self, project: Path, state: str) -> Iterator[Task]:
        """The tasks in a state folder as the engine tracks them (id, name, arrival; no body)."""
        folder = project / QUEUE_DIR / state
        for name in _listdir(folder):
            task_id, _, original = name.partition(".")
            if not is_task_name(original):
                continue
            st = os.lstat(folder / name)
            known = self._arrivals_of(project).get((st.st_ino, st.st_mtime_ns))
            yield Task(id=task_id, name=original, project=project, path=folder / name, body="",
                       arrival=known.seen if known else st.st_mtime,
                       attempts=known.attempts if known else 0,
                       order=known.order if known else (st.st_ctime_ns, 0))

    def note(self, task: Task, event: str, **extra: object) -> None:
        """A journal line about a task that changes no folder (e.g. ``acknowledged``)."""
        self._journal(task, event, **extra)

    # -- internals -------------------------------------------------------
    def _state_path(self, task: Task, state: str) -> Path:
        return task.project / QUEUE_DIR / state / f"{task.id}.{task.name}"

    def _journal(self, task: Task, event: str, **extra: object) -> None:
        append_line(task.project / QUEUE_DIR / "journal.jsonl",
                    journal_record(task, event, **extra))

    def _arrivals_of(self, project: Path) -> dict[tuple[int, int], _Arrival]:
        table = self._arrivals.get(project)
        if table is None:
            table = self._arrivals[project] = self._load_arrivals(project)
        return table

    def _arrival(self, project: Path, st: os.stat_result,
                 noticed: int | None = None) -> _Arrival:
        table = self._arrivals_of(project)
        key = (st.st_ino, st.st_mtime_ns)
        found = table.get(key)
        if found is None:
            # A file seen for the first time arrived when it was last written (it may have
            # waited while the daemon was down); never later than now.
            seen = min(time.time(), st.st_mtime)
            found = _Arrival(new_task_id(seen), seen,
                             order=(st.st_ctime_ns,
                                    noticed if noticed is not None else notice_time()))
            self._remember(project, st, found)
        return found

    def _remember(self, project: Path, st: os.stat_result, arrival: _Arrival) -> None:
        self._arrivals_of(project)[(st.st_ino, st.st_mtime_ns)] = arrival
        path = project / QUEUE_DIR / "arrivals.jsonl"
        append_line(path, {"ino": st.st_ino, "mtime_ns": st.st_mtime_ns, "id": arrival.id,
                           "seen": arrival.seen, "attempts": arrival.attempts,
                           "order": list(arrival.order)})

    def _load_arrivals(self, project: Path) -> dict[tuple[int, int], _Arrival]:
        """Read arrivals.jsonl, keep the records of files still waiting, and compact it."""
        path = project / QUEUE_DIR / "arrivals.jsonl"
        table: dict[tuple[int, int], _Arrival] = {}
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return table
        except (OSError, UnicodeDecodeError) as exc:
            log.warning("ignoring unreadable %s: %s", path, exc)
            return table
        for line in lines:
            try:
                rec = json.loads(line)
                seen = float(rec["seen"])
                table[(int(rec["ino"]), int(rec["mtime_ns"]))] = _Arrival(
                    str(rec["id"]), seen, int(rec.get("attempts", 0)), arrival_order(rec))
            except (ValueError, KeyError, TypeError):
                continue
        live = set()
        for folder in (inbox_of(project), project / QUEUE_DIR / "claimed"):
            for name in _listdir(folder):
                try:
                    st = os.lstat(folder / name)
                except OSError:
                    continue
                live.add((st.st_ino, st.st_mtime_ns))
        table = {k: v for k, v in table.items() if k in live}
        body = "".join(json.dumps({"ino": k[0], "mtime_ns": k[1], "id": v.id, "seen": v.seen,
                                   "attempts": v.attempts, "order": list(v.order)}) + "\n"
                       for k, v in table.items())
        write_atomic(path, body.encode(), durable=False)
        return table


def _listdir(path: Path) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []

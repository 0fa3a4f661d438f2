"""The task store contract: what the engine may rely on from any ``task_store``.

One suite, run over the file store and the in-memory store (``dispatchd.testing.
MemoryStore``): a third store (Redis) joins by adding a kit. Each kit gives the
store, a producer's ``put`` (a complete file renamed into the inbox), a view of
each state, and a restart (a new store on the same data, nothing cached).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from dispatchd.store import ClaimedInvalid, FileStore, NotSettled, TaskStore, inbox_of
from dispatchd.testing import MemoryStore


@dataclass
class Kit:
    store: TaskStore
    project: Path
    put: Callable[[str, str, float | None], None]
    names: Callable[[str], list[str]]
    reason: Callable[[str, str], str | None]
    journal: Callable[[], list[dict[str, object]]]
    restart: Callable[[], TaskStore]

    def add(self, name: str, text: str = "body", mtime: float | None = None) -> None:
        self.put(name, text, mtime)


def _file_kit(tmp_path: Path) -> Kit:
    project = tmp_path / "p"
    queue = project / ".agent-queue"
    (queue / "inbox").mkdir(parents=True)

    def put(name: str, text: str, mtime: float | None) -> None:
        staging = tmp_path / f".{name}.tmp"
        staging.write_text(text)
        if mtime is not None:
            os.utime(staging, (mtime, mtime))
        os.rename(staging, inbox_of(project) / name)

    def names(state: str) -> list[str]:
        folder = queue / state
        return sorted(n for n in os.listdir(folder) if n.endswith(".md")) if folder.is_dir() \
            else []

    def reason(state: str, name: str) -> str | None:
        path = queue / state / f"{name}.reason"
        return path.read_text().strip() if path.exists() else None

    def journal() -> list[dict[str, object]]:
        path = queue / "journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] \
            if path.exists() else []

    return Kit(FileStore(), project, put, names, reason, journal, FileStore)


def _memory_kit(tmp_path: Path) -> Kit:
    project = tmp_path / "p"
    store = MemoryStore()

    def put(name: str, text: str, mtime: float | None) -> None:
        store.put(project, name, text, mtime)

    return Kit(store, project, put, lambda state: store.names(project, state),
               lambda state, name: store.reason(project, state, name),
               lambda: store.journal(project), store.restarted)


@pytest.fixture(params=["file", "memory"])
def kit(request: pytest.FixtureRequest, tmp_path: Path) -> Kit:
    return {"file": _file_kit, "memory": _memory_kit}[request.param](tmp_path)


def test_a_waiting_task_is_read_with_its_fields_id_and_arrival(kit: Kit):
    past = time.time() - 60
    kit.add("a.md", "---\npriority: high\n---\nthe body", past)
    assert kit.store.waiting_names(kit.project) == ["a.md"]
    task = kit.store.load(kit.project, "a.md")
    assert task is not None and task.priority == "high" and task.body == "the body"
    assert abs(task.arrival - past) < 0.01 and task.id and task.attempts == 0
    assert kit.store.load(kit.project, "gone.md") is None
    assert kit.store.locate(inbox_of(kit.project) / "a.md") == (kit.project, "a.md")
    before = kit.store.fingerprint(kit.project, "a.md")
    kit.add("a.md", "a new file of the same name")
    assert kit.store.fingerprint(kit.project, "a.md") not in (None, before)


def test_projects_are_the_folders_under_the_roots(kit: Kit):
    kit.add("a.md")
    assert kit.project in kit.store.projects([kit.project.parent])
    assert kit.store.projects([kit.project.parent / "elsewhere"]) == set()


def test_a_file_still_changing_is_not_settled(kit: Kit):
    kit.add("a.md", "still being written", time.time())
    with pytest.raises(NotSettled):
        kit.store.load(kit.project, "a.md", settle=30)


def test_a_claim_is_exclusive_and_a_task_moves_through_the_states(kit: Kit):
    kit.add("a.md")
    task = kit.store.load(kit.project, "a.md")
    assert task is not None
    claimed = kit.store.claim(task)
    assert claimed is not None and kit.store.claim(task) is None  # the second claimer loses
    assert kit.names("inbox") == [] and kit.names("claimed") == [f"{task.id}.a.md"]
    sent = kit.store.mark_sent(claimed, "s1")
    done = kit.store.finish(sent, "done")
    assert kit.names("done") == [f"{task.id}.a.md"] and kit.reason("done", f"{task.id}.a.md") \
        is None
    assert kit.store.counts(kit.project) == {"inbox": 0, "claimed": 0, "sent": 0, "done": 1,
                                             "failed": 0, "indoubt": 0}
    assert done.path.parent.name == "done"
    events = [r["event"] for r in kit.journal() if r["task"] == task.id]
    assert events == ["claimed", "sent", "done"]


@pytest.mark.parametrize("outcome", ["failed", "indoubt"])
def test_failed_and_in_doubt_keep_their_reason(kit: Kit, outcome: str):
    kit.add("a.md")
    task = kit.store.load(kit.project, "a.md")
    assert task is not None
    claimed = kit.store.claim(task)
    assert claimed is not None
    kit.store.finish(kit.store.mark_sent(claimed, "s1"), outcome, "why it ended")
    assert kit.reason(outcome, f"{task.id}.a.md") == "why it ended"


def test_release_keeps_id_arrival_attempts_and_order_and_never_overwrites(kit: Kit):
    kit.add("a.md", mtime=time.time() - 5)
    task = kit.store.load(kit.project, "a.md")
    assert task is not None
    claimed = kit.store.claim(task)
    assert claimed is not None
    back = kit.store.release(claimed.moved(claimed.path, attempts=2), "launch failed")
    again = kit.store.load(kit.project, back.path.name)
    assert again is not None
    assert (again.id, again.arrival, again.attempts, again.order) == (task.id, task.arrival, 2,
                                                                      task.order)
    claimed = kit.store.claim(again)
    assert claimed is not None
    kit.add("a.md", "a producer's new file of the same name")
    back = kit.store.release(claimed)
    assert back.path.name == f"{task.id}.a.md" and sorted(kit.names("inbox")) == \
        sorted(["a.md", f"{task.id}.a.md"])
    released = [r for r in kit.journal() if r["event"] == "released"]
    assert released[0]["reason"] == "launch failed" and "reason" not in released[1]


def test_a_burst_keeps_the_order_it_was_noticed_in_across_restarts(kit: Kit):
    tick = time.time() - 10
    names = ["c.md", "a.md", "d.md", "b.md"]
    for name in names:  # one modification time, as a coarse clock gives a burst
        kit.add(name, mtime=tick)
    first = [kit.store.load(kit.project, name) for name in names]
    store = kit.store
    for _ in range(3):
        store = kit.restart()
        again = [store.load(kit.project, name) for name in reversed(names)]
        assert all(t is not None for t in again)
        ordered = sorted(again, key=lambda t: (t.arrival, t.order))  # type: ignore[union-attr]
        assert [t.name for t in ordered] == names  # type: ignore[union-attr]
        assert {t.id for t in again} == {t.id for t in first}  # type: ignore[union-attr]


def test_recover_returns_claimed_to_the_inbox_and_reports_sent(kit: Kit):
    for name in ("a.md", "b.md"):
        kit.add(name)
    a, b = (kit.store.load(kit.project, n) for n in ("a.md", "b.md"))
    assert a is not None and b is not None
    claimed_a, claimed_b = kit.store.claim(a), kit.store.claim(b)
    assert claimed_a is not None and claimed_b is not None
    kit.store.mark_sent(claimed_b, "s1")
    store = kit.restart()  # a crash: the new daemon recovers
    sent = store.recover(kit.project)
    assert [t.id for t in sent] == [b.id] and sent[0].path.parent.name == "sent"
    assert kit.names("inbox") == ["a.md"]
    back = store.load(kit.project, "a.md")
    assert back is not None and back.id == a.id


def test_reject_sets_a_waiting_file_aside_with_its_reason(kit: Kit):
    kit.add("bad.md", "---\npriority: urgent\n---\nx")
    task = kit.store.reject(kit.project, "bad.md", "invalid field priority")
    assert task is not None and kit.names("inbox") == []
    assert kit.reason("failed", f"{task.id}.bad.md") == "invalid field priority"
    assert kit.store.reject(kit.project, "bad.md", "again") is None


def test_a_file_that_changed_into_an_invalid_task_during_the_claim_is_set_aside(kit: Kit):
    kit.add("a.md", "fine")
    task = kit.store.load(kit.project, "a.md")
    assert task is not None
    kit.add("a.md", "---\npriority: urgent\n---\nnot fine any more")
    with pytest.raises(ClaimedInvalid) as err:
        kit.store.claim(task)
    assert err.value.task.path.parent.name == "failed"
    assert "changed while being claimed" in (kit.reason("failed", f"{task.id}.a.md") or "")


def test_note_adds_a_journal_line(kit: Kit):
    kit.add("a.md")
    task = kit.store.load(kit.project, "a.md")
    assert task is not None
    kit.store.note(task, "acknowledged", session="s1")
    (line,) = [r for r in kit.journal() if r["event"] == "acknowledged"]
    assert line["task"] == task.id and line["session"] == "s1"

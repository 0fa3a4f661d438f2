"""The file store: claims are atomic and exclusive, states are folders, nothing is overwritten."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from harness import write_task

from dispatchd.fsio import move_durable
from dispatchd.queue import TaskQueue
from dispatchd.store import FileStore, NotSettled, inbox_of
from dispatchd.task import TaskError


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return tmp_path


def test_claim_is_exclusive_and_moves_through_the_states(project):
    write_task(project, "a.md", "body", priority="high")
    store = FileStore()
    task = store.load(project, "a.md")
    assert task is not None and task.priority == "high"
    claimed = store.claim(task)
    assert claimed is not None and claimed.path.parent.name == "claimed"
    assert claimed.path.name == f"{task.id}.a.md"
    assert store.claim(task) is None  # a second claimer loses cleanly
    sent = store.mark_sent(claimed, "s1")
    done = store.finish(sent, "done")
    assert done.path.parent.name == "done" and done.path.read_text() == "---\npriority: high\n---\nbody"
    assert store.counts(project) == {"inbox": 0, "claimed": 0, "sent": 0, "done": 1, "failed": 0,
                                    "indoubt": 0}
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert [e in journal for e in ('"claimed"', '"sent"', '"done"')] == [True] * 3


def test_failed_gets_a_reason_file(project):
    write_task(project, "a.md", "body")
    store = FileStore()
    claimed = store.claim(store.load(project, "a.md"))
    failed = store.finish(claimed, "failed", "it broke")
    assert failed.path.exists()
    assert Path(str(failed.path) + ".reason").read_text() == "it broke\n"


def test_release_keeps_id_and_arrival_and_never_overwrites(project):
    write_task(project, "a.md", "first")
    store = FileStore()
    task = store.load(project, "a.md")
    claimed = store.claim(task)
    write_task(project, "a.md", "a new task with the same name")
    back = store.release(claimed)
    assert back.path.name == f"{task.id}.a.md"
    assert (inbox_of(project) / "a.md").read_text() == "a new task with the same name"
    again = FileStore().load(project, back.path.name)  # a new process reads arrivals.jsonl
    assert again is not None and again.id == task.id and again.arrival == task.arrival


def test_arrival_is_persisted_across_restarts(project):
    write_task(project, "a.md", "x")
    first = FileStore().load(project, "a.md")
    time.sleep(0.01)
    second = FileStore().load(project, "a.md")
    assert (first.id, first.arrival) == (second.id, second.arrival)


def test_recover_returns_claimed_to_the_inbox_and_reports_sent(project):
    for name in ("a.md", "b.md"):
        write_task(project, name, name)
    store = FileStore()
    a = store.claim(store.load(project, "a.md"))
    b = store.mark_sent(store.claim(store.load(project, "b.md")), "s")
    sent = FileStore().recover(project)
    assert (inbox_of(project) / "a.md").exists() and not a.path.exists()
    assert [t.id for t in sent] == [b.id]
    assert FileStore().load(project, "a.md").id == a.id


def test_reject_sets_the_file_aside_with_a_reason(project):
    write_task(project, "bad.md", "x")
    FileStore().reject(project, "bad.md", "invalid field priority")
    failed = list((project / ".agent-queue" / "failed").iterdir())
    assert sorted(p.suffix for p in failed) == [".md", ".reason"]


def test_unusable_files_are_errors_not_crashes(project):
    inbox = inbox_of(project)
    inbox.mkdir(parents=True)
    (project / "secret").write_text("key")
    os.symlink(project / "secret", inbox / "link.md")
    os.mkfifo(inbox / "fifo.md")
    (inbox / "big.md").write_bytes(b"x" * 2000)
    (inbox / "bin.md").write_bytes(b"\xff\xfe")
    store = FileStore(max_task_bytes=1000)
    for name, reason in (("link.md", "symbolic link"), ("fifo.md", "not a regular file"),
                         ("big.md", "larger than max_task_bytes"), ("bin.md", "UTF-8")):
        with pytest.raises(TaskError, match=reason):
            store.load(project, name)


def test_a_file_still_changing_is_not_settled(project):
    write_task(project, "a.md", "x")
    with pytest.raises(NotSettled):
        FileStore().load(project, "a.md", settle=5.0)


def test_hidden_and_editor_files_are_not_tasks(project):
    inbox = inbox_of(project)
    inbox.mkdir(parents=True)
    for name in (".#a.md", "a.md~", ".a.md.swp", "notes.txt", "ok.md"):
        (inbox / name).write_text("x")
    assert FileStore().waiting_names(project) == ["ok.md"]


def test_move_durable_never_overwrites(tmp_path):
    (tmp_path / "a").write_text("a")
    (tmp_path / "b").write_text("b")
    with pytest.raises(FileExistsError):
        move_durable(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_text() == "b" and (tmp_path / "a").exists()
    with pytest.raises(FileNotFoundError):
        move_durable(tmp_path / "missing", tmp_path / "c")


def test_queue_orders_by_key_and_forgets_files(project):
    store = FileStore()
    q = TaskQueue()
    for i, name in enumerate(("x.md", "y.md", "z.md")):
        write_task(project, name, name)
        task = store.load(project, name)
        q.add(task, (2 - i, task.arrival))
    assert [t.name for t in q] == ["z.md", "y.md", "x.md"]
    assert q.position(q.get_file(project, "x.md").id) == 2
    q.discard_file(project, "y.md")
    assert [t.name for t in q] == ["z.md", "x.md"] and len(q) == 2

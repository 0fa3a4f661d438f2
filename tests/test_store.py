"""The file store: claims are atomic and exclusive, states are folders, nothing is overwritten;
a file that also lives elsewhere (a hard link) is not read, and is set aside if it stays so."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from harness import write_task

from dispatchd import intake
from dispatchd.config import Config
from dispatchd.engine import Engine
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


def test_arrival_order_survives_every_restart(project):
    """Files of one mtime keep the order they were noticed in, also after a second restart
    (the first one rewrites arrivals.jsonl, keeping only what still waits)."""
    tick = time.time_ns() - 10**9
    for name in ("b.md", "a.md"):
        os.utime(write_task(project, name, "x"), ns=(tick, tick))
    first = [FileStore().load(project, n, noticed=i) for i, n in enumerate(("b.md", "a.md"))]
    for _ in range(3):  # each a fresh store: a restart
        again = [FileStore().load(project, n) for n in ("a.md", "b.md")]
        assert sorted(again, key=lambda t: (t.arrival, t.order)) == \
            sorted(again, key=lambda t: [f.id for f in first].index(t.id))
        assert [t.order for t in sorted(again, key=lambda t: t.name)] == \
            [f.order for f in sorted(first, key=lambda t: t.name)]


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


def _with_engine(tmp_path: Path, pm, scenario: Callable[[Engine], Awaitable[None]]) -> Engine:
    """Run ``scenario`` on an engine (no tmux, no watcher) whose loop runs its timers."""
    cfg = Config(projects_dirs=(tmp_path / "projects",), state_dir=tmp_path / "state",
                 settle_time=0.0)
    engine = Engine(cfg, pm, store=FileStore(), transport=object())  # type: ignore[arg-type]

    async def main() -> None:
        engine._loop = asyncio.get_running_loop()  # what Engine.run does first
        await scenario(engine)

    asyncio.run(main())
    return engine


async def _until(cond: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        await asyncio.sleep(0.02)


def test_a_hard_link_that_stays_is_set_aside_after_the_grace(tmp_path, pm, monkeypatch):
    monkeypatch.setattr(intake, "HARD_LINK_GRACE", 0.6)
    original = tmp_path / "elsewhere" / "notes.md"
    original.parent.mkdir()
    original.write_text("private notes")
    inbox = inbox_of(tmp_path / "projects" / "p")
    inbox.mkdir(parents=True)
    failed = inbox.parent / "failed"

    async def scenario(engine: Engine) -> None:
        os.link(original, inbox / "x.md")
        engine.full_scan()
        await asyncio.sleep(0.3)  # within the grace: waiting, neither read nor set aside
        assert len(engine.queue) == 0 and not failed.exists()
        await _until(lambda: failed.exists() and not (inbox / "x.md").exists(), 5, "set aside")

    engine = _with_engine(tmp_path, pm, scenario)
    assert len(engine.queue) == 0
    [reason] = failed.glob("*.x.md.reason")
    text = reason.read_text()
    assert text.startswith("hard link: x.md still has 1 other link(s) to the same file after 0.6s")
    assert "dispatchd refuses files that also live elsewhere" in text
    assert [p.name for p in failed.glob("*.x.md")] == [reason.name.removesuffix(".reason")]
    assert original.read_text() == "private notes"  # the original is where it was, unchanged
    assert original.stat().st_nlink == 2  # (its second name is now in failed/; never deleted)


def test_a_file_published_by_link_then_unlink_is_queued_not_set_aside(tmp_path, pm, monkeypatch):
    monkeypatch.setattr(intake, "HARD_LINK_GRACE", 10.0)
    staged = tmp_path / "projects" / "p" / ".agent-queue" / "tmp" / "y.md"
    staged.parent.mkdir(parents=True)
    staged.write_text("---\npriority: high\n---\ndo it\n")
    inbox = inbox_of(tmp_path / "projects" / "p")
    inbox.mkdir()

    async def scenario(engine: Engine) -> None:
        engine.intake.discover()
        os.link(staged, inbox / "y.md")
        engine.intake.on_fs_event("created", inbox / "y.md")  # the event a link makes
        await asyncio.sleep(0.3)
        assert len(engine.queue) == 0  # not read while it has another name
        os.unlink(staged)  # no event in the inbox says so: dispatchd looks again by itself
        await _until(lambda: len(engine.queue) == 1, 5, "the task queued")

    engine = _with_engine(tmp_path, pm, scenario)
    [task] = engine.queue
    assert task.name == "y.md" and task.priority == "high" and task.body == "do it"
    assert not (inbox.parent / "failed").exists() and (inbox / "y.md").exists()


def test_a_huge_file_is_refused_from_its_size_without_reading_it(tmp_path):
    import resource

    project = tmp_path / "p"
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "huge.md").touch()
    os.truncate(inbox / "huge.md", 8 << 30)  # sparse: 8 GiB long, nothing on disk
    store = FileStore(max_task_bytes=1 << 20)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(TaskError, match="larger than max_task_bytes"):
        store.load(project, "huge.md")
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kib < 64 * 1024  # an 8 GiB sparse file: never read whole

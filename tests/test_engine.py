"""The engine's intake without tmux: what an event or a scan costs, and what it reads."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from pathlib import Path

from harness import write_task

from dispatchd.config import Config
from dispatchd.engine import Engine
from dispatchd.store import FileStore


class CountingStore(FileStore):
    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []

    def load(self, project, name, settle=0.0, noticed=None):  # type: ignore[no-untyped-def]
        self.loads.append(name)
        return super().load(project, name, settle, noticed)


def _engine(tmp_path: Path, pm, store: FileStore) -> Engine:
    cfg = Config(projects_dirs=(tmp_path / "projects",), state_dir=tmp_path / "state",
                 settle_time=0.0)
    return Engine(cfg, pm, store=store, transport=object())  # type: ignore[arg-type]


def test_an_event_reads_only_its_own_file_and_a_scan_rereads_nothing(tmp_path, pm):
    project = tmp_path / "projects" / "p"
    for i in range(50):
        write_task(project, f"t{i:02d}.md", f"task {i}", priority=("low", "high")[i % 2])
    store = CountingStore()
    engine = _engine(tmp_path, pm, store)
    engine.full_scan()
    assert len(store.loads) == 50 and len(engine.queue) == 50
    engine.full_scan()
    assert len(store.loads) == 50  # known files cost one lstat, no read
    path = write_task(project, "new.md", "one more", priority="critical")
    engine.intake.on_fs_event("file", path)
    assert store.loads[50:] == ["new.md"]
    assert next(iter(engine.queue)).name == "new.md"  # ordered in, no re-sort of the inbox
    os.unlink(path)
    engine.intake.on_fs_event("gone", path)
    assert len(engine.queue) == 50 and "new.md" not in [t.name for t in engine.queue]


def test_order_is_priority_then_arrival_never_the_file_name(tmp_path, pm):
    project = tmp_path / "projects" / "p"
    now = time.time()
    for age, (name, prio) in enumerate([("z.md", "default"), ("a.md", "default"),
                                        ("m.md", "high")]):
        path = write_task(project, name, name, priority=prio)
        os.utime(path, (now - 100 + age, now - 100 + age))  # z oldest, then a, then m
    engine = _engine(tmp_path, pm, FileStore())
    engine.full_scan()
    assert [t.name for t in engine.queue] == ["m.md", "z.md", "a.md"]


def _burst(project: Path, names: list[str], **front: str) -> list[Path]:
    """Files renamed into the inbox within one tick of a coarse file-system clock."""
    paths = [write_task(project, name, name, **front) for name in names]
    tick = time.time_ns() - 10**9
    for path in paths:
        os.utime(path, ns=(tick, tick))
    return paths


def test_a_burst_within_one_clock_tick_keeps_the_order_of_its_events(tmp_path, pm):
    project = tmp_path / "projects" / "p"
    (project / ".agent-queue" / "inbox").mkdir(parents=True)
    engine = _engine(tmp_path, pm, FileStore())
    engine.intake.discover()
    paths = _burst(project, ["z.md", "a.md", "m.md", "b.md"])
    for path in paths:  # the events come in the order of the renames, not of the names
        engine.intake.on_fs_event("file", path)
    assert [t.name for t in engine.queue] == ["z.md", "a.md", "m.md", "b.md"]
    again = _engine(tmp_path, pm, FileStore())  # a restart reads the order back
    again.full_scan()
    assert [t.name for t in again.queue] == ["z.md", "a.md", "m.md", "b.md"]


def test_a_burst_found_by_a_scan_goes_in_the_order_it_was_renamed_in(tmp_path, pm):
    project = tmp_path / "projects" / "p"
    names = ["05.md", "02.md", "07.md", "01.md", "08.md", "03.md", "06.md", "04.md"]
    tick = time.time_ns() - 10**9
    for name in names:  # one mtime; renamed in (ctime) in this order, a clock tick apart
        os.utime(write_task(project, name, name), ns=(tick, tick))
        time.sleep(0.02)
    _burst(tmp_path / "projects" / "q", ["00.md"], priority="critical")
    engine = _engine(tmp_path, pm, FileStore())
    engine.full_scan()  # found together (the daemon was down): no events to go by
    assert [t.name for t in engine.queue] == ["00.md", *names]


def test_a_settling_file_holds_back_later_tasks_for_one_settle_time(tmp_path, pm):
    project = tmp_path / "projects" / "p"
    cfg = Config(projects_dirs=(tmp_path / "projects",), state_dir=tmp_path / "state",
                 settle_time=0.3)
    engine = Engine(cfg, pm, store=FileStore(), transport=object())  # type: ignore[arg-type]

    def held(task) -> bool:  # type: ignore[no-untyped-def]
        earliest = engine.intake.earliest_settling()
        return earliest is not None and earliest < (task.arrival, task.order)

    async def run() -> None:
        engine._loop = asyncio.get_running_loop()
        (project / ".agent-queue" / "inbox").mkdir(parents=True)
        engine.intake.discover()
        early = write_task(project, "early.md", "still being written")  # young: it settles
        engine.intake.on_fs_event("created", early)
        assert not len(engine.queue)
        later = write_task(project, "later.md", "complete at once", priority="critical")
        engine.intake.on_fs_event("file", later)
        (task,) = list(engine.queue)
        assert held(task)  # early.md may come first
        await asyncio.sleep(0.45)  # early.md has settled and is read
        assert [t.name for t in engine.queue] == ["later.md", "early.md"]  # priority first
        assert not held(task)
        stuck = write_task(project, "slow.md", "a producer that never finishes")
        engine.intake.on_fs_event("created", stuck)
        newest = engine.queue.get_file(project, "later.md")
        assert newest is not None
        for _ in range(4):  # it keeps changing: the hold still ends after one settle_time
            os.utime(stuck)
            engine.intake.ingest(project, "slow.md", settle=None)
            await asyncio.sleep(0.1)
        assert engine.intake.earliest_settling() is None

    asyncio.run(run())


def test_a_choice_of_an_unknown_session_is_logged_once_naming_task_and_plugin(tmp_path, pm,
                                                                              caplog):
    from dispatchd import hookimpl
    from dispatchd.hooktypes import SessionInfo

    class Elsewhere:
        @hookimpl
        def select_session(self, task, candidates, config):  # type: ignore[no-untyped-def]
            return "nowhere"

    pm.register(Elsewhere(), name="elsewhere")
    engine = _engine(tmp_path, pm, FileStore())
    project = tmp_path / "projects" / "p"
    write_task(project, "t.md", "for nowhere")
    engine.full_scan()
    (task,) = list(engine.queue)
    free = [SessionInfo("auto-1", "autonomous")]
    with caplog.at_level(logging.ERROR):
        for _ in range(3):  # three rounds
            assert engine._select(task, free) is None
    errors = [r.getMessage() for r in caplog.records if "not a configured session" in r.getMessage()]
    assert len(errors) == 1, errors
    assert "'nowhere' for t.md" in errors[0] and "elsewhere" in errors[0]


def test_exit_line_counts_only_alone_on_its_line():
    from dispatchd.launcher import agent_exited, exit_marker

    marker = exit_marker()
    assert agent_exited(f"output\n{marker} 0\n$ ", marker)
    assert agent_exited(f"{marker} -1", marker)
    ps_listing = f"root 1 python -m dispatchd.trampoline /s/launch/1.json {marker}"
    assert not agent_exited(ps_listing, marker)
    assert not agent_exited(f"quoted: '{marker} 0'", marker)
    assert not agent_exited("[dispatchd] agent exited with status 0", marker)

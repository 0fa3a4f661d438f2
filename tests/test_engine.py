"""The engine's intake without tmux: what an event or a scan costs, and what it reads."""

from __future__ import annotations

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

    def load(self, project, name, settle=0.0):  # type: ignore[no-untyped-def]
        self.loads.append(name)
        return super().load(project, name, settle)


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


def test_exit_line_counts_only_alone_on_its_line():
    from dispatchd.launcher import agent_exited, exit_marker

    marker = exit_marker()
    assert agent_exited(f"output\n{marker} 0\n$ ", marker)
    assert agent_exited(f"{marker} -1", marker)
    ps_listing = f"root 1 python -m dispatchd.trampoline /s/launch/1.json {marker}"
    assert not agent_exited(ps_listing, marker)
    assert not agent_exited(f"quoted: '{marker} 0'", marker)
    assert not agent_exited("[dispatchd] agent exited with status 0", marker)

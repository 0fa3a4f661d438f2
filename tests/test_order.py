"""Order is a promise, also in a burst: on a real tmux server with the fake agent.

A script that renames a batch of files into an inbox within a few milliseconds
(``for f in *.md; do mv "$f" inbox/; done``) gives them one mtime on a file
system with a coarse clock. The bursts here are made so on purpose (``os.utime``
with one value) and must still be received in order.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from harness import AgentLog, TmuxServer, wait_for

# real tmux and processes: see test_e2e.py (only a time-out is retried, never a lost task)
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])


def _pool(n: int) -> dict[str, object]:
    return {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": n},
            "shared_projects_dir": "projects"}


def _project(tmp_path: Path, name: str = "p") -> Path:
    project = tmp_path / "projects" / name
    (project / ".agent-queue" / "inbox").mkdir(parents=True)
    return project


def _burst(tmp_path: Path, files: list[tuple[Path, str, str]]) -> None:
    """Write ``(project, name, priority)`` files elsewhere, give them one mtime, and rename
    them into their inboxes one right after the other."""
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    tick = time.time_ns()
    for project, name, priority in files:
        path = staging / f"{project.name}-{name}"
        path.write_text(f"---\npriority: {priority}\n---\n{project.name}/{name}\n")
        os.utime(path, ns=(tick, tick))
    for project, name, _ in files:
        os.rename(staging / f"{project.name}-{name}", project / ".agent-queue" / "inbox" / name)


def _received(agent_log: AgentLog) -> list[str]:
    return [r["text"].split("\n", 1)[0].split("] ", 1)[1] for r in agent_log.submits()]


def _start(tmux: TmuxServer, make_daemon, sessions: int = 1):
    for i in range(1, sessions + 1):
        tmux.new_session(f"auto-{i}")
    daemon = make_daemon({"pool": _pool(sessions)}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "started")
    return daemon


def test_a_burst_of_eight_is_received_in_order_every_time(tmp_path, tmux: TmuxServer,
                                                           agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    _start(tmux, make_daemon)
    expected: list[str] = []
    for round_ in range(3):
        names = [f"r{round_}-{i}.md" for i in range(1, 9)]
        _burst(tmp_path, [(project, n, "default") for n in names])
        expected += [f"p/{n}" for n in names]
        count = len(expected)
        wait_for(lambda n=count: len(agent_log.submits()) == n, 60, f"round {round_}")
    assert _received(agent_log) == expected


def test_a_mixed_priority_burst_goes_by_priority_then_arrival(tmp_path, tmux: TmuxServer,
                                                              agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    _start(tmux, make_daemon)
    priorities = ["default", "default", "high", "low", "critical", "default", "high", "low"]
    _burst(tmp_path, [(project, f"{i}.md", p) for i, p in enumerate(priorities, 1)])
    wait_for(lambda: len(agent_log.submits()) == 8, 60, "8 received")
    assert _received(agent_log) == [f"p/{i}.md" for i in (5, 3, 7, 1, 2, 6, 4, 8)]


def test_a_burst_into_two_projects_keeps_each_projects_order(tmp_path, tmux: TmuxServer,
                                                             agent_log: AgentLog, make_daemon):
    a, b = _project(tmp_path, "a"), _project(tmp_path, "b")
    _start(tmux, make_daemon)
    files = [((a, b)[i % 2], f"{i}.md", "high" if i in (6, 7) else "default")
             for i in range(1, 9)]
    _burst(tmp_path, files)
    wait_for(lambda: len(agent_log.submits()) == 8, 60, "8 received")
    received = _received(agent_log)
    assert received[:2] in (["a/6.md", "b/7.md"], ["b/7.md", "a/6.md"])  # priority first
    for project in ("a", "b"):  # each inbox's events keep their order
        mine = [r for r in received[2:] if r.startswith(project)]
        assert mine == sorted(mine, key=lambda r: int(r.split("/")[1].split(".")[0]))


def test_a_burst_while_the_only_session_is_busy(tmp_path, tmux: TmuxServer,
                                                agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    _start(tmux, make_daemon)
    _burst(tmp_path, [(project, "long.md", "default")])
    wait_for(lambda: agent_log.submits(), 20, "the first task at work")
    _burst(tmp_path, [(project, f"{i}.md", "default") for i in range(1, 9)])
    wait_for(lambda: len(agent_log.submits()) == 9, 60, "all received")
    assert _received(agent_log) == ["p/long.md", *[f"p/{i}.md" for i in range(1, 9)]]


def test_a_burst_across_a_restart(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                  make_daemon):
    project = _project(tmp_path)
    daemon = _start(tmux, make_daemon)
    names = [f"{i:02d}.md" for i in range(1, 9)]
    _burst(tmp_path, [(project, n, "default") for n in names])
    wait_for(lambda: agent_log.submits(), 20, "the first received")
    assert daemon.stop() == 0  # the rest wait in the inbox, with their arrivals on record
    daemon.start()
    wait_for(lambda: len(agent_log.submits()) >= 8, 60, "all received")
    received = _received(agent_log)
    assert sorted(set(received)) == [f"p/{n}" for n in names]
    assert [r for i, r in enumerate(received) if r not in received[:i]] == \
        [f"p/{n}" for n in names]  # a task cut off by the stop may come again: never out of order


def test_a_later_task_waits_while_an_earlier_file_settles(tmp_path, tmux: TmuxServer,
                                                          agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    _start(tmux, make_daemon)
    inbox = project / ".agent-queue" / "inbox"
    # written in place and not closed yet: it counts once it has not changed for settle_time
    with open(inbox / "early.md", "w") as early:
        early.write("written in place, still open: it settles first")
        early.flush()
        staging = project / ".agent-queue" / ".later.tmp"
        staging.write_text("complete at once, but it came second")
        os.rename(staging, inbox / "later.md")  # a rename: read at once
        wait_for(lambda: len(agent_log.submits()) == 2, 30, "both received")
    assert _received(agent_log)[0].startswith("written in place")

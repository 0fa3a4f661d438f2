"""End to end on a real tmux server: the daemon, the fake agent, real files."""

from __future__ import annotations

import collections
from pathlib import Path

from harness import AgentLog, TmuxServer, wait_for, write_task


def _projects(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        (tmp_path / "projects" / name).mkdir(parents=True)
        out.append(tmp_path / "projects" / name)
    return out


def _autonomous(n: int) -> dict[str, object]:
    return {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": n},
            "shared_projects_dir": "projects"}


def test_eight_tasks_on_four_sessions_each_received_once(tmp_path, tmux: TmuxServer,
                                                         agent_log: AgentLog, make_daemon):
    a, b = _projects(tmp_path, "alpha", "beta")
    for i in range(1, 5):
        tmux.new_session(f"auto-{i}")
    daemon = make_daemon({"pool": _autonomous(4)}).start()
    expected = {}
    for i in range(8):
        project = (a, b)[i % 2]
        prio = "critical" if i % 4 == 0 else "default"
        write_task(project, f"task-{i}.md", f"Body of task {i}.\nSecond line.", priority=prio)
        expected[f"task-{i}.md"] = (project, "opus" if prio == "critical" else "sonnet")

    wait_for(lambda: len(agent_log.submits()) >= 8, 60, "8 submits")
    wait_for(lambda: sum(1 for p in (a, b)
                         for _ in (p / ".agent-queue" / "done").glob("*.md")) == 8, 30, "8 done")
    submits = agent_log.submits()
    assert len(submits) == 8, submits
    seen = collections.Counter()
    for rec in submits:
        name = rec["text"].split("]", 1)[0].lstrip("[")
        seen[name] += 1
        project, model = expected[name]
        assert rec["model"] == model
        assert Path(rec["cwd"]) == project
        assert f"Body of task {name.split('-')[1].split('.')[0]}." in rec["text"]
        assert "Second line." in rec["text"]
    assert seen == {name: 1 for name in expected}
    assert daemon.log().count("DISPATCHED session=") == 8
    assert not list((a / ".agent-queue" / "inbox").iterdir())
    assert {r["dispatchd_session"] for r in agent_log.records("start")} == {
        f"auto-{i}" for i in range(1, 5)}

"""kill -9 at each named step of a dispatch, then a restart: no task lost, none typed twice."""

from __future__ import annotations

import collections
import os
from pathlib import Path

import pytest
from harness import AgentLog, TmuxServer, wait_for, write_task

from dispatchd.faults import POINTS

# real tmux and processes: see test_e2e.py (only a time-out is retried, never a lost or twice-typed task)
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])

TASKS = 20
TERMINAL = ("done", "failed", "indoubt")


def _where(project: Path) -> dict[str, list[str]]:
    out = {}
    for state in ("inbox", "claimed", "sent", *TERMINAL):
        folder = project / ".agent-queue" / state
        out[state] = sorted(p.name.split(".", 1)[-1] if state != "inbox" else p.name
                            for p in folder.glob("*.md")) if folder.is_dir() else []
    return out


@pytest.mark.parametrize("point", POINTS)
def test_crash_at_each_step_then_restart(point, tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                         make_daemon):
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    for i in (1, 2, 3):
        tmux.new_session(f"auto-{i}")
    config = {"pool": {"autonomous": {"prefix": "auto-", "start_index": 1, "max": 3},
                       "shared_projects_dir": "projects"}}
    daemon = make_daemon(config, DISPATCHD_FAULT=point).start()
    names = [f"t{i}.md" for i in range(TASKS)]
    for name in names:
        write_task(project, name, f"body of {name}")
    assert daemon.proc is not None
    assert daemon.proc.wait(timeout=60) == 137  # died at the injected point
    acked = {f.name.split(".")[3] for f in (tmp_path / "state" / "events").glob("*.prompt-submit.*")}
    daemon.env.pop("DISPATCHD_FAULT")
    daemon.start()

    def settled() -> bool:
        where = _where(project)
        return not (where["inbox"] or where["claimed"] or where["sent"]) and \
            sum(len(where[s]) for s in TERMINAL) == TASKS

    wait_for(settled, 60, f"every task in a terminal state after a crash at {point}")
    where = _where(project)
    typed = collections.Counter(r["text"].split("]", 1)[0][1:] for r in agent_log.submits())
    assert all(count == 1 for count in typed.values()), typed  # never typed twice
    pasted = collections.Counter(r["text"].split("]", 1)[0][1:] for r in agent_log.records("paste"))
    assert all(count == 1 for count in pasted.values()), pasted  # nor pasted twice
    assert sorted(where["done"] + where["failed"] + where["indoubt"]) == sorted(names)  # none lost
    for name in where["done"]:
        assert typed[name] == 1
    assert not where["failed"]
    # A submit cut off at any step (in any of the sessions) is settled from the agent's
    # screen after the restart: Enter for text left in the box, delivered when the agent took
    # it, back to the inbox when it never arrived. None of these is left in doubt.
    assert not where["indoubt"], where["indoubt"]
    if point == "after_paste":
        assert "pressing the Enter the stop cut off" in daemon.log()
    indoubt_ids = {p.name.split(".", 1)[0] for p in (project / ".agent-queue" / "indoubt").glob("*.md")}
    assert not acked & indoubt_ids, (acked, indoubt_ids)
    for reason in (project / ".agent-queue" / "indoubt").glob("*.reason"):
        assert "unknown" in reason.read_text()


def test_resolve_retry_and_drop(tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = tmp_path / "projects" / "p"
    indoubt = project / ".agent-queue" / "indoubt"
    indoubt.mkdir(parents=True)
    for tid in ("20260101T000000-aaaaaa", "20260101T000000-bbbbbb"):
        (indoubt / f"{tid}.t{tid[-1]}.md").write_text(f"task {tid}")
        (indoubt / f"{tid}.t{tid[-1]}.md.reason").write_text("unknown\n")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": {"autonomous": {"prefix": "auto-", "max": 1},
                                   "shared_projects_dir": "projects"}})
    dropped = daemon.run_once("drop", "20260101T000000-bbbbbb")  # = resolve --drop
    assert dropped.returncode == 0, dropped.stderr
    assert (project / ".agent-queue" / "failed" / "20260101T000000-bbbbbb.tb.md").exists()
    missing = daemon.run_once("resolve", "nope", "--retry")
    assert missing.returncode == 1 and "no task 'nope'" in missing.stderr
    daemon.start()
    retried = daemon.run_once("requeue", "20260101T000000-aaaaaa")  # = resolve --retry
    assert retried.returncode == 0, retried.stderr
    wait_for(lambda: agent_log.submits(), 20, "the retried task is dispatched")
    assert agent_log.submits()[0]["text"].startswith("[ta.md] task 20260101T000000-aaaaaa")
    assert not list(indoubt.iterdir())
    assert os.path.exists(project / ".agent-queue" / "journal.jsonl")

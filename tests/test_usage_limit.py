"""An agent that shows a usage limit: its session waits until the named reset, nothing is lost.

Before anything is typed, the task goes back to its inbox untouched; once its
text was delivered, the task ends in ``failed/`` (never re-sent) with a reason
that says how to retry it. Real tmux, the fake agent's ``limit-at-boot`` and
``usage-limit`` modes.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from harness import AgentLog, TmuxServer, wait_for, write_task

from dispatchd.clock import next_time

pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])


def _reset_in_two_hours() -> tuple[str, float]:
    """A limit line naming a UTC time about two hours ahead, and that time."""
    when = datetime.now(UTC) + timedelta(hours=2)
    phrase = f"{when.hour % 12 or 12}:{when.minute:02d}{'am' if when.hour < 12 else 'pm'} (UTC)"
    expected = next_time(phrase)
    assert expected is not None
    return f"You've hit your limit · resets {phrase}", expected


def _session(state_dir: Path, name: str) -> dict[str, Any]:
    try:
        status = json.loads((state_dir / "status.json").read_text())
    except (OSError, ValueError):
        return {}
    return next((s for s in status["sessions"] if s["name"] == name), {})


def _setup(tmp_path: Path, tmux: TmuxServer, mode: str) -> tuple[Path, float]:
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    text, expected = _reset_in_two_hours()
    tmux.agent_env(FAKEAGENT_MODE=mode)
    tmux.agent_env(FAKEAGENT_LIMIT_TEXT=text)
    tmux.new_session("auto-1")
    return project, expected


def _pool(n: int) -> dict[str, Any]:
    return {"pool": {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": n},
                     "shared_projects_dir": "projects"}}


def test_usage_limit_before_send_requeues_untouched_and_holds_session(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project, expected = _setup(tmp_path, tmux, "limit-at-boot")
    task = write_task(project, "t.md", "wait for the limit to lift")
    original = task.read_bytes()
    daemon = make_daemon(_pool(1)).start()
    session = wait_for(lambda: _session(tmp_path / "state", "auto-1").get("cooldown_until")
                       and _session(tmp_path / "state", "auto-1"), 20, "session held")
    assert abs(session["cooldown_until"] - expected) < 1
    assert session["state"] == "cooldown" and "usage limit" in session["last_failure"]
    wait_for(lambda: task.exists(), 10, "task back in its inbox")
    assert task.read_bytes() == original
    time.sleep(1.5)  # a held session is not launched again
    assert len(agent_log.records("start")) == 1
    assert not agent_log.records("paste") and not agent_log.submits()
    assert task.exists() and "goes back to its inbox untouched" in daemon.log()
    journal = [json.loads(line) for line in
               (project / ".agent-queue" / "journal.jsonl").read_text().splitlines()]
    released = [r for r in journal if r.get("event") == "released" or r.get("state") == "released"]
    assert released and all(r.get("attempts", 0) == 0 for r in released)


def test_usage_limit_after_send_fails_the_task_once_and_holds_session(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project, expected = _setup(tmp_path, tmux, "usage-limit")
    write_task(project, "a.md", "first")
    time.sleep(0.05)
    write_task(project, "b.md", "second")
    make_daemon(_pool(1)).start()
    failed = project / ".agent-queue" / "failed"
    reasons = wait_for(lambda: list(failed.glob("*.reason")), 30, "the limited task failed")
    reason = reasons[0].read_text()
    assert "usage limit" in reason and "--retry" in reason and "not re-sent" in reason
    session = wait_for(lambda: _session(tmp_path / "state", "auto-1").get("cooldown_until")
                       and _session(tmp_path / "state", "auto-1"), 10, "session held")
    assert abs(session["cooldown_until"] - expected) < 1
    time.sleep(1.5)  # the other task waits for the reset instead of meeting the same limit
    assert len(agent_log.submits()) == 1
    assert len(list((project / ".agent-queue" / "inbox").glob("*.md"))) == 1

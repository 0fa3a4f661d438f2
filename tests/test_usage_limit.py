"""An agent that shows a usage limit: its account waits until the named reset, nothing is lost.

Before anything is typed, the task goes back to its inbox untouched; after a turn
the limit refused before the model did anything (its transcript shows no work),
too, with its attempt not counted. Real tmux, the fake agent's ``limit-at-boot``
and ``usage-limit`` modes.
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


def _holds(state_dir: Path) -> list[dict[str, Any]]:
    try:
        return json.loads((state_dir / "status.json").read_text()).get("holds") or []
    except (OSError, ValueError):
        return []


def test_usage_limit_after_send_sends_the_task_back_and_holds_the_account(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project, expected = _setup(tmp_path, tmux, "usage-limit")
    write_task(project, "a.md", "first")
    time.sleep(0.05)
    write_task(project, "b.md", "second")
    daemon = make_daemon(_pool(1)).start()
    (hold,) = wait_for(lambda: _holds(tmp_path / "state"), 30, "the account held")
    assert hold["agent"] == "claude" and hold["kind"] == "limit"
    assert abs(hold["until"] - expected) < 1 and hold["sessions"] == ["auto-1"]
    inbox = project / ".agent-queue" / "inbox"
    wait_for(lambda: len(list(inbox.glob("*.md"))) == 2, 10, "the task back in its inbox")
    time.sleep(1.5)  # the other task waits for the reset instead of meeting the same limit
    assert len(agent_log.submits()) == 1
    assert not (project / ".agent-queue" / "failed").exists()
    journal = [json.loads(line) for line in
               (project / ".agent-queue" / "journal.jsonl").read_text().splitlines()]
    (released,) = [r for r in journal if r["event"] == "released"]
    assert released["name"] == "a.md" and released["attempts"] == 0
    assert "before the model did any work" in released["reason"]
    assert "held: rate limit until" in daemon.log()


# -- limits and outages without a reset time, the storm guard -------------------------------

def _journal(project: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in
            (project / ".agent-queue" / "journal.jsonl").read_text().splitlines()]


def _files(project: Path, folder: str) -> list[Path]:
    return sorted((project / ".agent-queue" / folder).glob("*.md"))


def _held_config(**dispatcher: Any) -> dict[str, Any]:
    return {**_pool(2), "dispatcher": {"hold_backoff": "2s", **dispatcher}}


@pytest.mark.parametrize(("mode", "kind"), [("rate-limit", "limit"), ("overloaded", "outage")])
def test_a_limit_or_outage_holds_the_account_and_each_task_is_worked_once_after_it(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon, mode, kind):
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    tmux.agent_env(FAKEAGENT_MODE=mode, FAKEAGENT_FAIL_UNTIL=str(time.time() + 5))
    tmux.new_session("auto-1")
    tmux.new_session("auto-2")
    names = [f"t{i}.md" for i in range(4)]
    for name in names:
        write_task(project, name, f"task {name}")
    daemon = make_daemon(_held_config()).start()
    (hold,) = wait_for(lambda: _holds(tmp_path / "state"), 30, "the account held")
    assert hold["kind"] == kind and hold["agent"] == "claude"
    wait_for(lambda: len(_files(project, "done")) == 4, 60, "every task done")
    assert not (project / ".agent-queue" / "failed").exists()
    worked = [r["text_first_line"] for r in agent_log.records("done")]
    assert sorted(worked) == sorted(f"[{n}] task {n}" for n in names)  # each worked once
    journal = _journal(project)
    released = [r for r in journal if r["event"] == "released"]
    assert released and all(r["attempts"] == 0 and "before the model did any work" in r["reason"]
                            for r in released)
    # From the first refusal until a task got through, one task at a time went out: the probe.
    out, probing = 0, False
    for rec in journal:
        if rec["event"] == "sent":
            assert not (probing and out), f"two tasks out while the account was held: {journal}"
            out += 1
        elif rec["event"] in ("released", "done", "failed"):
            out -= 1
            probing = (probing or rec["event"] == "released") and rec["event"] != "done"
    assert "the account works again" in daemon.log()
    assert "FAILED task=" not in daemon.log()  # on_task_finished is for real failures only
    wait_for(lambda: not _holds(tmp_path / "state"), 5, "no hold left in status")


def test_a_turn_that_failed_after_a_tool_ran_is_a_real_failure(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    tmux.agent_env(FAKEAGENT_MODE="tool-then-fail", FAKEAGENT_FAIL_UNTIL=str(time.time() + 3))
    tmux.new_session("auto-1")
    write_task(project, "a.md", "run a tool")
    time.sleep(0.05)
    write_task(project, "b.md", "the next one")
    make_daemon({**_pool(1), "dispatcher": {"hold_backoff": "3s"}}).start()
    (reason,) = wait_for(lambda: list((project / ".agent-queue" / "failed").glob("*.reason")), 30,
                         "the task failed")
    text = reason.read_text()
    assert "rate limit after the model had started working" in text and "--retry" in text
    wait_for(lambda: len(_files(project, "done")) == 1, 30, "the next task done after the hold")
    assert _files(project, "done")[0].name.endswith("b.md")
    assert len(agent_log.submits()) == 2  # the failed one was never typed again


def test_the_storm_guard_pauses_an_agent_whose_tasks_all_fail_until_resumed(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    tmux.agent_env(FAKEAGENT_MODE="fail-turn")
    tmux.new_session("auto-1")
    tmux.new_session("auto-2")
    for i in range(6):
        write_task(project, f"t{i}.md", "this fails every time")
        time.sleep(0.02)
    daemon = make_daemon(_held_config(storm_failures=3, storm_window="1m")).start()
    (hold,) = wait_for(lambda: _holds(tmp_path / "state"), 30, "the storm guard tripped")
    assert hold["kind"] == "storm"
    failed = len(_files(project, "failed"))
    time.sleep(2)  # nothing more is dispatched while paused
    assert len(_files(project, "failed")) == failed and len(_files(project, "inbox")) == 6 - failed
    assert failed in (3, 4)  # the one out when it tripped may fail too
    status = daemon.run_once("status")
    assert "paused: 3 tasks failed within 1m" in status.stdout
    assert daemon.log().count("tasks failed within") == 1  # one warning
    waiting = _files(project, "inbox")[0].name
    explained = daemon.run_once("explain", waiting).stdout
    assert "its agent takes no task now: claude: paused: 3 tasks failed" in explained, explained
    tmux.agent_env(FAKEAGENT_MODE="")
    resumed = daemon.run_once("resume", "claude")
    assert resumed.returncode == 0 and "resuming claude" in resumed.stdout
    wait_for(lambda: len(_files(project, "done")) == 6 - failed, 30, "the rest done after resume")
    assert "resumed by request" in daemon.log()

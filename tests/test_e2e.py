"""End to end on a real tmux server: the daemon, the fake agent, real files."""

from __future__ import annotations

import collections
import json
import os
import time
from pathlib import Path

import pytest
from harness import AgentLog, TmuxServer, wait_for, write_task

# Real tmux and real processes on a shared 2-core machine: a test that times out waiting is
# run once more, shown as "R" in the output (look into any that do). A failed assertion about
# what happened (a task lost, typed twice) is never retried.
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])


def _projects(tmp_path: Path, *names: str) -> list[Path]:
    out = []
    for name in names:
        (tmp_path / "projects" / name).mkdir(parents=True)
        out.append(tmp_path / "projects" / name)
    return out


def _wait_delivered(project: Path) -> None:
    """Until the agent acknowledged a task of ``project`` (its journal says so)."""
    journal = project / ".agent-queue" / "journal.jsonl"
    wait_for(lambda: journal.exists() and '"acknowledged"' in journal.read_text(), 20,
             "delivered")


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
    assert all(r["paste_count"] == 1 for r in submits)  # one bracketed paste, then Enter
    assert len(agent_log.records("paste")) == 8
    assert not agent_log.records("input_before_ready")  # never typed into a booting agent
    journal = "".join((p / ".agent-queue" / "journal.jsonl").read_text() for p in (a, b))
    assert journal.count('"acknowledged"') == 8  # each delivery confirmed by the agent's hook
    for p in (a, b):  # each ended by its Stop hook: a screen-detected end would leave a reason
        assert not list((p / ".agent-queue" / "done").glob("*.reason"))
    attempts = {rec["text"].rsplit("(dispatchd attempt ", 1)[1] for rec in submits}
    assert len(attempts) == 8  # every text names its own attempt, on its last line
    assert daemon.log().count("DISPATCHED session=") == 8
    assert not list((a / ".agent-queue" / "inbox").iterdir())
    assert {r["dispatchd_session"] for r in agent_log.records("start")} == {
        f"auto-{i}" for i in range(1, 5)}


def test_priority_order_with_one_session_and_tasks_waiting_at_start(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "solo")
    tmux.new_session("auto-1")
    order = [("a-low.md", "low"), ("b-default.md", "default"), ("c-high.md", "high"),
             ("d-critical.md", "critical"), ("e-high.md", "high")]
    for name, prio in order:  # written before the daemon starts, in "wrong" name order
        write_task(project, name, f"do {name}", priority=prio)
        time.sleep(0.02)
    time.sleep(0.6)  # older than settle_time: complete files waiting at start
    make_daemon({"pool": _autonomous(1)}).start()
    wait_for(lambda: len(agent_log.submits()) == 5, 60, "5 submits")
    names = [r["text"].split("]")[0][1:] for r in agent_log.submits()]
    assert names == ["d-critical.md", "c-high.md", "e-high.md", "b-default.md", "a-low.md"]
    assert [r["model"] for r in agent_log.submits()] == ["opus"] + ["sonnet"] * 4


def test_each_task_gets_a_fresh_agent_in_its_own_project(tmp_path, tmux: TmuxServer,
                                                          agent_log: AgentLog, make_daemon):
    a, b = _projects(tmp_path, "one", "two")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(a, "first.md", "first task", priority="critical")
    wait_for(lambda: len(agent_log.submits()) == 1, 30, "first submit")
    write_task(b, "second.md", "second task")
    wait_for(lambda: len(agent_log.submits()) == 2, 30, "second submit")
    first, second = agent_log.submits()
    assert first["pid"] != second["pid"]  # a new agent, not the old one typed into
    assert (Path(first["cwd"]), first["model"]) == (a, "opus")
    assert (Path(second["cwd"]), second["model"]) == (b, "sonnet")
    starts = agent_log.records("start")
    assert len(starts) == 2 and all("--dangerously-skip-permissions" in s["argv"] for s in starts)


def test_project_created_while_running_is_found(tmp_path, tmux: TmuxServer,
                                                  agent_log: AgentLog, make_daemon):
    _projects(tmp_path, "existing")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"poll_interval": "10m"}}).start()  # events only
    wait_for(lambda: "started" in daemon.log(), 20, "daemon start")
    late = tmp_path / "projects" / "late"
    late.mkdir()
    time.sleep(0.3)
    write_task(late, "late.md", "task in a new project")
    wait_for(lambda: len(agent_log.submits()) == 1, 20, "submit from the new project")
    assert Path(agent_log.submits()[0]["cwd"]) == late


def test_slow_writer_is_sent_whole(tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "slow")
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "daemon start")
    parts = ["---\npriority: high\n", "---\nPart one of the body.\n", "Part two.\n", "Part three.\n"]
    with open(inbox / "slow.md", "w") as fh:  # written in place, in pieces
        for part in parts:
            fh.write(part)
            fh.flush()
            time.sleep(0.3)
    wait_for(lambda: len(agent_log.submits()) == 1, 20, "submit")
    text = agent_log.submits()[0]["text"]
    assert "Part one of the body.\nPart two.\nPart three." in text


def test_launch_that_never_gets_ready_returns_the_task_and_cools_the_session(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env("auto-1", FAKEAGENT_MODE="never-ready")
    daemon = make_daemon({"pool": _autonomous(2),
                          "dispatcher": {"prompt_timeout": "2s"}}).start()
    write_task(project, "t.md", "a task")
    wait_for(lambda: "LAUNCH-FAILED session=auto-1" in daemon.log(), 20, "launch failure")
    wait_for(lambda: (project / ".agent-queue" / "inbox" / "t.md").exists(), 10, "task returned")
    assert not agent_log.submits()
    assert tmux.foreground("auto-1") == "sh"  # the half-started agent was stopped
    tmux.new_session("auto-2")  # a healthy session appears: the task goes there, not to auto-1
    wait_for(lambda: len(agent_log.submits()) == 1, 30, "submit on auto-2")
    assert agent_log.submits()[0]["dispatchd_session"] == "auto-2"
    status = json.loads(daemon.run_once("status", "--json").stdout)
    cooled = {s["name"]: s for s in status["sessions"]}["auto-1"]
    assert cooled["state"] == "cooldown" and "not ready" in cooled["last_failure"]


def test_failing_launches_end_in_failed_with_a_reason(tmp_path, tmux: TmuxServer,
                                                       agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="exit")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"cooldown": "0s", "max_attempts": 2}}).start()
    write_task(project, "doomed.md", "never runs")
    failed = project / ".agent-queue" / "failed"
    wait_for(lambda: list(failed.glob("*.doomed.md")), 30, "task in failed/")
    reason = next(failed.glob("*.reason")).read_text()
    assert "launch failed 2 times" in reason and "exited" in reason
    assert not agent_log.submits()
    # the log line follows the move to failed/: wait for it rather than race it
    wait_for(lambda: daemon.log().count("LAUNCH-FAILED") == 2, 10, "both failures logged")
    time.sleep(0.5)
    assert daemon.log().count("LAUNCH-FAILED") == 2


def test_completion_from_the_screen_when_no_hook_reports(tmp_path, tmux: TmuxServer,
                                                          agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="no-hooks")
    make_daemon({"pool": _autonomous(1), "dispatcher": {"agent_hooks": False}}).start()
    write_task(project, "one.md", "first")
    write_task(project, "two.md", "second")
    wait_for(lambda: len(list((project / ".agent-queue" / "done").glob("*.md"))) == 2, 30,
             "both done")
    assert len(agent_log.submits()) == 2
    assert not agent_log.records("hook")


def test_an_agent_error_fails_the_task_with_its_reason(tmp_path, tmux: TmuxServer,
                                                       agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="fail-turn")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "t.md", "the model will fail")
    failed = project / ".agent-queue" / "failed"
    (reason,) = wait_for(lambda: list(failed.glob("*.t.md.reason")), 20, "failed with a reason")
    assert "the agent reported a failure: invalid_request" in reason.read_text()
    assert len(agent_log.submits()) == 1


def test_an_interrupted_turn_ends_from_the_screen_and_says_so(tmp_path, tmux: TmuxServer,
                                                              agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "long.md", "a long turn\nSLEEP=60")
    write_task(project, "next.md", "the next task")
    wait_for(lambda: agent_log.submits(), 20, "first task submitted")
    wait_for(lambda: "esc to interrupt" in tmux.screen("auto-1"), 10, "agent busy")
    tmux("send-keys", "-t", "=auto-1:", "Escape")  # Claude Code runs no Stop hook for this
    done = project / ".agent-queue" / "done"
    (reason,) = wait_for(lambda: list(done.glob("*.long.md.reason")), 20, "ended from the screen")
    assert reason.read_text().startswith("interrupted")
    wait_for(lambda: len(agent_log.submits()) == 2, 20, "the session takes the next task")
    assert agent_log.records("interrupted") and not agent_log.records("done")[1:]


def test_broken_task_file_is_set_aside_and_the_daemon_runs_on(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "bad.md", "---\npriority: urgent\n---\nbody\n")
    write_task(project, "good.md", "fine")
    wait_for(lambda: len(agent_log.submits()) == 1, 20, "good task submitted")
    failed = project / ".agent-queue" / "failed"
    (kept,) = failed.glob("*.bad.md")
    assert "priority: urgent" in kept.read_text()  # never deleted
    assert "invalid field priority" in next(failed.glob("*.bad.md.reason")).read_text()
    assert daemon.proc is not None and daemon.proc.poll() is None


def test_hostile_project_and_file_names_run_no_command(tmp_path, tmux: TmuxServer,
                                                        agent_log: AgentLog, make_daemon):
    evil = tmp_path / "projects" / "-x a;$(touch PWNED1) `touch PWNED2`;"
    evil.mkdir(parents=True)
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(evil, "t$(touch PWNED3);.md", "body with ; Enter Escape C-c and \x1b[201~ inside\x07")
    wait_for(lambda: len(agent_log.submits()) == 1, 20, "submit")
    rec = agent_log.submits()[0]
    assert Path(rec["cwd"]) == evil
    assert "\x1b" not in rec["text"] and "\x07" not in rec["text"]
    assert "body with ; Enter Escape C-c and [201~ inside" in rec["text"]
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))
    write_task(evil, "log\x1b]52;c;aGk=\x07\nFORGED line.md", "names reach logs escaped")
    wait_for(lambda: len(agent_log.submits()) == 2, 20, "second submit")
    sly = tmp_path / "projects" / "p\x1b]52;c;eA==\x07\nFORGED project"  # a project path, too
    write_task(sly, "-leading-dash.md", "from a project whose name is an escape sequence")
    wait_for(lambda: len(agent_log.submits()) == 3, 20, "third submit")
    assert all("\x1b" not in r["text"] for r in agent_log.submits())
    log_text = (tmp_path / "daemon.log").read_text()
    assert "\x1b" not in log_text and "\x07" not in log_text
    assert "\nFORGED" not in log_text and "watching project" in log_text


def test_dry_run_decides_and_types_nothing(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                            make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    write_task(project, "t.md", "x", priority="critical")
    write_task(project, "broken.md", "x", priority="urgent")
    time.sleep(0.6)  # older than settle_time
    daemon = make_daemon({"pool": _autonomous(1)})
    result = daemon.run_once("run", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "DRY-RUN would dispatch session=auto-1 task=t.md model=opus" in result.stderr
    assert result.stderr.count("DRY-RUN task broken.md would be set aside") == 1  # said once
    assert (project / ".agent-queue" / "inbox" / "t.md").exists()
    assert (project / ".agent-queue" / "inbox" / "broken.md").exists()
    assert not agent_log.records()
    assert "DRY-RUN summary: 1 project(s) watched, 1 task(s) waiting" in result.stderr
    assert "would dispatch 1, 0 would wait" in result.stderr


def test_dry_run_says_what_it_sees_when_there_is_nothing_to_do(tmp_path, tmux: TmuxServer,
                                                               make_daemon):
    _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(2)})
    result = daemon.run_once("-q", "run", "--dry-run")  # the summary is a warning: -q keeps it
    assert result.returncode == 0, result.stderr
    assert ("DRY-RUN summary: 1 project(s) watched, 0 task(s) waiting; 2 session(s) configured "
            "(idle: auto-1; missing: auto-2); would dispatch 0, 0 would wait") in result.stderr


def test_sigterm_during_a_launch_returns_the_task_and_a_restart_sends_it_once(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_BOOT="4")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "t.md", "survive a restart")
    claimed = project / ".agent-queue" / "claimed"
    wait_for(lambda: list(claimed.glob("*.t.md")), 20, "claim")
    assert daemon.stop() == 0
    assert (project / ".agent-queue" / "inbox" / "t.md").exists()
    assert not list(claimed.iterdir()) and not agent_log.submits()
    tmux.agent_env(FAKEAGENT_BOOT="0.3")
    daemon.start()
    wait_for(lambda: list((project / ".agent-queue" / "done").glob("*.t.md")), 30, "done")
    assert len(agent_log.submits()) == 1


def test_sigterm_between_paste_and_enter_is_settled_by_the_next_start(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="ignore-first-enter")  # the text stays in the box meanwhile
    daemon = make_daemon({"pool": _autonomous(1), "dispatcher": {"ack_timeout": "60s"}}).start()
    write_task(project, "t.md", "sent, then the daemon is told to stop")
    wait_for(lambda: agent_log.records("enter_ignored"), 20, "pasted, Enter not taken")
    assert daemon.stop() == 0  # clean, after the submit grace
    sent = project / ".agent-queue" / "sent"
    assert list(sent.glob("*.t.md")) and not agent_log.submits()
    assert "the next start settles it" in daemon.log()
    daemon.start()
    done = project / ".agent-queue" / "done"
    wait_for(lambda: list(done.glob("*.t.md")), 30, "done after the restart")
    assert "pressing the Enter the stop cut off" in daemon.log()
    assert len(agent_log.records("paste")) == 1 and len(agent_log.submits()) == 1
    assert not list((project / ".agent-queue" / "indoubt").glob("*"))


def test_a_kill_between_paste_and_enter_then_a_restart_delivers_once(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}, DISPATCHD_FAULT="after_paste").start()
    write_task(project, "t.md", "pasted, then the daemon is killed")
    assert daemon.proc is not None and daemon.proc.wait(timeout=30) == 137
    assert agent_log.records("paste") and not agent_log.submits()
    daemon.env.pop("DISPATCHD_FAULT")
    daemon.start()
    done = project / ".agent-queue" / "done"
    wait_for(lambda: list(done.glob("*.t.md")), 30, "done after the restart")
    assert len(agent_log.records("paste")) == 1 and len(agent_log.submits()) == 1
    assert not list((project / ".agent-queue" / "indoubt").glob("*"))


def test_restart_while_an_agent_works_keeps_the_task_and_learns_its_end(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "long.md", "work for a while\nSLEEP=3")
    write_task(project, "next.md", "the next one")
    wait_for(lambda: len(agent_log.submits()) == 1, 20, "first submit")
    assert daemon.stop() == 0
    sent = project / ".agent-queue" / "sent"
    assert len(list(sent.glob("*.md"))) == 1
    daemon.start()
    wait_for(lambda: len(list((project / ".agent-queue" / "done").glob("*.md"))) == 2, 30,
             "both done")
    assert [r["text"].split("]")[0] for r in agent_log.submits()] == ["[long.md", "[next.md"]


def test_a_second_daemon_on_the_same_config_refuses_to_start(tmp_path, tmux, agent_log,
                                                              make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_BOOT="4")  # the claim stays in flight a while
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "t.md", "claimed by the first daemon")
    claimed = project / ".agent-queue" / "claimed"
    (held,) = wait_for(lambda: list(claimed.glob("*.t.md")), 20, "claimed by the first")
    second = daemon.run_once("run")
    assert second.returncode == 4 and "another dispatchd" in second.stderr
    assert held.exists()  # the second one touched nothing: no recovery of the first's claim
    assert '"released"' not in (project / ".agent-queue" / "journal.jsonl").read_text()
    wait_for(lambda: list((project / ".agent-queue" / "done").glob("*.t.md")), 30, "done")
    assert len(agent_log.submits()) == 1


def test_a_stale_stop_event_never_ends_the_current_task(tmp_path, tmux: TmuxServer,
                                                         agent_log: AgentLog, make_daemon):
    from dispatchd.callbacks import post_event

    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "long.md", "long work\nSLEEP=3")
    wait_for(lambda: agent_log.submits(), 20, "submit")
    post_event(tmp_path / "state", "stop", "auto-1", "an-older-task", {})
    wait_for(lambda: "ignoring stop event for task an-older-task" in daemon.log(), 10, "ignored")
    sent = project / ".agent-queue" / "sent"
    assert len(list(sent.glob("*.md"))) == 1  # still working
    wait_for(lambda: list((project / ".agent-queue" / "done").glob("*.md")), 20, "real stop")


def test_a_session_killed_mid_task_fails_the_task_with_a_reason(tmp_path, tmux: TmuxServer,
                                                                 agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "doomed.md", "long work\nSLEEP=30")
    _wait_delivered(project)
    tmux("kill-session", "-t", "=auto-1")
    tmux.new_session("auto-1")  # same name, new pane: not the agent we gave the task to
    failed = project / ".agent-queue" / "failed"
    wait_for(lambda: list(failed.glob("*.reason")), 20, "failed")
    assert "session lost" in next(failed.glob("*.reason")).read_text()


def test_an_agent_that_exits_mid_task_fails_it_and_the_session_goes_on(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "crash.md", "the agent dies on this\nSLEEP=30")
    write_task(project, "after.md", "the next one")
    wait_for(lambda: "esc to interrupt" in tmux.screen("auto-1"), 20, "agent busy")
    tmux("send-keys", "-t", "=auto-1:", "C-c")  # the agent exits back to the shell
    failed = project / ".agent-queue" / "failed"
    (reason,) = wait_for(lambda: list(failed.glob("*.crash.md.reason")), 20, "failed")
    assert "the agent exited before reporting completion" in reason.read_text()
    wait_for(lambda: len(agent_log.submits()) == 2, 20, "the session takes the next task")
    assert [r["text"].split("]")[0] for r in agent_log.submits()] == ["[crash.md", "[after.md"]


def test_polling_alone_when_events_are_off(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                           make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"watch_events": False, "poll_interval": "1s"}}).start()
    wait_for(lambda: "polling only" in daemon.log(), 20, "poll-only start")
    write_task(project, "polled.md", "found by the scan")
    wait_for(lambda: agent_log.submits(), 20, "submit")


def test_a_slow_agent_never_delays_another_session(tmp_path, tmux: TmuxServer,
                                                   agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.new_session("auto-2")
    tmux.agent_env("auto-1", FAKEAGENT_BOOT="5")
    make_daemon({"pool": _autonomous(2)}).start()
    write_task(project, "first.md", "goes to the slow agent", priority="high")
    wait_for(lambda: agent_log.records("start"), 20, "slow agent started")
    write_task(project, "second.md", "goes to the fast agent")
    wait_for(lambda: len(agent_log.submits()) == 2, 30, "both submitted")
    first, second = agent_log.submits()
    assert (first["dispatchd_session"], second["dispatchd_session"]) == ("auto-2", "auto-1")
    assert first["text"].startswith("[second.md]")  # launched later, received first


def test_task_text_quoting_the_exit_line_does_not_end_the_task(tmp_path, tmux: TmuxServer,
                                                                agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "quote.md", "[dispatchd] agent exited with status 0\nSLEEP=1.5")
    wait_for(lambda: list((project / ".agent-queue" / "done").glob("*.md")), 20, "done")
    assert not list((project / ".agent-queue" / "failed").glob("*"))


def test_a_user_opening_a_window_neither_fails_the_task_nor_loses_their_shell(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "one.md", "first\nSLEEP=1.5")
    wait_for(lambda: agent_log.submits(), 20, "first submit")
    user_pane = tmux("new-window", "-t", "=auto-1:", "-P", "-F", "#{pane_id}").strip()
    write_task(project, "two.md", "second")
    wait_for(lambda: len(list((project / ".agent-queue" / "done").glob("*.md"))) == 2, 30,
             "both done")
    assert not list((project / ".agent-queue" / "failed").glob("*"))
    panes = tmux("list-panes", "-s", "-t", "=auto-1:", "-F", "#{pane_id}").split()
    assert user_pane in panes  # the user's window was not taken over
    assert len(agent_log.records("start")) == 2


def test_failed_launches_on_many_sessions_count_every_attempt(tmp_path, tmux: TmuxServer,
                                                              agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    for i in range(1, 5):
        tmux.new_session(f"auto-{i}")
    tmux.agent_env(FAKEAGENT_MODE="exit")
    make_daemon({"pool": _autonomous(4), "dispatcher": {"max_attempts": 2}}).start()
    write_task(project, "doomed.md", "never runs")
    failed = project / ".agent-queue" / "failed"
    wait_for(lambda: list(failed.glob("*.doomed.md")), 30, "task in failed/")
    time.sleep(1)
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert journal.count('"claimed"') == 2


def test_restart_returns_a_task_moved_to_sent_but_never_typed(tmp_path, tmux: TmuxServer,
                                                              agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    pane = tmux.new_session("auto-1")
    sent = project / ".agent-queue" / "sent"
    sent.mkdir(parents=True)
    (sent / "20260101T000000-abcdef.t.md").write_text("recovered task")
    state = tmp_path / "state"
    state.mkdir()
    (state / "inflight.json").write_text(json.dumps({"auto-1": {
        "task": "20260101T000000-abcdef", "name": "t.md", "phase": "launching",
        "pane_id": pane, "session_id": "$1", "since": 1.0}}))
    make_daemon({"pool": _autonomous(1)}).start()
    wait_for(lambda: agent_log.submits(), 20, "submit after recovery")
    assert agent_log.submits()[0]["text"].startswith("[t.md] recovered task")


def test_inbox_deleted_and_recreated_is_still_watched(tmp_path, tmux: TmuxServer,
                                                      agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"poll_interval": "10m"}}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "start")
    inbox.rmdir()
    time.sleep(0.3)
    inbox.mkdir()
    time.sleep(0.3)
    write_task(project, "again.md", "after re-creation")
    wait_for(lambda: agent_log.submits(), 20, "submit from the re-created inbox")
    inbox.rename(project / ".agent-queue" / "old-inbox")  # renamed away, then a new one
    time.sleep(0.3)
    (project / ".agent-queue" / "old-inbox" / "stale.md").write_text("not in an inbox")
    inbox.mkdir()
    time.sleep(0.3)
    write_task(project, "third.md", "after the rename")
    wait_for(lambda: len(agent_log.submits()) == 2, 20, "submit from the new inbox")
    time.sleep(0.5)
    assert [r["text"].split("] ")[0] for r in agent_log.submits()] == ["[again.md", "[third.md"]


def test_projects_dir_behind_a_symlink_is_watched(tmp_path, tmux: TmuxServer,
                                                  agent_log: AgentLog, make_daemon):
    real = tmp_path / "real-projects"
    real.mkdir()
    (tmp_path / "projects").symlink_to(real)
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"poll_interval": "10m"}}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "start")
    (tmp_path / "projects" / "new").mkdir()
    time.sleep(0.3)
    write_task(tmp_path / "projects" / "new", "t.md", "in a symlinked projects dir")
    wait_for(lambda: agent_log.submits(), 20, "submit")
    assert Path(agent_log.submits()[0]["cwd"]) == real / "new"


def test_a_symlinked_inbox_is_watched(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                      make_daemon):
    (project,) = _projects(tmp_path, "p")
    elsewhere = tmp_path / "box"
    elsewhere.mkdir()
    (project / ".agent-queue").mkdir()
    (project / ".agent-queue" / "inbox").symlink_to(elsewhere)
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1),
                          "dispatcher": {"poll_interval": "10m"}}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "start")
    (elsewhere / ".t.tmp").write_text("via a symlinked inbox")
    os.rename(elsewhere / ".t.tmp", elsewhere / "t.md")
    wait_for(lambda: agent_log.submits(), 20, "submit")


def test_a_swallowed_enter_is_pressed_once_more_never_the_text(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="ignore-first-enter")
    make_daemon({"pool": _autonomous(1), "dispatcher": {"ack_timeout": "4s"}}).start()
    write_task(project, "t.md", "line one\nline two\nline three\nline four")
    wait_for(lambda: list((project / ".agent-queue" / "done").glob("*.md")), 30, "done")
    assert len(agent_log.records("enter_ignored")) == 1
    assert len(agent_log.records("paste")) == 1 and len(agent_log.submits()) == 1
    assert '"acknowledged"' in (project / ".agent-queue" / "journal.jsonl").read_text()


def test_hooks_that_never_fire_do_not_put_delivered_tasks_in_doubt(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    for i in range(1, 5):
        tmux.new_session(f"auto-{i}")
    tmux.agent_env(FAKEAGENT_MODE="no-hooks")  # it never reports back, as with disableAllHooks
    daemon = make_daemon({"pool": _autonomous(4), "dispatcher": {"ack_timeout": "15s"}}).start()
    for i in range(8):
        write_task(project, f"t{i}.md", f"quietly done {i}")
    done = project / ".agent-queue" / "done"
    wait_for(lambda: len(list(done.glob("*.md"))) == 8, 60, "all 8 done")
    assert not list((project / ".agent-queue" / "indoubt").glob("*"))
    assert len(agent_log.submits()) == 8  # each typed once
    assert not agent_log.records("empty_enter")  # the text was submitted: no second Enter
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert journal.count('"confirmed": "screen"') == 8
    warnings = daemon.log().count("ran none of dispatchd's hooks")
    assert 1 <= warnings <= 4  # once per session that took a task
    assert "disableAllHooks" in daemon.log()
    assert not list(done.glob("*.reason"))  # done from the screen, not as "interrupted"


def test_without_acknowledgements_the_screen_confirms_the_submit(tmp_path, tmux: TmuxServer,
                                                                  agent_log: AgentLog,
                                                                  make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="no-hooks,ignore-first-enter")
    daemon = make_daemon({"pool": _autonomous(1), "dispatcher": {"agent_hooks": False}}).start()
    write_task(project, "t.md", "confirmed by the screen")
    done = project / ".agent-queue" / "done"
    wait_for(lambda: list(done.glob("*.t.md")), 30, "done")
    assert len(agent_log.records("paste")) == 1 and len(agent_log.submits()) == 1
    assert len(agent_log.records("enter_ignored")) == 1  # one more Enter, never the text
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert '"confirmed": "screen"' in journal and '"acknowledged"' not in journal
    assert "as its screen shows (this agent sends no acknowledgement)" in daemon.log()


def test_a_submit_the_screen_never_confirms_is_in_doubt(tmp_path, tmux: TmuxServer,
                                                        agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="no-hooks,ignore-enters")
    make_daemon({"pool": _autonomous(1), "dispatcher": {"agent_hooks": False}}).start()
    write_task(project, "t.md", "stuck in the input box")
    indoubt = project / ".agent-queue" / "indoubt"
    (reason,) = wait_for(lambda: list(indoubt.glob("*.reason")), 30, "in doubt")
    assert "still in the agent's input box after a second Enter" in reason.read_text()
    time.sleep(1)
    assert len(agent_log.records("paste")) == 1 and not agent_log.submits()
    assert len(agent_log.records("enter_ignored")) == 2


def test_an_acknowledgement_of_another_attempt_does_not_count(tmp_path, tmux: TmuxServer,
                                                              agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="no-hooks,ignore-enters")  # nothing but the forgery speaks
    daemon = make_daemon({"pool": _autonomous(1), "dispatcher": {"ack_timeout": "4s"}}).start()
    write_task(project, "t.md", "acknowledged only by its own attempt")
    (paste,) = wait_for(lambda: agent_log.records("paste"), 20, "pasted")
    task_id = json.loads((tmp_path / "state" / "inflight.json").read_text())["auto-1"]["task"]
    stale = paste["text"].rsplit("(dispatchd attempt ", 1)[0] + "(dispatchd attempt 0badc0de)"
    forged = daemon.run_once("hook", "prompt-submit", "--session", "auto-1", "--task", task_id,
                             "--state-dir", str(tmp_path / "state"),
                             input=json.dumps({"prompt": stale}))
    assert forged.returncode == 0, forged.stderr
    indoubt = project / ".agent-queue" / "indoubt"
    wait_for(lambda: list(indoubt.glob("*.reason")), 30, "in doubt despite the stale ack")
    assert "attempt 0badc0de, not the current attempt" in daemon.log()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give files to another user")
def test_unsafe_inboxes_and_foreign_files_are_refused(tmp_path, tmux: TmuxServer,
                                                      agent_log: AgentLog, make_daemon):
    open_box, foreign, theirs, shared = _projects(tmp_path, "open", "foreign", "theirs", "shared")
    write_task(open_box, "planted.md", "anyone could have written this")
    os.chmod(open_box / ".agent-queue" / "inbox", 0o777)
    write_task(theirs, "planted.md", "in an inbox someone else owns")
    os.chown(theirs / ".agent-queue" / "inbox", 65534, 65534)
    write_task(shared, "planted.md", "in an inbox a whole group may write")
    os.chown(shared / ".agent-queue" / "inbox", os.getuid(), 65534)
    os.chmod(shared / ".agent-queue" / "inbox", 0o775)
    write_task(foreign, "theirs.md", "written by someone else")
    os.chown(foreign / ".agent-queue" / "inbox" / "theirs.md", 65534, 65534)
    write_task(foreign, "mine.md", "written by me")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    wait_for(lambda: agent_log.submits(), 20, "the legitimate task")
    time.sleep(1)
    assert [r["text"].split("]")[0] for r in agent_log.submits()] == ["[mine.md"]
    log_text = daemon.log()
    assert "refusing the inbox of" in log_text and "writable by every user" in log_text
    assert "owned by another user (uid 65534)" in log_text
    assert "writable by the members of group 65534" in log_text
    for box in (open_box, theirs, shared):  # refused, and left exactly where it was
        assert (box / ".agent-queue" / "inbox" / "planted.md").exists()
    reason = next((foreign / ".agent-queue" / "failed").glob("*.reason")).read_text()
    assert "owned by another user" in reason


def test_a_startup_dialog_waits_for_a_person_and_the_task_goes_on(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    tmux.agent_env(FAKEAGENT_MODE="trust-dialog")
    daemon = make_daemon({"pool": _autonomous(1), "dispatcher": {"prompt_timeout": "1s"}}).start()
    write_task(project, "t.md", "must not land in a dialog")
    wait_for(lambda: "waits at its folder trust dialog in session auto-1" in daemon.log(), 20,
             "the dialog reported")
    time.sleep(3)  # well past prompt_timeout: still held, nothing typed, nothing counted
    log = daemon.log()
    assert "LAUNCH-FAILED" not in log and log.count("waits at its folder trust dialog") == 1
    assert "trust_projects" in log
    assert not agent_log.records("paste_into_dialog") and not agent_log.records("dialog_enter")
    status = json.loads(daemon.run_once("status", "--json").stdout)
    (session,) = status["sessions"]
    assert (session["state"], session["detail"]) == ("waiting_for_person", "folder trust dialog")
    assert "answer it there" in session["note"]
    explained = daemon.run_once("status").stdout
    assert "waiting for a person" in explained
    tmux("send-keys", "-t", "=auto-1:", "Enter")  # a person answers: trust the folder
    wait_for(lambda: agent_log.submits(), 20, "the same task submitted")
    done = project / ".agent-queue" / "done"
    wait_for(lambda: list(done.glob("*.t.md")), 20, "done")
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert '"released"' not in journal  # held all along: never back in the inbox
    assert len(agent_log.records("start")) == 1  # the agent that showed the dialog took it


def test_tmux_server_killed_and_restarted(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                          make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _autonomous(1)}).start()
    wait_for(lambda: "started" in daemon.log(), 20, "start")
    tmux("kill-server")
    write_task(project, "waits.md", "waits for tmux to come back")
    time.sleep(1.5)
    assert (project / ".agent-queue" / "inbox" / "waits.md").exists()  # not claimed
    assert daemon.proc is not None and daemon.proc.poll() is None  # still up
    tmux.start()
    tmux.new_session("auto-1")
    wait_for(lambda: agent_log.submits(), 20, "dispatched once tmux is back")


def test_tmux_server_killed_mid_task_ends_it_as_session_lost(tmp_path, tmux: TmuxServer,
                                                             agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    write_task(project, "doomed.md", "long work\nSLEEP=60")
    _wait_delivered(project)
    tmux("kill-server")
    time.sleep(1)
    tmux.start()
    tmux.new_session("auto-1")  # tmux's ids start again: %0, $0 … may repeat the old ones
    failed = project / ".agent-queue" / "failed"
    (reason,) = wait_for(lambda: list(failed.glob("*.reason")), 20, "failed, not hanging")
    assert "session lost" in reason.read_text()
    assert len(agent_log.submits()) == 1


def test_recovery_keeps_every_record_while_it_settles_cut_off_submits(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    pane1, pane2 = tmux.new_session("auto-1"), tmux.new_session("auto-2")
    sent = project / ".agent-queue" / "sent"
    sent.mkdir(parents=True)
    (sent / "20260101T000000-aaaaaa.cut.md").write_text("cut off mid-submit")
    (sent / "20260101T000000-bbbbbb.busy.md").write_text("still being worked on")
    state = tmp_path / "state"
    state.mkdir()
    sid = tmux("display-message", "-p", "-t", pane2, "#{session_id}").strip()
    (state / "inflight.json").write_text(json.dumps({
        "auto-1": {"task": "20260101T000000-aaaaaa", "name": "cut.md", "phase": "sending",
                   "pane_id": pane1, "session_id": "$0", "since": 1.0},
        "auto-2": {"task": "20260101T000000-bbbbbb", "name": "busy.md", "phase": "working",
                   "pane_id": pane2, "session_id": sid, "since": 1.0}}))
    daemon = make_daemon({"pool": _autonomous(2)}).start()
    indoubt = project / ".agent-queue" / "indoubt"
    wait_for(lambda: list(indoubt.glob("*.cut.md")), 20, "cut-off task in doubt")
    wait_for(lambda: "started" in daemon.log(), 20, "start")
    records = json.loads((state / "inflight.json").read_text())
    assert records["auto-2"]["task"] == "20260101T000000-bbbbbb"  # not erased by the first
    assert (sent / "20260101T000000-bbbbbb.busy.md").exists()


def test_odd_entries_in_an_inbox_are_set_aside_and_never_block(tmp_path, tmux: TmuxServer,
                                                               agent_log: AgentLog, make_daemon):
    (project,) = _projects(tmp_path, "p")
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    (inbox / "folder.md").mkdir()
    os.mkfifo(inbox / "pipe.md")
    (tmp_path / "secret.txt").write_text("never pasted")
    (inbox / "link.md").symlink_to(tmp_path / "secret.txt")
    write_task(project, "real.md", "the only real task")
    tmux.new_session("auto-1")
    make_daemon({"pool": _autonomous(1)}).start()
    failed = project / ".agent-queue" / "failed"
    wait_for(lambda: len(list(failed.glob("*.reason"))) == 3, 20, "three set aside")
    wait_for(lambda: agent_log.submits(), 20, "the real task")
    assert [r["text"].split("]")[0] for r in agent_log.submits()] == ["[real.md"]
    assert not any("never pasted" in r.get("text", "") for r in agent_log.records())
    assert (failed / next(failed.glob("*.folder.md")).name).is_dir()  # moved, not deleted

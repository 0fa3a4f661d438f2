"""The pool belongs to the person: on a real tmux server, dispatchd takes only idle panes,
never touches a person's job or typed line, and starts agents as their shell would."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from harness import FAKEAGENT, AgentLog, TmuxServer, wait_for, write_task

# real tmux and processes: see test_e2e.py (only a time-out is retried, never a lost task)
pytestmark = pytest.mark.flaky(reruns=1, only_rerun=["timed out"])

MINIMAL_PATH = "/usr/bin:/bin"
"""What a service manager gives a daemon: no ~/.local/bin, no npm prefix, no nvm."""


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    return project


def _pool(n: int) -> dict[str, object]:
    return {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": n},
            "shared_projects_dir": "projects"}


def _done(project: Path) -> list[Path]:
    return sorted((project / ".agent-queue" / "done").glob("*.md"))


def _sent_sessions(project: Path) -> list[str]:
    journal = (project / ".agent-queue" / "journal.jsonl").read_text().splitlines()
    return [r["session"] for r in map(json.loads, journal) if r["event"] == "sent"]


def _session_state(daemon, name: str) -> dict[str, object]:
    status = json.loads(daemon.run_once("status", "--json").stdout)
    return {s["name"]: s for s in status["sessions"]}[name]


def _person_home(tmp_path: Path) -> Path:
    """A HOME whose ``.profile`` puts ``~/.local/bin`` on the PATH (as Debian's does), and
    ``fakeclaude`` there: the fake agent under a name only a login shell of that HOME finds."""
    home = tmp_path / "person"
    folder = home / ".local" / "bin"
    folder.mkdir(parents=True)
    script = folder / "fakeclaude"
    script.write_text(f"#!/bin/sh\nexec {sys.executable} {FAKEAGENT} \"$@\"\n")
    script.chmod(0o755)
    (home / ".profile").write_text('PATH="$HOME/.local/bin:$PATH"\n')
    return home


def test_a_persons_foreground_job_is_never_touched(tmp_path, tmux: TmuxServer,
                                                   agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    for i in (1, 2, 3):
        tmux.new_session(f"auto-{i}")
        tmux.wait_for_prompt(f"auto-{i}")
    pidfile = tmp_path / "job.pid"
    tmux("send-keys", "-t", "=auto-1:", f"sh -c 'echo $$ > {pidfile}; exec sleep 300'", "Enter")
    wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), 10, "the person's job")
    job = int(pidfile.read_text())
    daemon = make_daemon({"pool": _pool(3)}).start()
    for i in range(4):
        write_task(project, f"t{i}.md", f"task {i}")
    wait_for(lambda: len(_done(project)) == 4, 60, "4 tasks done")
    os.kill(job, 0)  # the person's job is alive
    assert tmux.foreground("auto-1") == "sleep"
    assert set(_sent_sessions(project)) == {"auto-2", "auto-3"}
    assert not [r for r in agent_log.submits() if r.get("dispatchd_session") == "auto-1"]
    state = wait_for(lambda: (s := _session_state(daemon, "auto-1"))["state"] != "idle" and s,
                     15, "auto-1 shown as busy")
    assert (state["state"], state["detail"]) == ("busy", "not dispatchd's: sleep"), state
    assert "busy (not dispatchd's: sleep)" in daemon.run_once("status").stdout
    write_task(project, "waits.md", "waits for a free session")
    os.kill(job, signal.SIGTERM)  # the person's job ends: auto-1 becomes free
    wait_for(lambda: len(_done(project)) == 5, 30, "the next task done")


def test_a_half_typed_line_survives_a_dispatch(tmp_path, tmux: TmuxServer, agent_log: AgentLog,
                                               make_daemon):
    project = _project(tmp_path)
    tmux.new_session("auto-1")
    tmux.wait_for_prompt("auto-1")
    tmux("send-keys", "-t", "=auto-1:", "-l", "git commit -m 'half a thou")
    wait_for(lambda: "half a thou" in tmux.screen("auto-1"), 10, "the typed line")
    daemon = make_daemon({"pool": _pool(2)}).start()
    write_task(project, "t0.md", "task 0")
    wait_for(lambda: _session_state(daemon, "auto-1")["state"] == "busy",
             20, "auto-1 shown as busy")
    why = daemon.run_once("explain", "t0.md").stdout
    assert "auto-1 (autonomous): busy (not dispatchd's: typed:" in why, why
    assert "auto-2 (autonomous): missing" in why, why
    assert f"create it: `tmux -S {tmux.socket} new-session -d -s auto-2`" in why, why
    assert "`dispatchd pool up --all` creates every autonomous session" in why
    tmux.new_session("auto-2")  # a free session appears: the tasks go there
    for i in (1, 2):
        write_task(project, f"t{i}.md", f"task {i}")
    wait_for(lambda: len(_done(project)) == 3, 60, "3 tasks done")
    assert set(_sent_sessions(project)) == {"auto-2"}
    rows = [r for r in tmux.screen("auto-1").splitlines() if r.strip()]
    assert rows[-1].endswith("git commit -m 'half a thou"), rows  # untouched, still the last
    assert tmux.foreground("auto-1") == "sh"
    assert not agent_log.records("start") or all(
        r.get("dispatchd_session") != "auto-1" for r in agent_log.records("start"))


def _env_i_daemon(make_daemon, tmp_path: Path, pool: dict[str, object]):
    daemon = make_daemon({"pool": pool, "dispatcher": {"agent_command": ["fakeclaude"]}})
    daemon.env = {"PATH": MINIMAL_PATH, "HOME": str(tmp_path / "home")}  # env -i PATH=… HOME=…
    return daemon


def test_a_daemon_with_a_minimal_path_finds_the_agent_on_the_sessions_path(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    home = _person_home(tmp_path)
    for i in (1, 2):
        tmux.new_session(f"auto-{i}", HOME=str(home))
    daemon = _env_i_daemon(make_daemon, tmp_path, _pool(2)).start()
    for i in range(4):
        write_task(project, f"t{i}.md", f"task {i}")
    wait_for(lambda: len(_done(project)) == 4, 60, "4 tasks done")
    assert "LAUNCH-FAILED" not in daemon.log() and "not found" not in daemon.log()
    assert len(agent_log.submits()) == 4
    assert not list((project / ".agent-queue" / "failed").glob("*"))


def test_a_missing_agent_is_named_at_start_and_nothing_is_claimed_for_it(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    tmux.new_session("auto-1", HOME=str(_person_home(tmp_path)))
    tmux.new_session("auto-2", HOME=str(tmp_path / "other"))  # its shell cannot find fakeclaude
    daemon = _env_i_daemon(make_daemon, tmp_path, _pool(2)).start()
    wait_for(lambda: "not found in session auto-2" in daemon.log(), 20, "the missing agent named")
    assert "'fakeclaude' is not on its shell's PATH" in daemon.log()
    assert "LAUNCH-FAILED" not in daemon.log()
    for i in range(4):
        write_task(project, f"t{i}.md", f"task {i}\nSLEEP=0.3")
    wait_for(lambda: len(_done(project)) == 4, 60, "4 tasks done")
    assert set(_sent_sessions(project)) == {"auto-1"}
    journal = (project / ".agent-queue" / "journal.jsonl").read_text()
    assert '"released"' not in journal and "LAUNCH-FAILED" not in daemon.log()
    missing = _session_state(daemon, "auto-2")
    assert (missing["state"], missing["detail"]) == ("agent_missing", "claude")
    assert daemon.log().count("not found in session auto-2") == 1  # said once


def test_missing_sessions_show_as_missing(tmp_path, tmux: TmuxServer, make_daemon):
    tmux.new_session("auto-1")
    daemon = make_daemon({"pool": _pool(2)})
    offline = json.loads(daemon.run_once("status", "--json").stdout)
    assert offline["daemon"]["state"] == "not running"
    assert [(s["state"], s["detail"]) for s in offline["sessions"]] == [
        ("unknown", "daemon not running"), ("missing", None)]
    assert "unknown (daemon not running)" in daemon.run_once("status").stdout
    daemon.start()
    wait_for(lambda: "started" in daemon.log(), 20, "started")
    time.sleep(0.5)
    states = {s["name"]: s["state"] for s in
              json.loads(daemon.run_once("status", "--json").stdout)["sessions"]}
    assert states == {"auto-1": "idle", "auto-2": "missing"}
    assert "missing" in daemon.run_once("status").stdout
    hint = f"(create one with: tmux -S {tmux.socket} new-session -d -s auto-2)"
    assert hint in daemon.log()  # the configured server, ready to paste


def test_a_daemon_started_in_a_pool_session_never_takes_its_own_pane(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    for i in (1, 2):
        tmux.new_session(f"auto-{i}")
        tmux.wait_for_prompt(f"auto-{i}")
    daemon = make_daemon({"pool": _pool(2)})  # the config; started by hand in auto-1 below
    log = tmp_path / "inside.log"
    line = (f"HOME={tmp_path / 'home'} {sys.executable} -m dispatchd -v -c {daemon.config_path}"
            f" run 2> {log}")
    tmux("send-keys", "-t", "=auto-1:", "-l", line)
    tmux("send-keys", "-t", "=auto-1:", "Enter")
    wait_for(lambda: log.exists() and "started" in log.read_text(), 20, "the daemon in auto-1")
    for i in range(3):
        write_task(project, f"t{i}.md", f"task {i}")
    wait_for(lambda: len(_done(project)) == 3, 60, "3 tasks done")
    assert set(_sent_sessions(project)) == {"auto-2"}
    text = log.read_text()
    assert "session auto-1: this daemon runs in this session's pane" in text
    assert text.count("this daemon runs in this session's pane") == 1
    tmux("send-keys", "-t", "=auto-1:", "C-c")  # the person stops it: a clean stop
    wait_for(lambda: "stopped:" in log.read_text(), 20, "a clean stop")

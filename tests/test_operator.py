"""Operator commands: init, pool up/down, explain."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from click.testing import CliRunner
from harness import TmuxServer, pool_config, wait_for, write_task

from dispatchd.cli import Context, cli
from dispatchd.config import load_config
from dispatchd.pluginmanager import get_plugin_manager


def invoke(*args: str, input: str | None = None):
    ctx = Context(get_plugin_manager(entry_points=False), None)
    return CliRunner().invoke(cli, list(args), obj=ctx, input=input)


def sessions(tmux: TmuxServer) -> set[str]:
    return set(tmux("list-sessions", "-F", "#{session_name}").split())


def test_init_writes_a_config_that_loads_and_runs(tmp_path, tmux):
    path = tmp_path / "conf" / "config.yaml"
    res = invoke("init", "--path", str(path))
    assert res.exit_code == 0, res.output
    assert path.read_text().count("#") > 10
    cfg = load_config(path)
    assert cfg.autonomous.prefix == "ccl-auto-" and cfg.default_agent == "claude"
    again = invoke("init", "--path", str(path))
    assert again.exit_code == 1 and "already exists" in again.output and "--force" in again.output
    # the commented keys work as they are once uncommented
    text = path.read_text()
    text = text.replace("# socket_path: /tmp/dispatchd.sock", f"socket_path: {tmux.socket}")
    text = text.replace("# state_dir: ~/.local/state/dispatchd", f"state_dir: {tmp_path / 'st'}")
    text = text.replace("shared_projects_dir: ~/projects",
                        f"shared_projects_dir: {tmp_path / 'projects'}")
    (tmp_path / "projects").mkdir()
    path.write_text(text)
    forced = invoke("init", "--path", str(path), "--force")
    assert forced.exit_code == 0 and f"socket_path: {tmux.socket}" not in path.read_text()
    path.write_text(text)
    cfg = load_config(path)
    assert cfg.tmux.socket_path == tmux.socket and cfg.state_dir == tmp_path / "st"
    run = subprocess.run([sys.executable, "-m", "dispatchd", "-c", str(path), "run", "--dry-run"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr


def test_init_default_path_is_the_default_config_location(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("DISPATCHD_CONFIG", raising=False)
    res = invoke("init")
    assert res.exit_code == 0, res.output
    assert (tmp_path / "xdg" / "dispatchd" / "config.yaml").is_file()


def _pool_file(tmp_path: Path, tmux: TmuxServer, **auto: int) -> str:
    cfg = pool_config(tmux, tmp_path, "auto-", 3)
    cfg["pool"]["autonomous"].update(auto)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def test_pool_up_and_down_touch_only_managed_sessions_in_range(tmp_path, tmux):
    cfg = _pool_file(tmp_path, tmux, min=2, max=3)
    tmux.new_session("x")
    tmux.new_session("auto-9")
    res = invoke("-c", cfg, "pool", "up")
    assert res.exit_code == 0, res.output
    assert sessions(tmux) == {"keepalive", "x", "auto-9", "auto-1", "auto-2"}
    assert "created  auto-1" in res.output and "created  auto-2" in res.output
    again = invoke("-c", cfg, "pool", "up")
    assert "created  " not in again.output and "created 0" in again.output
    res = invoke("-c", cfg, "pool", "up", "--all")
    assert res.exit_code == 0, res.output
    assert sessions(tmux) == {"keepalive", "x", "auto-9", "auto-1", "auto-2", "auto-3"}
    res = invoke("-c", cfg, "pool", "down")
    assert res.exit_code == 0, res.output
    assert sessions(tmux) == {"keepalive", "x", "auto-9"}
    assert "killed   auto-3" in res.output


def test_pool_down_keeps_hand_made_and_busy_sessions(tmp_path, tmux):
    cfg = _pool_file(tmp_path, tmux, min=3, max=3)
    tmux.new_session("auto-1")  # made by hand before `up`
    res = invoke("-c", cfg, "pool", "up")
    assert res.exit_code == 0, res.output
    assert "exists   auto-1 (not made by dispatchd)" in res.output
    assert {"auto-1", "auto-2", "auto-3"} <= sessions(tmux)
    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    (state / "inflight.json").write_text(json.dumps(
        {"auto-2": {"task": "20260101T000000-abc", "name": "long.md"}}))
    tmux.wait_for_prompt("auto-3")
    tmux("send-keys", "-t", "=auto-3:", "sleep 60", "Enter")  # a person's job in a pool session
    wait_for(lambda: tmux.foreground("auto-3") == "sleep", 10, "the job")
    res = invoke("-c", cfg, "pool", "down")
    assert res.exit_code == 0, res.output
    assert "kept     auto-1: not created by dispatchd" in res.output
    assert "kept     auto-2: busy with long.md" in res.output
    assert "kept     auto-3: busy (not dispatchd's: sleep)" in res.output
    assert sessions(tmux) == {"keepalive", "auto-1", "auto-2", "auto-3"}
    res = invoke("-c", cfg, "pool", "down", "--force")
    assert "killed   auto-2" in res.output and "killed   auto-3" in res.output
    assert sessions(tmux) == {"keepalive", "auto-1"}


def _explain_setup(tmp_path: Path, tmux: TmuxServer) -> tuple[str, Path, Path]:
    cfg = pool_config(tmux, tmp_path, "auto-", 1)
    project, other = tmp_path / "projects" / "p", tmp_path / "projects" / "q"
    cfg["pool"]["dedicated"] = [{"name": "ded", "project": str(project)}]
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    for name in ("ded", "auto-1"):
        tmux.new_session(name)
    write_task(project, "a.md", "wait for ded")
    write_task(other, "b.md", "first in line", priority="critical")
    return str(path), project, other


def _fake_daemon(tmp_path: Path, project: Path) -> object:
    """Hold the state dir's lock as a daemon does, and write its snapshot by hand."""
    import fcntl

    state = tmp_path / "state"
    state.mkdir(exist_ok=True)
    lock = open(state / "lock", "a+")  # noqa: SIM115 - the caller closes it
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    sessions = [{"name": "ded", "kind": "dedicated", "state": "working", "project": str(project),
                 "task": "other.md", "task_id": "20260101T000000-aaaaaaaaaaaa"},
                {"name": "auto-1", "kind": "autonomous", "state": "idle", "project": None,
                 "task": None}]
    (state / "status.json").write_text(json.dumps({"pid": 1, "sessions": sessions,
                                                   "waiting": [], "projects": [str(project)]}))
    return lock


def test_explain_names_the_busy_dedicated_session_and_the_earlier_task(tmp_path, tmux):
    cfg, project, _ = _explain_setup(tmp_path, tmux)
    lock = _fake_daemon(tmp_path, project)
    try:
        res = invoke("-c", cfg, "explain", "a.md")
    finally:
        lock.close()  # type: ignore[attr-defined]
    assert res.exit_code == 0, res.output
    out = res.output
    assert "place in the order: 2 of 2" in out and "1. b.md (critical)" in out
    assert "its project has the dedicated session ded" in out
    assert "ded (dedicated): busy (working) with other.md" in out
    assert "auto-1 (autonomous): free, but not chosen: b.md, earlier in the order" in out
    assert "so: it waits" in out


def test_explain_without_a_daemon_and_for_a_task_that_is_not_waiting(tmp_path, tmux):
    cfg, _, _ = _explain_setup(tmp_path, tmux)
    tmux("kill-session", "-t", "=ded")
    res = invoke("-c", cfg, "explain", "b.md")
    assert res.exit_code == 0, res.output
    assert "daemon: not running" in res.output and "place in the order: 1 of 2" in res.output
    assert "ded (dedicated): missing in tmux" in res.output
    assert "auto-1 (autonomous): free, and chosen" in res.output
    assert "so: it goes to auto-1" in res.output
    res = invoke("-c", cfg, "explain", "a.md")
    assert "auto-1 (autonomous): free, but not chosen: b.md" in res.output
    missing = invoke("-c", cfg, "explain", "nope.md")
    assert missing.exit_code == 1 and "nope.md is not waiting" in missing.output


def test_explain_a_task_bound_to_a_session(tmp_path, tmux):
    cfg, project, other = _explain_setup(tmp_path, tmux)
    (other / ".agent-queue" / "inbox" / "b.md").unlink()
    write_task(project, "c.md", "only ded", session="ded", priority="critical")
    res = invoke("-c", cfg, "explain", "c.md")
    assert res.exit_code == 0, res.output
    assert "bound to session ded" in res.output
    assert "ded (dedicated): free, and chosen" in res.output
    assert "auto-1 (autonomous): free, but the task is bound to session ded" in res.output


def test_explain_with_a_running_daemon_and_a_busy_dedicated_session(tmp_path, tmux, agent_log,
                                                                     make_daemon):
    from harness import wait_for

    project = tmp_path / "projects" / "docs"
    project.mkdir(parents=True)
    tmux.new_session("ded")
    daemon = make_daemon({"pool": {"dedicated": [{"name": "ded", "project": str(project)}],
                                   "autonomous": {"prefix": "auto-", "max": 0}}}).start()
    write_task(project, "first.md", "keeps the dedicated session busy\nSLEEP=30")
    wait_for(lambda: agent_log.submits(), 20, "first task running")
    write_task(project, "second.md", "must wait for it")
    inbox = project / ".agent-queue" / "inbox" / "second.md"

    def explained() -> str:
        res = daemon.run_once("explain", "second.md")
        return res.stdout if inbox.exists() and "busy" in res.stdout else ""

    out = wait_for(explained, 20, "explain names the busy session")
    assert "ded (dedicated): busy (working) with first.md" in out

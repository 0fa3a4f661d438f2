"""The daemon and its terminal: SIGHUP reloads the config, a closed terminal is survived,
``dispatchd stop`` waits for the clean stop, ``--log-file`` takes the log. Real tmux, the
fake agent, the daemon as a user starts it."""

from __future__ import annotations

import fcntl
import os
import pty
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

import yaml
from harness import AgentLog, Daemon, TmuxServer, wait_for, write_task


def _project(tmp_path: Path) -> Path:
    project = tmp_path / "projects" / "p"
    project.mkdir(parents=True)
    return project


def _pool(footer: str = "FOOTER-1") -> dict[str, Any]:
    return {"pool": {"autonomous": {"prefix": "auto-", "start_index": 1, "min": 0, "max": 1},
                     "shared_projects_dir": "projects"},
            "dispatcher": {"message_footer": footer}}


def _done(project: Path) -> list[Path]:
    return sorted((project / ".agent-queue" / "done").glob("*.md"))


def _rewrite(daemon: Daemon, **dispatcher: Any) -> None:
    config = yaml.safe_load(daemon.config_path.read_text())
    config["dispatcher"].update(dispatcher)
    daemon.config_path.write_text(yaml.safe_dump(config))


def test_sighup_reloads_a_valid_config_and_refuses_a_broken_one(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    project = _project(tmp_path)
    tmux.new_session("auto-1")
    daemon = make_daemon(_pool()).start()
    wait_for(lambda: "started" in daemon.log(), 20, "daemon started")
    good = daemon.config_path.read_text()
    daemon.config_path.write_text(good + "\ndispatcher: [not, a, mapping\n")
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGHUP)  # as `kill -HUP`; `dispatchd reload` reads it too
    wait_for(lambda: "config reload refused, the running config stays" in daemon.log(), 10,
             "a broken config refused")
    assert daemon.proc.poll() is None
    daemon.config_path.write_text(good)
    _rewrite(daemon, message_footer="FOOTER-2", cooldown="1m")
    config = yaml.safe_load(daemon.config_path.read_text())
    config["pool"]["autonomous"]["max"] = 3
    daemon.config_path.write_text(yaml.safe_dump(config))
    asked = daemon.run_once("reload")
    assert asked.returncode == 0 and "asked dispatchd" in asked.stdout
    wait_for(lambda: "config reloaded from" in daemon.log(), 10, "the config reloaded")
    assert "changes to autonomous apply at the next start" in daemon.log()
    write_task(project, "t.md", "after the reload")
    wait_for(lambda: _done(project), 20, "the task done")
    (submit,) = agent_log.submits()
    assert "FOOTER-2" in submit["text"] and "FOOTER-1" not in submit["text"]


def test_a_closed_terminal_is_survived_and_stop_waits_for_the_clean_stop(
        tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    """``dispatchd run`` in a terminal that is then closed: the kernel hangs up (SIGHUP to the
    session leader, EIO on every write), the daemon runs on and still dispatches."""
    project = _project(tmp_path)
    tmux.new_session("auto-1")
    daemon = make_daemon(_pool())  # its config and environment; started here on a pty instead
    master, slave = pty.openpty()

    def controlling_tty() -> None:
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    env = {k: v for k, v in daemon.env.items() if k != "PYTHONUNBUFFERED"}  # as in a terminal
    proc = subprocess.Popen([sys.executable, "-m", "dispatchd", "-v", "-c",
                             str(daemon.config_path), "run"], stdin=slave, stdout=slave,
                            stderr=slave, env=env, cwd=tmp_path, preexec_fn=controlling_tty)
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"started" not in seen and time.monotonic() < deadline:
            seen += os.read(master, 65536)
        assert b"started" in seen
        os.close(master)  # the terminal window closes
        time.sleep(1.0)
        assert proc.poll() is None, "the daemon died with its terminal"
        write_task(project, "t.md", "after the terminal closed")  # logs a line or two at least
        wait_for(lambda: _done(project), 20, "the task done with no terminal")
        write_task(project, "u.md", "and the next one")
        wait_for(lambda: len(_done(project)) == 2, 20, "the next task done too")
        stopped = daemon.run_once("stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"stopped dispatchd (pid {proc.pid})" in stopped.stdout
        assert proc.wait(timeout=5) == 0  # stopped cleanly, not killed
        again = daemon.run_once("stop")
        assert again.returncode == 0 and "no dispatchd is running" in again.stdout
    finally:
        if proc.poll() is None:
            proc.kill()


def test_log_file_takes_the_log(tmp_path, tmux: TmuxServer, agent_log: AgentLog, make_daemon):
    daemon = make_daemon(_pool())
    log_file = tmp_path / "dispatchd.log"
    proc = subprocess.Popen([sys.executable, "-m", "dispatchd", "--log-file", str(log_file),
                             "-c", str(daemon.config_path), "run"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=daemon.env, cwd=tmp_path)
    try:
        wait_for(lambda: log_file.exists() and "started" in log_file.read_text(), 20,
                 "the start in the log file")
        daemon.run_once("stop")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0 and not err and not out
        assert "stopping" in log_file.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    bad = daemon.run_once("--log-file", str(tmp_path / "no" / "such" / "dir" / "x.log"), "status")
    assert bad.returncode == 2 and "cannot write to" in bad.stderr

"""Test harness: a private tmux server, the fake agent, a daemon in a subprocess, task files.

Every test gets its own tmux server on a socket in a fresh temporary folder
(never the user's default server), killed at teardown.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

FAKEAGENT = Path(__file__).with_name("fakeagent.py")
TMUX = shutil.which("tmux") or "tmux"


def wait_for(cond: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    """Poll ``cond`` until it returns something truthy; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or cond}")
        time.sleep(0.05)


class TmuxServer:
    """A private tmux server; sessions run a plain shell, the fake agent's settings in its env."""

    def __init__(self, agent_log: Path, **agent_env: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dtmux"))  # short: socket paths are limited
        self.socket = self.dir / "sock"
        self.env_file = self.dir / "fakeagent-env.json"
        self.env = {"FAKEAGENT_LOG": str(agent_log), "FAKEAGENT_BOOT": "0.3",
                    "FAKEAGENT_WORK": "0.5", "FAKEAGENT_ENV_FILE": str(self.env_file),
                    **agent_env}
        self.start()

    def agent_env(self, session: str = "*", **settings: str) -> None:
        """Settings for fake agents started from now on (all, or one session's), without
        restarting the sessions' shells (whose environment agents inherit)."""
        data = json.loads(self.env_file.read_text()) if self.env_file.exists() else {}
        data.setdefault(session, {}).update(settings)
        self.env_file.write_text(json.dumps(data))

    def start(self) -> None:
        """Start the server (again, after a kill-server), with the fake agent's settings."""
        self("-f", "/dev/null", "new-session", "-d", "-s", "keepalive")
        for key, value in self.env.items():
            self("set-environment", "-g", key, value)

    def __call__(self, *args: str, check: bool = True, path: str | None = None) -> str:
        """Run a tmux command; ``path``: the client's PATH (tmux gives it to new shells)."""
        env = {**os.environ, "SHELL": "/bin/sh", **({"PATH": path} if path else {})}
        env.pop("TMUX", None)
        res = subprocess.run([TMUX, "-S", str(self.socket), *args], capture_output=True,
                             text=True, timeout=15, env=env)
        if check and res.returncode != 0:
            raise RuntimeError(f"tmux {args}: {res.stderr.strip()}")
        return res.stdout

    def new_session(self, name: str, path: str | None = None, **env: str) -> str:
        """A session running a plain login shell, started with PATH ``path`` (if given) and
        ``env``; its rc files (``$HOME/.profile``) may change them, as a person's do."""
        extra = [f"-e{key}={value}" for key, value in env.items()]
        return self("new-session", "-d", "-s", name, "-x", "150", "-y", "45", *extra, "-P",
                    "-F", "#{pane_id}", path=path).strip()

    def wait_for_prompt(self, session: str) -> None:
        """Until the session's shell shows its prompt (its rc files have run)."""
        wait_for(lambda: self.screen(session).strip(), 10, f"a prompt in {session}")

    def foreground(self, session: str) -> str:
        """The command in the foreground of the session's active pane (``sh``: its shell)."""
        return self("display-message", "-p", "-t", f"={session}:",
                    "#{pane_current_command}").strip()

    def screen(self, session: str) -> str:
        return self("capture-pane", "-p", "-t", f"={session}:")

    def kill(self) -> None:
        self("kill-server", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)


class AgentLog:
    """The fake agents' shared JSONL log."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def records(self, event: str | None = None) -> list[dict[str, Any]]:
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return []
        recs = [json.loads(line) for line in lines if line.strip()]
        return [r for r in recs if event is None or r["event"] == event]

    def submits(self) -> list[dict[str, Any]]:
        return self.records("submit")


def write_task(project: Path, name: str, body: str, **front: Any) -> Path:
    """Drop a task the way a careful producer does: write elsewhere, rename into the inbox."""
    inbox = project / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True, exist_ok=True)
    text = body
    if front:
        text = "---\n" + yaml.safe_dump(front, sort_keys=False) + "---\n" + body
    tmp = project / ".agent-queue" / f".{name}.tmp"
    tmp.write_text(text)
    os.rename(tmp, inbox / name)
    return inbox / name


def pool_config(tmux: TmuxServer, work: Path, prefix: str, sessions: int,
                **dispatcher: Any) -> dict[str, Any]:
    """A config for ``sessions`` autonomous sessions ``<prefix>1``… on ``tmux``, running the
    fake agent, with projects under ``work/projects`` and state in ``work/state``."""
    return {"pool": {"autonomous": {"prefix": prefix, "start_index": 1, "max": sessions},
                     "shared_projects_dir": str(work / "projects")},
            "dispatcher": {"state_dir": str(work / "state"),
                           "agent_command": [sys.executable, str(FAKEAGENT)], **dispatcher},
            "tmux": {"socket_path": str(tmux.socket)}}


class Daemon:
    """``dispatchd run`` in a subprocess, with its log captured to a file."""

    def __init__(self, workdir: Path, config: dict[str, Any], extra_env: dict[str, str]) -> None:
        self.workdir = workdir
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "daemon.log"
        self.env = {**os.environ, "HOME": str(workdir / "home"), **extra_env}
        self.env.pop("TMUX", None)
        (workdir / "home").mkdir(exist_ok=True)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> Daemon:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dispatchd", "-v", "-c", str(self.config_path), "run", *args],
            stdout=self._log, stderr=subprocess.STDOUT, env=self.env, cwd=self.workdir)
        return self

    def run_once(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "dispatchd", "-c", str(self.config_path),
                               *args], capture_output=True, text=True, env=self.env,
                              cwd=self.workdir, timeout=60, input=input)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig: int = signal.SIGTERM) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        code, self.proc = self.proc.returncode, None
        return code

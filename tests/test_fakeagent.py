"""Smoke tests for tests/fakeagent.py, driven through a private tmux server."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

FAKEAGENT = Path(__file__).with_name("fakeagent.py")
PROMPT = "❯\u00a0"


class Tmux:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.sock = str(tmp / "sock")
        self.log = tmp / "agent.jsonl"
        self.pane = ""

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        res = subprocess.run(["tmux", "-S", self.sock, "-f", "/dev/null", *args],
                             input=stdin, capture_output=True, text=True, check=True, timeout=10)
        return res.stdout

    def start(self, *agent_args: str, **env: str) -> None:
        env = {"FAKEAGENT_BOOT": "0.2", "FAKEAGENT_WORK": "0.5",
               "FAKEAGENT_LOG": str(self.log), **env}
        flags = [f for k, v in env.items() for f in ("-e", f"{k}={v}")]
        self.pane = self("new-session", "-d", "-P", "-F", "#{pane_id}", "-x", "120", "-y", "40",
                         "-c", str(self.tmp), *flags, "--",
                         sys.executable, str(FAKEAGENT), *agent_args).strip()

    def screen(self) -> list[str]:
        return self("capture-pane", "-p", "-t", self.pane).splitlines()

    def paste(self, text: str) -> None:
        self("load-buffer", "-b", "x", "-", stdin=text)
        self("paste-buffer", "-p", "-d", "-b", "x", "-t", self.pane)

    def records(self, event: str | None = None) -> list[dict[str, object]]:
        if not self.log.exists():
            return []
        recs = [json.loads(line) for line in self.log.read_text().splitlines()]
        return [r for r in recs if event is None or r["event"] == event]


def wait_for(cond: Callable[[], object], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {cond}")
        time.sleep(0.05)


def prompt_line(tm: Tmux) -> str | None:
    return next((line for line in tm.screen() if line.startswith(PROMPT)), None)


@pytest.fixture
def tm(tmp_path: Path) -> Iterator[Tmux]:
    t = Tmux(tmp_path)
    yield t
    subprocess.run(["tmux", "-S", t.sock, "kill-server"], capture_output=True, check=False)


def test_paste_enter_submits_and_runs_stop_hook(tm: Tmux) -> None:
    stop_file = tm.tmp / "stop.json"
    settings = {"hooks": {"Stop": [{"hooks": [
        {"type": "command", "command": f"cat > {shlex.quote(str(stop_file))}"}]}]}}
    tm.start("--model", "opus", "--settings", json.dumps(settings))
    wait_for(lambda: prompt_line(tm) is not None)
    text = "line one\nline two\nline three\nline four\nline five"
    tm.paste(text)
    wait_for(lambda: prompt_line(tm) == PROMPT + "[Pasted text #1 +4 lines]")
    assert tm.records("submit") == []
    tm("send-keys", "-t", tm.pane, "Enter")
    wait_for(lambda: any("esc to interrupt" in line for line in tm.screen()))
    wait_for(lambda: "  ? for shortcuts" in tm.screen() and len(tm.records("done")) == 1)
    assert prompt_line(tm) == PROMPT
    submits = tm.records("submit")
    assert len(submits) == 1
    assert submits[0]["text"] == text and submits[0]["model"] == "opus"
    assert submits[0]["paste_count"] == 1
    assert "❯ line one" in tm.screen()
    wait_for(stop_file.exists)
    wait_for(lambda: stop_file.read_text().strip().endswith("}"))
    assert json.loads(stop_file.read_text())["hook_event_name"] == "Stop"


def test_never_ready_never_shows_prompt(tm: Tmux) -> None:
    tm.start(FAKEAGENT_MODE="never-ready")
    wait_for(lambda: "Loading…" in tm.screen())
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline:
        assert prompt_line(tm) is None
        time.sleep(0.05)
    assert tm.records("ready") == []


def test_newline_inside_paste_does_not_submit(tm: Tmux) -> None:
    tm.start()
    wait_for(lambda: prompt_line(tm) is not None)
    tm.paste("first\nsecond")
    # The paste record is written after the paste's newline was handled, so once it
    # is there a wrongly submitted newline would already have been logged.
    wait_for(lambda: tm.records("paste"))
    assert tm.records("submit") == []
    wait_for(lambda: prompt_line(tm) == PROMPT + "first …")
    tm("send-keys", "-t", tm.pane, "Enter")
    wait_for(lambda: tm.records("submit"))
    assert [r["text"] for r in tm.records("submit")] == ["first\nsecond"]

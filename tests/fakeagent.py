"""A stand-in for the Claude Code CLI, run inside a tmux pane by dispatchd's tests.

It imitates what a dispatcher sees of Claude Code: a boot delay, then a full-screen
TUI whose input line starts with ``❯`` + U+00A0 at column 0; bracketed paste (long
pastes shown as ``[Pasted text #N +M lines]``); Enter submits, a newline inside a
paste never does; a busy phase showing ``esc to interrupt``; type-ahead queued while
busy; and ``UserPromptSubmit`` / ``Stop`` command hooks from ``--settings``.

Usage: fakeagent.py [--model M] [--dangerously-skip-permissions] [--resume ID]
                    [--settings JSON_OR_PATH] [other args are ignored]

Environment (all optional):
  FAKEAGENT_LOG            JSONL log appended to with one os.write per record (O_APPEND).
  FAKEAGENT_BOOT           seconds before the prompt appears (default 1.0).
  FAKEAGENT_WORK           seconds of "work" per turn (default 2.0); a line ``SLEEP=<s>``
                           in the submitted text overrides it for that turn.
  FAKEAGENT_MODE           comma-separated flags: never-ready, exit, no-hooks,
                           trust-dialog, ignore-first-enter, limit-at-boot (the usage-limit
                           line shows above the prompt from the start), ignore-enters (no
                           Enter ever submits: the text stays in the box), and failed turns:
                           every turn ends with an error line and a StopFailure hook
                           (error in brackets): usage-limit (the limit line, rate_limit),
                           rate-limit (Claude's API 429 line, rate_limit), overloaded
                           (overloaded), tool-then-fail (a tool runs first, then the 429),
                           fail-turn (a 400 the task caused, invalid_request).
  FAKEAGENT_FAIL_UNTIL     a Unix time: failed-turn modes apply only to turns before it.
  FAKEAGENT_TRANSCRIPTS    folder for transcripts in Claude Code's format (one JSON object
                           per line; default: beside FAKEAGENT_LOG, else none), named in the
                           hooks' transcript_path.
  FAKEAGENT_LIMIT_TEXT     the usage-limit line (default: You've hit your limit · resets 5pm).
  FAKEAGENT_PASTE_BURST_MS an Enter within N ms after a paste ended adds a newline
                           instead of submitting (like Codex's paste-burst); 0 = off.
  DISPATCHD_SESSION, DISPATCHD_TASK_ID  copied into every log record if set.
  FAKEAGENT_ENV_FILE       a JSON file {"*": {VAR: value}, "<session>": {…}} read at start,
                           over the environment: tests change these settings between
                           launches without restarting the sessions' shells.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import termios
import time
import tty
import uuid
from typing import Any

PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"
PROMPT = "❯\u00a0"
RATE_LIMITED = ("API Error: Request rejected (429) · This request would exceed your account's "
                "rate limit. Please try again later.")
FAILURES = {"usage-limit": "rate_limit", "rate-limit": "rate_limit", "overloaded": "overloaded",
            "tool-then-fail": "rate_limit", "fail-turn": "invalid_request"}
"""Failed-turn modes → the StopFailure error they report."""
SLEEP_RE = re.compile(r"^SLEEP=([0-9]*\.?[0-9]+)\s*$", re.MULTILINE)


class Exit(Exception):
    def __init__(self, status: int, **fields: Any) -> None:
        super().__init__(status)
        self.status, self.fields = status, fields


def esc_len(s: str) -> int:
    """Length of the escape sequence at the start of s, or 0 if it is incomplete."""
    if len(s) < 2:
        return 0
    if s[1] == "[":
        for j in range(2, len(s)):
            if "\x40" <= s[j] <= "\x7e":
                return j + 1
        return 0
    if s[1] == "O":
        return 3 if len(s) >= 3 else 0
    return 2  # Alt+key


def partial_suffix(s: str, marker: str) -> int:
    """Length of the longest suffix of s that is a proper prefix of marker."""
    for n in range(min(len(s), len(marker) - 1), 0, -1):
        if s.endswith(marker[:n]):
            return n
    return 0


def apply_env_file() -> None:
    """Settings from ``FAKEAGENT_ENV_FILE`` over the environment: "*", then this session's."""
    path = os.environ.get("FAKEAGENT_ENV_FILE")
    if not path:
        return
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return
    for scope in ("*", os.environ.get("DISPATCHD_SESSION", "")):
        os.environ.update({k: str(v) for k, v in (data.get(scope) or {}).items()})


class FakeAgent:
    def __init__(self, argv: list[str]) -> None:
        apply_env_file()
        p = argparse.ArgumentParser(add_help=False)
        for opt in ("--model", "--resume", "--settings"):
            p.add_argument(opt)
        p.add_argument("--dangerously-skip-permissions", action="store_true")
        self.args, self.unknown = p.parse_known_args(argv)
        self.argv = argv
        self.modes = {m.strip() for m in os.environ.get("FAKEAGENT_MODE", "").split(",")}
        self.boot = float(os.environ.get("FAKEAGENT_BOOT", "1.0"))
        self.work = float(os.environ.get("FAKEAGENT_WORK", "2.0"))
        self.burst_ms = float(os.environ.get("FAKEAGENT_PASTE_BURST_MS", "0") or 0)
        log = os.environ.get("FAKEAGENT_LOG")
        self.log_fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if log else -1
        self.session_id = str(uuid.uuid4())
        self.hooks: dict[str, Any] = {}
        self.state = "boot"  # boot | loading | dialog | idle | busy
        self.segments: list[tuple[str, str]] = []  # (display-or-"", text); display for pastes
        self.buffer_pastes = self.pastes = 0  # pastes in the input buffer / in this process
        self.transcript: list[tuple[str, str | None]] = []
        self.queue: list[tuple[str, int]] = []
        self.pending, self.paste_buf, self.in_paste, self.enter_armed = "", "", False, False
        self.last_paste_end = -1.0
        self.turn_start = self.turn_end = self.last_data = self.boot_end = 0.0
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.size, self.elapsed = shutil.get_terminal_size(), -1
        self.dirty = True  # redraw needed
        self.limit_text = os.environ.get("FAKEAGENT_LIMIT_TEXT",
                                         "You've hit your limit · resets 5pm")
        self.fail_until = float(os.environ.get("FAKEAGENT_FAIL_UNTIL") or "inf")
        folder = os.environ.get("FAKEAGENT_TRANSCRIPTS") or (os.path.dirname(log) if log else "")
        self.transcript_path = os.path.join(folder, f"{self.session_id}.jsonl") if folder else ""
        self.prompt_id = ""

    # -- logging and hooks -------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        if self.log_fd < 0:
            return
        rec: dict[str, Any] = {"event": event, "ts": time.time(), "pid": os.getpid(), **fields}
        for var in ("DISPATCHD_SESSION", "DISPATCHD_TASK_ID"):
            if var in os.environ:
                rec[var.lower()] = os.environ[var]
        os.write(self.log_fd, (json.dumps(rec, ensure_ascii=False) + "\n").encode())

    def load_settings(self) -> None:
        raw = self.args.settings
        if not raw:
            return
        try:
            if raw.lstrip().startswith("{"):
                data = json.loads(raw)
            else:
                with open(raw, encoding="utf-8") as f:
                    data = json.load(f)
            self.hooks = data.get("hooks") or {}
        except (OSError, ValueError, AttributeError) as e:
            self.log("settings_error", error=str(e))

    def run_hooks(self, name: str, prompt: str | None = None, **extra: Any) -> None:
        if "no-hooks" in self.modes:
            return
        payload: dict[str, Any] = {"hook_event_name": name, "session_id": self.session_id,
                                   "cwd": os.getcwd(), "transcript_path": self.transcript_path,
                                   "prompt_id": self.prompt_id, **extra}
        if prompt is not None:
            payload["prompt"] = prompt
        for group in self.hooks.get(name) or []:
            for hook in group.get("hooks") or []:
                if hook.get("type", "command") != "command" or not hook.get("command"):
                    continue
                cmd = hook["command"]
                try:
                    res = subprocess.run(cmd, shell=True, input=json.dumps(payload), text=True,
                                         capture_output=True, timeout=10)
                    self.log("hook", name=name, command=cmd, rc=res.returncode)
                except Exception as e:  # a broken hook must never crash the agent
                    self.log("hook", name=name, command=cmd, rc=None, error=str(e))

    def record(self, kind: str, content: Any, **extra: Any) -> None:
        """One entry of the transcript, as Claude Code writes it."""
        if not self.transcript_path:
            return
        entry = {"type": kind, "sessionId": self.session_id, "uuid": str(uuid.uuid4()),
                 "message": {"role": kind, "content": content}, **extra}
        with open(self.transcript_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry) + "\n")

    # -- screen ------------------------------------------------------------
    def input_display(self) -> str:
        shown = "".join(d or t for d, t in self.segments)
        first, _, rest = shown.partition("\n")
        return first + (" …" if rest else "")

    def render(self) -> None:
        cols, rows = shutil.get_terminal_size()
        model = self.args.model or "default"
        top = [f"fakeagent v1 · model {model} · {os.getcwd()}", ""]
        if self.state in ("boot", "loading"):
            body = [*top, "Loading…"]
        elif self.state == "dialog":
            body = [*top, " Do you trust the files in this folder?", "",
                    " ❯ 1. Yes, I trust this folder", "   2. No, exit"]
        else:
            hist: list[str] = []
            if "limit-at-boot" in self.modes:
                hist.append("  ⎿  " + self.limit_text)
            for text, reply in self.transcript:
                first, *rest = text.split("\n")
                hist += ["❯ " + first, *("  " + line for line in rest[-1:])]  # and its last line
                if reply is not None:
                    hist += ["  " + line if line.startswith("⎿") else "● " + line
                             for line in reply.split("\n")]
            busy = self.state == "busy"
            tail = [f"✶ Working… ({int(time.monotonic() - self.turn_start)}s · esc to interrupt)"]
            tail = (tail if busy else []) + ["─" * cols, PROMPT + self.input_display(),
                                             "─" * cols]
            tail.append("  esc to interrupt" if busy else "  ? for shortcuts")
            room = max(0, rows - len(top) - len(tail))
            body = top + (hist[-room:] if room else []) + tail
        out = "\r\n".join(line[:cols] for line in body[:rows])
        self.write("\x1b[H\x1b[2J" + out)

    def write(self, s: str) -> None:
        with contextlib.suppress(OSError):
            os.write(1, s.encode())

    # -- input -------------------------------------------------------------
    def feed(self, text: str) -> None:
        self.pending += text
        while self.pending:
            if self.in_paste:
                i = self.pending.find(PASTE_END)
                if i < 0:
                    keep = partial_suffix(self.pending, PASTE_END)
                    cut = len(self.pending) - keep
                    self.paste_buf += self.pending[:cut]
                    self.pending = self.pending[cut:]
                    return
                self.paste_buf += self.pending[:i]
                self.pending = self.pending[i + len(PASTE_END):]
                self.in_paste = False
                self.on_paste(self.paste_buf.replace("\r\n", "\n").replace("\r", "\n"))
                continue
            c = self.pending[0]
            if c == "\x1b":
                n = esc_len(self.pending)
                if n == 0:
                    return  # wait for the rest (a lone ESC is handled on timeout)
                seq, self.pending = self.pending[:n], self.pending[n:]
                if seq == PASTE_START:
                    self.in_paste, self.paste_buf = True, ""
                continue
            self.pending = self.pending[1:]
            self.on_char(c)

    def on_char(self, c: str) -> None:
        if c == "\x03":
            raise Exit(130)
        if c in "\r\n":
            self.on_enter()
        elif self.state not in ("idle", "busy"):
            return
        elif c in "\x7f\x08":
            if self.segments:
                disp, text = self.segments.pop()
                if not disp and len(text) > 1:
                    self.segments.append(("", text[:-1]))
                elif disp:
                    self.buffer_pastes -= 1
            self.dirty = True
        elif c.isprintable():
            self.add_text(c)

    def add_text(self, s: str) -> None:
        if self.segments and not self.segments[-1][0]:
            s = self.segments.pop()[1] + s
        self.segments.append(("", s))
        self.dirty = True

    def on_paste(self, text: str) -> None:
        if self.state == "dialog":
            self.log("paste_into_dialog", text=text)
            return
        if self.state not in ("idle", "busy"):
            self.log("input_before_ready", kind="paste", text=text)
            return
        self.pastes += 1
        self.buffer_pastes += 1
        breaks = text.count("\n")
        if breaks >= 3 or len(text) > 800:
            self.segments.append((f"[Pasted text #{self.pastes} +{breaks} lines]", text))
            self.dirty = True
        else:
            self.add_text(text)
        self.log("paste", text=text)
        self.last_paste_end = time.monotonic()
        self.enter_armed = "ignore-first-enter" in self.modes

    def on_enter(self) -> None:
        if self.state == "dialog":
            self.log("dialog_enter")
            self.become_ready()
            return
        if self.state not in ("idle", "busy"):
            self.log("input_before_ready", kind="enter")
            return
        since_paste = (time.monotonic() - self.last_paste_end) * 1000
        if self.burst_ms > 0 and self.last_paste_end >= 0 and since_paste < self.burst_ms:
            self.log("enter_as_newline")
            self.add_text("\n")
            return
        if self.enter_armed or ("ignore-enters" in self.modes and self.segments):
            self.enter_armed = False
            self.log("enter_ignored")
            return
        text = "".join(t for _, t in self.segments)
        if not text:
            self.log("empty_enter")
            return
        count = self.buffer_pastes
        self.segments, self.buffer_pastes, self.dirty = [], 0, True
        if self.state == "busy":
            self.log("submit_while_busy", text=text)
            self.queue.append((text, count))
        else:
            self.submit(text, count)

    def on_escape(self) -> None:
        if self.state == "busy":  # like Claude: an interrupted turn fires no Stop hook
            self.log("interrupted")
            self.end_turn("Interrupted by user", stop_hooks=False)

    # -- turns -------------------------------------------------------------
    def become_ready(self) -> None:
        self.state, self.dirty = "idle", True
        self.log("ready", model=self.args.model, cwd=os.getcwd())

    def submit(self, text: str, paste_count: int) -> None:
        self.log("submit", text=text, model=self.args.model, cwd=os.getcwd(),
                 resume=self.args.resume, paste_count=paste_count)
        self.transcript.append((text, None))
        self.prompt_id = str(uuid.uuid4())
        self.record("user", text, promptId=self.prompt_id)
        self.state, self.turn_start = "busy", time.monotonic()
        self.render()
        self.run_hooks("UserPromptSubmit", prompt=text)
        m = SLEEP_RE.search(text)
        self.turn_end = time.monotonic() + (float(m.group(1)) if m else self.work)
        self.dirty = True

    def end_turn(self, reply: str, stop_hooks: bool = True) -> None:
        text = self.transcript[-1][0]
        self.transcript[-1] = (text, reply)
        if stop_hooks:
            self.log("done", text_first_line=text.split("\n", 1)[0])
            self.run_hooks("Stop")
        self.state, self.dirty = "idle", True
        if self.queue:
            self.submit(*self.queue.pop(0))

    def fail_turn(self, mode: str) -> None:
        """End the turn the way Claude Code does when its API call fails for good."""
        error = FAILURES[mode]
        text = {"usage-limit": self.limit_text, "overloaded": "API Error: Repeated 529 Overloaded "
                "errors", "fail-turn": "API Error: 400 fake invalid request"}.get(mode, RATE_LIMITED)
        shown = text
        if mode == "tool-then-fail":
            self.record("assistant", [{"type": "tool_use", "id": "toolu_1", "name": "Bash",
                                      "input": {"command": "echo hi"}}])
            self.record("user", [{"type": "tool_result", "tool_use_id": "toolu_1",
                                  "content": "hi"}], promptId=self.prompt_id)
            shown = "Bash(echo hi)\n⎿  hi\n" + text
        self.record("assistant", [{"type": "text", "text": text}], isApiErrorMessage=True,
                    error=error)
        self.end_turn(shown, stop_hooks=False)
        self.log("turn_failed", error=error)
        self.run_hooks("StopFailure", error=error, last_assistant_message=text)

    def step(self, fd: int) -> None:
        now = time.monotonic()
        if self.state == "boot" and now >= self.boot_end:
            if "never-ready" in self.modes:
                self.state = "loading"
            elif "trust-dialog" in self.modes:
                self.state, self.dirty = "dialog", True
            else:
                self.become_ready()
        failing = self.modes & set(FAILURES) if time.time() < self.fail_until else set()
        if self.state == "busy" and now >= self.turn_end and failing:
            self.fail_turn(min(failing))
        elif self.state == "busy" and now >= self.turn_end:
            n = len(self.transcript[-1][0].split("\n"))
            reply = f"FAKE-REPLY: received {n} line(s)"
            self.record("assistant", [{"type": "text", "text": reply}])
            self.end_turn(reply)
        size = shutil.get_terminal_size()
        elapsed = int(now - self.turn_start) if self.state == "busy" else -1
        if self.dirty or size != self.size or elapsed != self.elapsed:
            self.dirty, self.size, self.elapsed = False, size, elapsed
            self.render()
        ready, _, _ = select.select([fd], [], [], 0.05)
        if not ready:
            if self.pending == "\x1b" and time.monotonic() - self.last_data > 0.05:
                self.pending = ""
                self.on_escape()
            return
        try:
            data = os.read(fd, 4096)
        except OSError:
            data = b""
        if not data:
            raise Exit(0, reason="eof")
        self.last_data = time.monotonic()
        self.feed(self.decoder.decode(data))

    def run(self) -> int:
        self.log("start", argv=self.argv, unknown=self.unknown, model=self.args.model,
                 cwd=os.getcwd(), resume=self.args.resume)
        if "exit" in self.modes:
            print("fatal: fake failure", flush=True)
            self.log("exit", status=1)
            return 1
        self.load_settings()
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd) if os.isatty(fd) else None

        def on_signal(signum: int, _frame: object) -> None:
            for sig in (signal.SIGTERM, signal.SIGHUP):  # one is enough: no traceback on a second
                signal.signal(sig, signal.SIG_IGN)
            raise Exit(128 + signum, signal=signum)

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGHUP, on_signal)
        self.boot_end = time.monotonic() + self.boot
        status = 0
        try:
            if saved is not None:
                tty.setraw(fd)
            self.write("\x1b[?2004h")
            while True:
                self.step(fd)
        except Exit as e:
            status = e.status
            self.log("exit", status=status, **e.fields)
        finally:
            self.write("\x1b[?2004l\r\n")
            if saved is not None:
                with contextlib.suppress(termios.error):
                    termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        return status


if __name__ == "__main__":
    sys.exit(FakeAgent(sys.argv[1:]).run())

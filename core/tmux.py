"""Local tmux as the session transport: every call is an argv to ``tmux``, run asynchronously.

Targets are tmux's own ids (``$3``, ``%7``), never names, so prefix matching
cannot pick the wrong session. Task text reaches a pane only through a named
paste buffer loaded from stdin (``load-buffer -``) and ``paste-buffer -p``,
never as ``send-keys`` arguments, so tmux's parser never sees it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shlex
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import trampoline
from .config import TmuxServer
from .fsio import write_atomic
from .hooktypes import AgentLaunch
from .occupant import OURS, PROMPT_END, SHELL, Occupant, occupant_of
from .shellenv import resolve_in_shell, signal_launcher
from .transport import PaneRef, PaneTaken, ProgramNotFound, Resolution, SessionPanes, TransportError

log = logging.getLogger(__name__)

STARTED_TIMEOUT = 10.0
CLEAR_WAIT = 1.0
"""Seconds to wait for tmux to show the trampoline's cleared screen after its report."""
"""Seconds the shell may take to run the launch line (a slow rc file has run long before)."""
STOP_GRACE = 3.0
"""Seconds dispatchd's old agent gets to exit on SIGTERM, then on SIGKILL."""

_NO_SERVER = ("no server running", "error connecting to", "No such file or directory")


def launch_line(spec: Path) -> str:
    """The line typed at the shell prompt: this Python, isolated, running the trampoline file."""
    line = shlex.join([sys.executable, "-I", trampoline.__file__, str(spec)])
    if any(ord(c) < 32 or ord(c) == 127 for c in line):
        raise TransportError(f"refusing to type a launch line with control characters: {line!r}")
    return line


async def _wait_for_report(path: Path) -> dict[str, Any] | None:
    """The trampoline's report, once it has run (None after ``STARTED_TIMEOUT``)."""
    deadline = time.monotonic() + STARTED_TIMEOUT
    while time.monotonic() < deadline:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            path.unlink(missing_ok=True)
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            await asyncio.sleep(0.02)
    return None


def tmux_base(server: TmuxServer) -> list[str]:
    """``tmux`` with the configured server; plain ``tmux`` (the user's, or ``$TMUX``'s) otherwise."""
    if server.socket_path is not None:
        return ["tmux", "-S", str(server.socket_path)]
    if server.socket_name:
        return ["tmux", "-L", server.socket_name]
    return ["tmux"]


class TmuxTransport:
    """:class:`dispatchd.transport.SessionTransport` on a local tmux server."""

    def __init__(self, server: TmuxServer, state_dir: Path,
                 shell_prompt: str = PROMPT_END) -> None:
        self.shell_prompt = shell_prompt
        self.base = tmux_base(server)
        self.launch_dir = state_dir / "launch"
        self._shell_paths: dict[int, str] = {}
        """Shell pid → the PATH dispatchd's launcher last saw in that shell."""
        self.commands_run = 0
        """tmux processes spawned so far (the per-dispatch cost benchmarks report)."""

    async def run(self, *args: str, input: bytes | None = None) -> str:
        self.commands_run += 1
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.base, *args,
                stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError:
            raise TransportError("tmux is not installed (no 'tmux' on PATH)") from None
        out, err = await proc.communicate(input)
        if proc.returncode != 0:
            raise TransportError(err.decode(errors="replace").strip() or f"tmux {args[0]} failed")
        return out.decode(errors="replace")

    async def panes(self) -> dict[str, SessionPanes]:
        try:
            out = await self.run("list-panes", "-a", "-F",
                                 "#{session_name}\t#{session_id}@#{session_created}\t#{pane_id}\t"
                                 "#{window_active}#{pane_active}")
        except TransportError as exc:
            if any(s in str(exc) for s in _NO_SERVER):
                return {}
            raise
        ids: dict[str, set[str]] = {}
        active: dict[str, PaneRef] = {}
        for line in out.splitlines():
            parts = line.split("\t")
            if len(parts) != 4:
                continue
            ids.setdefault(parts[0], set()).add(parts[2])
            if parts[3] == "11":
                active[parts[0]] = PaneRef(parts[0], parts[1], parts[2])
        return {name: SessionPanes(pane, frozenset(ids[name])) for name, pane in active.items()}

    async def _pane_facts(self, pane: PaneRef) -> tuple[int, int, int]:
        """(first process's pid, cursor column, cursor row) of ``pane``."""
        out = await self.run("display-message", "-p", "-t", pane.pane_id,
                             "#{pane_pid} #{cursor_x} #{cursor_y}")
        try:
            pid, x, y = (int(v) for v in out.split())
        except ValueError:
            raise TransportError(f"pane {pane.pane_id} is gone") from None
        return pid, x, y

    async def occupant(self, pane: PaneRef) -> Occupant:
        pid, x, y = await self._pane_facts(pane)
        first = occupant_of(pid, None, x)
        if first.kind != SHELL:
            return first
        row = await self.run("capture-pane", "-p", "-t", pane.pane_id, "-S", str(y), "-E", str(y))
        return occupant_of(pid, row.rstrip("\n"), x, self.shell_prompt)

    async def which(self, pane: PaneRef, program: str) -> Resolution:
        pid, _, _ = await self._pane_facts(pane)
        return await asyncio.to_thread(resolve_in_shell, pid, program,
                                       self._shell_paths.get(pid))

    async def start(self, pane: PaneRef, cwd: Path, launch: AgentLaunch, marker: str) -> None:
        occupant = await self.occupant(pane)
        if occupant.kind == OURS:
            await self.stop_agent(pane)
            occupant = await self.occupant(pane)
        if occupant.kind != SHELL:
            raise PaneTaken(occupant)
        spec = {"cwd": str(cwd), "argv": list(launch.argv), "env": dict(launch.env),
                "marker": marker}
        path = self.launch_dir / f"{pane.pane_id.lstrip('%')}.json"
        started = Path(f"{path}.started")
        self.launch_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.launch_dir.chmod(0o700)
        started.unlink(missing_ok=True)
        await asyncio.to_thread(write_atomic, path, json.dumps(spec).encode(), durable=False)
        await self.leave_modes(pane)
        # a leading space keeps the line out of fish's history, bash's with HISTCONTROL
        # ignorespace, zsh's with HIST_IGNORE_SPACE
        await self.run("send-keys", "-t", pane.pane_id, "-l", "--", " " + launch_line(path))
        await self.run("send-keys", "-t", pane.pane_id, "Enter")
        report = await _wait_for_report(started)
        if report is not None and isinstance(report.get("path"), str) and occupant.pid:
            self._shell_paths[occupant.pid] = report["path"]  # exactly what that shell has
        if report is None:
            path.unlink(missing_ok=True)
            raise TransportError(f"the shell did not run the launch line within "
                                 f"{STARTED_TIMEOUT:g}s")
        if report.get("found") is None:
            raise ProgramNotFound(str(report.get("program")), str(report.get("path", "")))
        await self._until_cleared(pane, marker)

    async def _until_cleared(self, pane: PaneRef, marker: str) -> None:
        """tmux reads a pane's output in its own time: wait (at most ``CLEAR_WAIT``) until it
        shows the screen the trampoline cleared before reporting, so that no later read sees
        what an earlier agent left there (its ready prompt would pass for this agent's)."""
        line = trampoline.start_line(marker)
        deadline = time.monotonic() + CLEAR_WAIT
        while line not in await self.capture(pane) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)  # gone already: the agent has drawn its own screen

    async def stop_agent(self, pane: PaneRef) -> None:
        shell, x, _ = await self._pane_facts(pane)
        occupant = occupant_of(shell, None, x)
        if occupant.kind != OURS or occupant.pid is None:
            return
        log.info("stopping dispatchd's agent in pane %s (launcher pid %d)", pane.pane_id,
                 occupant.pid)
        for sig, wait in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
            signal_launcher(occupant.pid, sig)
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                if occupant_of(shell, None, x).kind != OURS:  # /proc only: no tmux call
                    return
        raise TransportError(f"dispatchd's agent in pane {pane.pane_id} did not stop")

    async def capture(self, pane: PaneRef, history: bool = False) -> str:
        extra = ("-S", "-") if history else ()
        return await self.run("capture-pane", "-p", "-J", *extra, "-t", pane.pane_id)

    async def paste(self, pane: PaneRef, text: str, bracketed: bool = True) -> None:
        await self.leave_modes(pane)
        buffer = f"dispatchd-{os.getpid()}-{secrets.token_hex(4)}"
        await self.run("load-buffer", "-b", buffer, "-", input=text.encode())
        mode = ("-p",) if bracketed else ()  # plain: tmux turns each newline into Enter
        try:
            await self.run("paste-buffer", *mode, "-d", "-b", buffer, "-t", pane.pane_id)
        except TransportError:
            await self.run("delete-buffer", "-b", buffer)
            raise

    async def press_enter(self, pane: PaneRef) -> None:
        await self.leave_modes(pane)
        await self.run("send-keys", "-t", pane.pane_id, "Enter")

    async def leave_modes(self, pane: PaneRef) -> None:
        """Quit copy mode (or any mode): a pane in a mode swallows keys and still says yes."""
        await self.run("copy-mode", "-q", "-t", pane.pane_id)

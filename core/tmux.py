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
import sys
from pathlib import Path

from .config import TmuxServer
from .fsio import write_atomic
from .hooktypes import AgentLaunch
from .transport import PaneRef, SessionPanes, TransportError

log = logging.getLogger(__name__)

_NO_SERVER = ("no server running", "error connecting to", "No such file or directory")


def tmux_base(server: TmuxServer) -> list[str]:
    """``tmux`` with the configured server; plain ``tmux`` (the user's, or ``$TMUX``'s) otherwise."""
    if server.socket_path is not None:
        return ["tmux", "-S", str(server.socket_path)]
    if server.socket_name:
        return ["tmux", "-L", server.socket_name]
    return ["tmux"]


class TmuxTransport:
    """:class:`dispatchd.transport.SessionTransport` on a local tmux server."""

    def __init__(self, server: TmuxServer, state_dir: Path) -> None:
        self.base = tmux_base(server)
        self.launch_dir = state_dir / "launch"
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

    async def start(self, pane: PaneRef, cwd: Path, launch: AgentLaunch, marker: str) -> None:
        spec = {"cwd": str(cwd), "argv": list(launch.argv), "env": dict(launch.env)}
        path = self.launch_dir / f"{pane.pane_id.lstrip('%')}.json"
        self.launch_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.launch_dir.chmod(0o700)
        await asyncio.to_thread(write_atomic, path, json.dumps(spec).encode(), durable=False)
        await self.run("respawn-pane", "-k", "-t", pane.pane_id, "--",
                       sys.executable, "-m", "dispatchd.trampoline", str(path), marker)

    async def reset(self, pane: PaneRef) -> None:
        await self.run("respawn-pane", "-k", "-t", pane.pane_id, "--",
                       sys.executable, "-m", "dispatchd.trampoline", "--shell")

    async def capture(self, pane: PaneRef) -> str:
        return await self.run("capture-pane", "-p", "-J", "-t", pane.pane_id)

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

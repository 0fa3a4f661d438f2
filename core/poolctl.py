"""``dispatchd pool up`` / ``pool down``: create and remove the autonomous sessions of the pool.

Only names in the configured autonomous range are ever created or killed. A
session ``up`` creates is marked with the tmux session option
``@dispatchd-managed``; ``down`` kills only marked sessions, so a session made
by hand (or a dedicated one) is never removed.
"""

from __future__ import annotations

from collections.abc import Callable

from .config import Config
from .occupant import PERSON
from .statefile import StateDir
from .status import daemon_running
from .tmux import TmuxTransport
from .transport import TransportError

MANAGED_OPTION = "@dispatchd-managed"
_NO_SERVER = ("no server running", "error connecting to", "No such file or directory")


class PoolError(Exception):
    """tmux refused a command."""


async def _sessions(tmux: TmuxTransport) -> dict[str, tuple[str, bool]]:
    """Every session on the server: name → (session id, marked as managed by dispatchd)."""
    try:
        out = await tmux.run("list-sessions", "-F",
                             f"#{{session_name}}\t#{{session_id}}\t#{{{MANAGED_OPTION}}}")
    except TransportError as exc:
        if any(s in str(exc) for s in _NO_SERVER):
            return {}
        raise
    sessions: dict[str, tuple[str, bool]] = {}
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) == 3:
            sessions[parts[0]] = (parts[1], parts[2] == "1")
    return sessions


def busy_sessions(config: Config) -> dict[str, str]:
    """Session name → the task it holds, from ``inflight.json`` (and a running daemon's status)."""
    state = StateDir(config.state_dir)
    busy = {name: str(rec.get("task_name") or rec.get("name") or rec.get("task"))
            for name, rec in state.read_inflight().items()
            if isinstance(rec, dict) and rec.get("task")}
    if daemon_running(config.state_dir):
        for s in (state.read_status() or {}).get("sessions", []):
            if isinstance(s, dict) and s.get("task") and s.get("name") not in busy:
                busy[str(s["name"])] = str(s["task"])
    return busy


async def pool_up(config: Config, everything: bool, echo: Callable[[str], None]) -> int:
    """Create missing autonomous sessions until ``min`` (``max`` with ``everything``) exist.

    Returns how many were created.
    """
    tmux = TmuxTransport(config.tmux, config.state_dir)
    auto = config.autonomous
    target = auto.max if everything else auto.min
    try:
        present = await _sessions(tmux)
        names = auto.names()
        count = sum(1 for n in names if n in present)
        created = 0
        for name in names:
            if name in present:
                echo(f"exists   {name}" + ("" if present[name][1] else " (not made by dispatchd)"))
                continue
            if count >= target:
                continue
            sid = (await tmux.run("new-session", "-d", "-s", name, "-P", "-F",
                                  "#{session_id}")).strip()
            await tmux.run("set-option", "-t", sid, MANAGED_OPTION, "1")
            echo(f"created  {name}")
            count += 1
            created += 1
    except TransportError as exc:
        raise PoolError(str(exc)) from None
    echo(f"{count} of {auto.max} autonomous sessions exist (min {auto.min}); created {created}")
    return created


async def pool_down(config: Config, force: bool, echo: Callable[[str], None]) -> int:
    """Kill the autonomous sessions ``pool up`` created, only idle ones unless ``force``.

    Returns how many were killed.
    """
    tmux = TmuxTransport(config.tmux, config.state_dir)
    busy = busy_sessions(config)
    killed = 0
    try:
        present = await _sessions(tmux)
        panes = await tmux.panes()
        for name in config.autonomous.names():
            if name not in present:
                continue
            sid, managed = present[name]
            if not managed:
                echo(f"kept     {name}: not created by dispatchd")
                continue
            if name in busy and not force:
                echo(f"kept     {name}: busy with {busy[name]} (--force kills it anyway)")
                continue
            held = await tmux.occupant(panes[name].active) if name in panes else None
            if held is not None and held.kind == PERSON and not force:
                echo(f"kept     {name}: {held.describe()} (--force kills it anyway)")
                continue
            await tmux.run("kill-session", "-t", sid)
            echo(f"killed   {name}" + (f" (was busy with {busy[name]})" if name in busy else ""))
            killed += 1
    except TransportError as exc:
        raise PoolError(str(exc)) from None
    echo(f"killed {killed} session(s)")
    return killed

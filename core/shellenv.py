"""The environment of a pane's shell: where it finds programs, and stopping our launcher in it.

A command typed at a pool session's prompt gets what that shell exports now,
which is what dispatchd's launcher gets too (it is typed there). Before a task
is claimed, the same lookup is made from outside: the PATH the shell started
with (``/proc/<pid>/environ``), and if the program is not there, a login
interactive shell of the same kind (what a new tmux window would run) reading
the person's rc files, because that is where ``~/.local/bin``, npm's prefix or
nvm usually join the PATH.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path

from .occupant import cmdline, shell_name
from .transport import Resolution

POSIX_SHELLS = frozenset({"sh", "bash", "dash", "zsh", "ksh", "mksh", "yash"})
"""Shells asked with ``-lic 'command -v -- "$1"'`` when the PATH they started with lacks it."""
PROBE_TIMEOUT = 5.0


def shell_environ(pid: int) -> dict[str, str]:
    """The environment ``pid`` started with (what a shell exports later is not in it)."""
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    env = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def find_program(program: str, path: str, cwd: str | None = None) -> str | None:
    """Where ``program`` is found on ``path`` (``None``: not there), as a shell looks it up;
    a name with a slash is taken relative to ``cwd``, as the shell in that folder would."""
    if "/" in program and cwd is not None:
        program = os.path.join(cwd, program)
    return shutil.which(program, path=path)


def resolve_in_shell(shell_pid: int, program: str, known_path: str | None = None) -> Resolution:
    """Where the shell ``shell_pid`` finds ``program``.

    ``known_path`` is the PATH dispatchd's launcher saw in that very shell (exact);
    without it, a login interactive shell of the same kind, started with the
    shell's environment, reads the person's rc files and answers (what a new
    window would have); for other shells the PATH it started with is a guess.
    """
    env = shell_environ(shell_pid)
    try:
        cwd: str | None = os.readlink(f"/proc/{shell_pid}/cwd")
    except OSError:
        cwd = None
    if known_path is not None or "/" in program:
        path = known_path if known_path is not None else env.get("PATH", "")
        return Resolution(program, find_program(program, path, cwd), path)
    path = env.get("PATH", "")
    args = cmdline(shell_pid)
    if env and args and shell_name(args[0]) in POSIX_SHELLS:
        answer = _ask_login_shell(shell_pid, program, env, cwd)
        if answer is not None:
            found, login_path = answer
            return Resolution(program, found, login_path or path)
    found = find_program(program, path, cwd)
    return Resolution(program, found, path, certain=found is not None)


def _ask_login_shell(shell_pid: int, program: str, env: dict[str, str],
                     cwd: str | None) -> tuple[str | None, str] | None:
    """(where ``program`` is, the PATH) as a login interactive shell like ``shell_pid`` says;
    ``None`` when it cannot be asked."""
    try:
        exe = os.readlink(f"/proc/{shell_pid}/exe")
        out = subprocess.run([exe, "-lic", 'printf "%s\\n" "$PATH"; command -v -- "$1"',
                              "dispatchd", program],
                             env=env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                             text=True, timeout=PROBE_TIMEOUT, start_new_session=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    lines = [line.strip() for line in out.strip().splitlines()]
    if not lines:
        return None
    answer = lines[-1] if len(lines) > 1 else ""
    path = lines[-2] if len(lines) > 1 else lines[-1]
    found = answer if answer.startswith("/") and os.access(answer, os.X_OK) else None
    return found, path


def _children(pid: int) -> list[int]:
    try:
        raw = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(c) for c in raw.split()]


def signal_launcher(pid: int, sig: int) -> None:
    """Send ``sig`` to dispatchd's launcher ``pid`` (which passes SIGTERM on to its agent);
    SIGKILL, which it cannot pass on, goes to the agent too. Never to the shell.

    Under an interactive shell the launcher leads its own process group (a job),
    which then gets SIGKILL whole; otherwise the launcher and its children do.
    """
    with contextlib.suppress(ProcessLookupError, PermissionError):
        if sig != signal.SIGKILL:
            os.kill(pid, sig)
            return
        if os.getpgid(pid) == pid:
            os.killpg(pid, sig)
            return
        for target in [pid, *_children(pid)]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(target, sig)

"""What runs in a pane when dispatchd starts an agent: ``python -m dispatchd.trampoline FILE MARKER``.

The daemon writes the agent's working directory, argv and environment to a JSON
file and asks tmux to respawn the pane with this program, so no path, name or
argument ever passes through a shell or through tmux's own command parser. The
agent runs as a child; when it exits, a marker line tells the daemon so (a
launch that falls back to the shell fails at once instead of timing out), and
the pane becomes the user's shell again, so the session survives.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys

EXIT_MARKER = "agent exited with status"
"""The end of the line printed when the agent exits; the daemon puts a random token of each
launch in front of it, so no text on screen (a task that quotes it) can fake it."""


def _shell() -> None:
    shell = os.environ.get("SHELL") or "/bin/sh"
    os.execvp(shell, [shell])


def main(argv: list[str]) -> int:
    if len(argv) != 2:  # "--shell", or anything unexpected: just a shell
        _shell()
        return 0
    marker = argv[1]
    try:
        with open(argv[0], encoding="utf-8") as fh:
            spec = json.load(fh)
        os.unlink(argv[0])  # it may hold secrets from agent_env
        env = dict(os.environ)
        for key, value in spec.get("env", {}).items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        os.chdir(spec["cwd"])
        old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}
        try:
            status = subprocess.call(
                spec["argv"], env=env,
                preexec_fn=lambda: [signal.signal(s, h) for s, h in old.items()] and None)
        finally:
            for sig, handler in old.items():
                signal.signal(sig, handler)
    except FileNotFoundError as exc:
        print(f"dispatchd: cannot start the agent: {exc}", file=sys.stderr)
        status = 127
    except Exception as exc:
        print(f"dispatchd: cannot start the agent: {exc}", file=sys.stderr)
        status = 126
    print(f"\r\n{marker} {status}\r", flush=True)
    _shell()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""What dispatchd types at a pool session's idle shell prompt: ``python -I trampoline.py SPEC``.

The daemon writes the agent's working directory, argv, environment changes and
exit marker to a JSON file, and types one quoted line that runs this file. So
the agent is a child of the person's own shell: it gets exactly the PATH and
environment a command typed there gets, no path or argument passes through
the shell's parser (only the two quoted paths do), and when the agent exits
the person's shell, its history and its screen are back as they were.

It needs nothing but the standard library (``-I`` keeps the shell's
``PYTHON*`` variables from breaking it). It reports through a file beside the
spec: ``<spec>.started`` with its pid and what it found (the program's path,
or that it is missing), before the agent starts; and prints the marker line
``<marker> <status>`` when the agent exits, which the daemon reads on screen.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import termios

TIDY = ("\x1b[0m\x1b[?25h\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l"
        "\x1b[?2004l\x1b[<u")
"""After the agent, whatever it left on (it may have been stopped mid-frame): colours, a hidden
cursor, the alternate screen, mouse reporting, bracketed paste, keyboard flags. The person's
shell gets its terminal back as it was."""
EXIT_MARKER = "agent exited with status"
START_WORDS = "agent started"
"""The end of the line printed when the agent exits; the daemon puts a random token of each
launch in front of it, so no text on screen (a task that quotes it) can fake it."""
NOT_FOUND = 127


def start_line(marker: str) -> str:
    """The line printed as the agent starts: ``[dispatchd <token>] agent started``, the same
    token as the exit marker, so that the scrollback after it belongs to this launch only."""
    return marker.rsplit(EXIT_MARKER, 1)[0] + START_WORDS


def _report(spec_path: str, **fields: object) -> None:
    tmp = spec_path + ".started.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump({"pid": os.getpid(), **fields}, fh)
    os.replace(tmp, spec_path + ".started")


def _env(changes: dict[str, str | None]) -> dict[str, str]:
    env = dict(os.environ)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


def _run(argv: list[str], env: dict[str, str]) -> int:
    """Run the agent in the foreground; Ctrl-C and Ctrl-\\ reach it, not us (as in a shell).

    SIGTERM and SIGHUP (the daemon ending the agent, the pane closing) are passed on.
    """
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, _frame: object) -> None:
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    ignored = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGQUIT)}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, forward)
    child = subprocess.Popen(
        argv, env=env,
        preexec_fn=lambda: [signal.signal(s, h) for s, h in ignored.items()] and None)
    while True:
        try:
            return child.wait()
        except InterruptedError:  # pragma: no cover - PEP 475 retries; kept for clarity
            continue


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: trampoline.py SPEC (dispatchd starts agents with it)", file=sys.stderr)
        return 2
    spec_path = argv[0]
    marker = ""
    saved = None
    with contextlib.suppress(termios.error, OSError):
        saved = termios.tcgetattr(0)
    try:
        with open(spec_path, encoding="utf-8") as fh:
            spec = json.load(fh)
        os.unlink(spec_path)  # it may hold secrets from agent_env
        marker = spec.get("marker", "")
        env = _env(spec.get("env", {}))
        program = spec["argv"][0]
        found = shutil.which(os.path.join(spec["cwd"], program) if "/" in program else program,
                             path=env.get("PATH", os.defpath))
        if found is None:
            _report(spec_path, program=program, found=found, path=env.get("PATH", ""))
            print(f"dispatchd: cannot start the agent: {program!r} is not on this shell's "
                  f"PATH ({env.get('PATH', '')})", file=sys.stderr)
            status = NOT_FOUND
        else:
            # the agent starts on a clear screen, below a line that marks where its output
            # begins; reported only then, so no screen read after the report shows what an
            # earlier agent left there (its ready prompt would pass for this one's)
            sys.stdout.write("\x1b[H\x1b[2J" + (start_line(marker) + "\r\n" if marker else ""))
            sys.stdout.flush()
            _report(spec_path, program=program, found=found, path=env.get("PATH", ""))
            os.chdir(spec["cwd"])
            status = _run(spec["argv"], env)
    except FileNotFoundError as exc:
        print(f"dispatchd: cannot start the agent: {exc}", file=sys.stderr)
        status = NOT_FOUND
    except Exception as exc:
        print(f"dispatchd: cannot start the agent: {exc}", file=sys.stderr)
        status = 126
    if saved is not None:
        with contextlib.suppress(termios.error, OSError):
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
    # the marker alone on a clean row, and nothing of the agent's last frame below it
    sys.stdout.write(TIDY + "\r\n\x1b[2K" + (f"{marker} {status}\r\n" if marker else "")
                     + "\x1b[J")
    sys.stdout.flush()
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

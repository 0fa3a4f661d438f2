"""Hooks that never fire: drain time of a batch with the agent's hooks on, and off.

An agent whose hooks do not run (Claude Code with ``disableAllHooks``) sends no
acknowledgement and no ``Stop``: dispatchd must see delivery and completion on
its screen instead, without parking anything in doubt. This runs the same batch
(``--tasks`` on ``--sessions``, the fake agent booting in ``--boot`` s and
working ``--work`` s) once with hooks and once with ``FAKEAGENT_MODE=no-hooks``,
``--rounds`` times alternately, and prints the drain (first drop to last
``done``) of each, the ratio off/on per round, and the tasks in doubt:

    hooks on:  drain <median [min-max]> s
    hooks off: drain <median [min-max]> s, in doubt <n>
    off/on: <median [min-max]>

    python bench/hooksoff.py [--tasks 8] [--sessions 4] [--rounds 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import machine, record, summary
from harness import Daemon, TmuxServer, pool_config, wait_for, write_task


def drain(tasks: int, sessions: int, boot: float, work: float, hooks: bool) -> tuple[float, int]:
    """Seconds from the first drop to the last task done, and how many ended in doubt."""
    folder = Path(tempfile.mkdtemp(prefix="dhooks"))
    mode = {} if hooks else {"FAKEAGENT_MODE": "no-hooks"}
    tmux = TmuxServer(folder / "agent.jsonl", FAKEAGENT_BOOT=str(boot), FAKEAGENT_WORK=str(work),
                      **mode)
    try:
        for i in range(1, sessions + 1):
            tmux.new_session(f"h-{i}")
        config = pool_config(tmux, folder, "h-", sessions, completion_poll="300ms",
                             settle_time="100ms", submit_delay="100ms")
        project = folder / "projects" / "p"
        (project / ".agent-queue" / "inbox").mkdir(parents=True)
        daemon = Daemon(folder, config, {}).start()
        wait_for(lambda: "started" in daemon.log(), 20, "the daemon")
        start = time.monotonic()
        for i in range(tasks):
            write_task(project, f"t{i}.md", f"task {i}")
        queue = project / ".agent-queue"

        def finished() -> int:
            return sum(len(list((queue / s).glob("*.md"))) for s in ("done", "failed", "indoubt"))

        wait_for(lambda: finished() == tasks, 120, "every task finished")
        seconds = time.monotonic() - start
        daemon.stop()
        return seconds, len(list((queue / "indoubt").glob("*.md")))
    finally:
        tmux.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--boot", type=float, default=1.0)
    ap.add_argument("--work", type=float, default=2.0)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    on: list[float] = []
    off: list[float] = []
    doubt = 0
    for _ in range(args.rounds):
        on.append(drain(args.tasks, args.sessions, args.boot, args.work, hooks=True)[0])
        seconds, in_doubt = drain(args.tasks, args.sessions, args.boot, args.work, hooks=False)
        off.append(seconds)
        doubt += in_doubt
    ratios = [b / a for a, b in zip(on, off, strict=True)]
    print(f"machine: {machine()}")
    print(f"{args.tasks} tasks on {args.sessions} sessions, boot {args.boot}s, work {args.work}s, "
          f"{args.rounds} rounds")
    print(f"hooks on:  drain {summary(on, fmt='.2f')} s")
    print(f"hooks off: drain {summary(off, fmt='.2f')} s, in doubt {doubt}")
    print(f"off/on: {summary(ratios, fmt='.2f')}")
    record("hooksoff", on=on, off=off, ratios=ratios, indoubt=doubt)


if __name__ == "__main__":
    main()

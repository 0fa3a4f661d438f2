"""Torture: random kill -9 and restarts of the daemon while it hands out hundreds of tasks.

Drops TASKS task files into a few projects, runs the daemon against a private
tmux server with the test suite's fake agent, and SIGKILLs it at random
moments, restarting it each time, until every task has reached a terminal
state (done/, failed/ or indoubt/). Then counts, from the files and from the
fake agent's own log of submissions:

    tasks=<n> done=<n> indoubt=<n> failed=<n> lost=<n> twice=<n> kills=<n>
    unsubmitted=<n> indoubt_never_pasted=<n> done_never_typed=<n>

``lost`` (a task in no terminal state), ``twice`` (a task typed into an agent
more than once) and ``done_never_typed`` (a task in ``done/`` that no agent was
ever given) must be 0. ``unsubmitted`` counts tasks whose text was pasted
but never submitted (left in an input box), ``indoubt_never_pasted`` tasks in
doubt whose text never reached any agent; both should be 0, and in doubt at
most 1 per 300 tasks (a submit cut off where the screen cannot tell).

    python bench/torture.py [--tasks 200] [--sessions 4] [--seed 1]
"""

from __future__ import annotations

import argparse
import collections
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import AgentLog, Daemon, TmuxServer, pool_config, write_task

TERMINAL = ("done", "failed", "indoubt")


def states(projects: list[Path]) -> dict[str, collections.Counter[str]]:
    out: dict[str, collections.Counter[str]] = {}
    for project in projects:
        for folder in (project / ".agent-queue").iterdir():
            if folder.is_dir():
                names = [p.name if folder.name == "inbox" else p.name.split(".", 1)[1]
                         for p in folder.glob("*.md")]
                out.setdefault(folder.name, collections.Counter()).update(
                    f"{project.name}/{n}" for n in names)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--projects", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--max-seconds", type=float, default=900)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="dtorture"))
    log = AgentLog(work / "agent.jsonl")
    tmux = TmuxServer(log.path, FAKEAGENT_BOOT="0.2", FAKEAGENT_WORK="0.3")
    kills = 0
    started = time.monotonic()
    try:
        for i in range(1, args.sessions + 1):
            tmux.new_session(f"t-{i}")
        projects = [work / "projects" / f"p{i}" for i in range(args.projects)]
        for p in projects:
            (p / ".agent-queue" / "inbox").mkdir(parents=True)
        names = []
        for i in range(args.tasks):
            project = projects[i % len(projects)]
            name = f"task-{i:04d}.md"
            write_task(project, name, f"torture task {project.name}/{name}",
                       priority=rng.choice(["critical", "high", "default", "low"]))
            names.append(f"{project.name}/{name}")
        config = pool_config(tmux, work, "t-", args.sessions, completion_poll="300ms",
                             settle_time="100ms", submit_delay="50ms", ack_timeout="4s",
                             prompt_timeout="10s", cooldown="1s", poll_interval="2s")
        daemon = Daemon(work, config, {})
        while True:
            where = states(projects)
            finished = sum(sum(where.get(s, {}).values()) for s in TERMINAL)
            if finished >= args.tasks or time.monotonic() - started > args.max_seconds:
                break
            daemon.start()
            if finished < args.tasks * 0.9 and rng.random() < 0.85:
                time.sleep(rng.uniform(0.3, 2.5))
                if daemon.stop(signal.SIGKILL) is not None:
                    kills += 1
            else:  # let it run to the end
                time.sleep(5)
                daemon.stop()
        daemon.stop()
        where = states(projects)
    finally:
        tmux.kill()
    def task_of(record: dict[str, str]) -> str:
        return record["text"].split("] ", 1)[1].split("\n")[0].removeprefix("torture task ")

    typed = collections.Counter(task_of(r) for r in log.submits())
    pasted = collections.Counter(task_of(r) for r in log.records("paste"))
    terminal = collections.Counter()
    for state in TERMINAL:
        terminal.update(where.get(state, {}))
    lost = sum(1 for n in names if terminal[n] != 1)
    twice = sum(1 for count in typed.values() if count > 1)
    counts = {s: sum(where.get(s, {}).values()) for s in TERMINAL}
    unsubmitted = sum(1 for n in pasted if not typed[n])
    never_pasted = sum(1 for n in where.get("indoubt", {}) if not pasted[n])
    done_untyped = sum(1 for n in where.get("done", {}) if not typed[n])  # work lost
    print(f"tasks={args.tasks} done={counts['done']} indoubt={counts['indoubt']} "
          f"failed={counts['failed']} lost={lost} twice={twice} kills={kills} "
          f"unsubmitted={unsubmitted} indoubt_never_pasted={never_pasted} "
          f"done_never_typed={done_untyped} "
          f"seconds={time.monotonic() - started:.0f}")
    sys.exit(1 if lost or twice or done_untyped else 0)


if __name__ == "__main__":
    main()

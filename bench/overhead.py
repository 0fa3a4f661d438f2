"""Per-dispatch overhead: tmux commands and subprocesses per dispatched task, and CPU per task.

Runs the real daemon against a private tmux server with the test suite's fake
agent, in two phases of ``--tasks`` tasks each, every task carried through to
``done``:

1. without tracing: the daemon's CPU time (``/proc/<pid>/stat``, user +
   system) from the drop to the last ``done``, per task;
2. under ``strace -f -e trace=execve`` attached to the daemon: every program
   the daemon (or a child of it) executes, counted per task and, for tmux, per
   tmux command (``list-panes``, ``send-keys``, ``capture-pane``, ...).

Programs the agents run (inside tmux panes) are not the daemon's children and
are not counted. Some commands depend on time rather than on the number of
tasks (``capture-pane`` while an agent works, every ``completion_poll``), so
they grow with ``--work``. Needs strace (skipped with a note if it is missing
or cannot attach).

    python bench/overhead.py [--tasks 20] [--sessions 2] [--boot 0.3] [--work 0.5]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, journal, machine, record
from harness import Daemon, TmuxServer, pool_config, wait_for, write_task

EXECVE = re.compile(r'^\d+\s+execve\("([^"]*)", \[(.*?)\]')
TMUX_GLOBAL_OPTS_WITH_ARG = {"-S", "-L", "-f", "-c", "-T"}


def done_count(project: Path) -> int:
    return sum(1 for r in journal(project) if r.get("event") in ("done", "failed", "indoubt"))


def drop(project: Path, prefix: str, n: int) -> None:
    for i in range(n):
        write_task(project, f"{prefix}{i:04d}.md", f"overhead task {prefix}{i}")


def tmux_command(args: list[str]) -> str:
    i = 1
    while i < len(args):
        if args[i] in TMUX_GLOBAL_OPTS_WITH_ARG:
            i += 2
        elif args[i].startswith("-"):
            i += 1
        else:
            return args[i]
    return "(none)"


def parse_trace(path: Path) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in path.read_text(errors="replace").splitlines():
        m = EXECVE.match(line)
        if not m or "= -1" in line:  # a failed execve (PATH search) is not a process
            continue
        args = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        prog = Path(m.group(1)).name
        counts[f"tmux {tmux_command(args)}" if prog == "tmux" else prog] += 1
    return counts


def spawn_cost(socket: Path, n: int = 50) -> tuple[float, float]:
    """CPU (ms, this process plus its children) and wall time (ms) of one ``tmux
    list-sessions`` run the way the daemon runs tmux (``asyncio.create_subprocess_exec``)."""

    async def once() -> None:
        proc = await asyncio.create_subprocess_exec(
            "tmux", "-S", str(socket), "list-sessions", stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        await proc.communicate()

    async def many() -> None:
        for _ in range(n):
            await once()

    def cpu() -> float:
        me, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF,
                                                    resource.RUSAGE_CHILDREN))
        return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime

    c0, w0 = cpu(), time.perf_counter()
    asyncio.run(many())
    return (cpu() - c0) / n * 1000, (time.perf_counter() - w0) / n * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=20)
    ap.add_argument("--sessions", type=int, default=2)
    ap.add_argument("--boot", type=float, default=0.3)
    ap.add_argument("--work", type=float, default=0.5)
    ap.add_argument("--completion-poll", default="1s")
    args = ap.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="dbench"))
    tmux = TmuxServer(work_dir / "agent.jsonl", FAKEAGENT_BOOT=str(args.boot),
                      FAKEAGENT_WORK=str(args.work))
    counts: collections.Counter[str] | None = None
    note = ""
    try:
        for i in range(1, args.sessions + 1):
            tmux.new_session(f"o-{i}")
        project = work_dir / "projects" / "p"
        (project / ".agent-queue" / "inbox").mkdir(parents=True)
        config = pool_config(tmux, work_dir, "o-", args.sessions,
                             completion_poll=args.completion_poll, settle_time="200ms",
                             submit_delay="100ms")
        spawn_cpu, spawn_wall = spawn_cost(tmux.socket)
        daemon = Daemon(work_dir, config, {}).start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        limit = 60 + args.tasks * (args.boot + args.work + 3)
        try:
            wait_for(lambda: "started" in daemon.log(), 30, "daemon start")
            time.sleep(1.0)
            c0, m0 = cpu_seconds(pid), time.monotonic()
            drop(project, "a", args.tasks)
            wait_for(lambda: done_count(project) >= args.tasks, limit, "phase 1 done")
            cpu = cpu_seconds(pid) - c0
            phase1 = time.monotonic() - m0
            time.sleep(1.0)
            if shutil.which("strace") is None:
                note = "strace is not installed: no counts"
            else:
                trace = work_dir / "trace.txt"
                tracer = subprocess.Popen(["strace", "-f", "-qq", "-s", "200", "-e",
                                           "trace=execve", "-o", str(trace), "-p", str(pid)],
                                          stderr=subprocess.PIPE)
                time.sleep(1.0)  # attached
                if tracer.poll() is not None:
                    assert tracer.stderr is not None
                    note = f"strace cannot attach: {tracer.stderr.read().decode().strip()}"
                else:
                    drop(project, "b", args.tasks)
                    wait_for(lambda: done_count(project) >= 2 * args.tasks, limit * 3,
                             "phase 2 done")
                    time.sleep(0.5)
                    tracer.send_signal(signal.SIGINT)
                    tracer.wait(timeout=20)
                    counts = parse_trace(trace)
        finally:
            daemon.stop()
    finally:
        tmux.kill()
    n = args.tasks
    print(f"machine: {machine()}")
    print(f"per-dispatch overhead: {n} tasks on {args.sessions} sessions, boot {args.boot:g}s, "
          f"work {args.work:g}s, completion_poll {args.completion_poll}")
    print(f"  daemon CPU per task: {cpu / n * 1000:.1f} ms (phase 1: {cpu:.2f}s CPU in "
          f"{phase1:.1f}s)")
    print(f"  one tmux command spawned from asyncio (in this process, for scale): "
          f"{spawn_cpu:.1f} ms CPU (parent + tmux client), {spawn_wall:.1f} ms wall")
    figures: dict[str, float] = {"cpu_ms_per_task": cpu / n * 1000,
                                 "tmux_spawn_cpu_ms": spawn_cpu, "tmux_spawn_wall_ms": spawn_wall}
    if counts is None:
        print(f"  ({note})")
    else:
        total = sum(counts.values())
        tmux_total = sum(v for k, v in counts.items() if k.startswith("tmux "))
        print(f"  processes executed per task: {total / n:.1f} (tmux: {tmux_total / n:.1f})")
        for key, value in counts.most_common():
            print(f"    {key:<28} {value / n:6.2f} per task ({value} in all)")
        figures.update(execs_per_task=total / n, tmux_per_task=tmux_total / n,
                       **{f"per_task:{k}": v / n for k, v in counts.items()})
    record("overhead", tasks=n, sessions=args.sessions, boot=args.boot, work=args.work,
           **figures)


if __name__ == "__main__":
    main()

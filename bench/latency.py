"""Detection latency: from a task file's atomic arrival in an inbox to its claim.

Runs the real daemon against a private tmux server with the test suite's fake
agent and drops tasks one at a time (write elsewhere, rename into the inbox),
each while a session is idle (a sample taken while every session was busy is
counted and left out), so the figure is the daemon's detection and decision
time, not a wait for a free session. ``--gap`` is the pause between one
task's claim and the next task's arrival (plus up to 50 ms of jitter): the
next task lands in the same inbox, so a short gap shows how an arrival soon
after a claim is served (watchdog holds every event of a watched folder for up
to 0.5 s behind the claim's unpaired ``IN_MOVED_FROM``; see
docs/performance.md). Without events the gap is random over the whole
``poll_interval``, so arrivals fall at random phases of the scan. The claim time is the
``claimed`` line of the project's journal; the arrival time is taken right
after the rename. Prints p50, p90, p99 and max, with file-system events and
(``--no-events``) with the periodic scan alone (``watch_events: false``), where
the latency is bounded by ``poll_interval``.

    python bench/latency.py [--tasks 200] [--sessions 4] [--gap 0.7]
    python bench/latency.py --gap 0.1          # arrivals right after a claim
    python bench/latency.py --no-events --tasks 50 --poll-interval 1s
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path

from common import journal, machine, percentile, record, status
from harness import Daemon, TmuxServer, pool_config, wait_for, write_task


def free_session(state_dir: Path) -> bool:
    st = status(state_dir)
    return any(s.get("state") == "idle" and not s.get("task") for s in st.get("sessions", []))


def in_flight(project: Path) -> tuple[dict[str, float], int]:
    """Claim time of every task claimed so far, and how many are claimed and not finished."""
    claimed: dict[str, float] = {}
    finished = set()
    for rec in journal(project):
        if rec.get("event") == "claimed":
            claimed.setdefault(rec["name"], rec["ts"])
        elif rec.get("event") in ("done", "failed", "indoubt", "released"):
            finished.add(rec["name"])
    return claimed, len(set(claimed) - finished)


def seconds(duration: str) -> float:
    units = {"ms": 0.001, "s": 1.0, "m": 60.0}
    for unit in ("ms", "s", "m"):
        if duration.endswith(unit):
            return float(duration[:-len(unit)]) * units[unit]
    return float(duration)


def run(tasks: int, sessions: int, events: bool, poll_interval: str, seed: int,
        gap: float) -> tuple[list[float], int]:
    rng = random.Random(seed)
    work_dir = Path(tempfile.mkdtemp(prefix="dbench"))
    tmux = TmuxServer(work_dir / "agent.jsonl", FAKEAGENT_BOOT="0.05", FAKEAGENT_WORK="0.05")
    latencies = []
    skipped = 0
    try:
        for i in range(1, sessions + 1):
            tmux.new_session(f"l-{i}")
        project = work_dir / "projects" / "p"
        (project / ".agent-queue" / "inbox").mkdir(parents=True)
        config = pool_config(tmux, work_dir, "l-", sessions, completion_poll="200ms",
                             settle_time="200ms", submit_delay="0s", poll_interval=poll_interval,
                             watch_events=events)
        state_dir = work_dir / "state"
        daemon = Daemon(work_dir, config, {}).start()
        try:
            wait_for(lambda: "started" in daemon.log(), 30, "daemon start")
            wait_for(lambda: free_session(state_dir), 30, "an idle session")
            period = seconds(poll_interval)
            i = 0
            while len(latencies) < tasks:
                name = f"t{i:04d}.md"
                i += 1
                time.sleep(gap + rng.uniform(0, 0.05) if events else rng.uniform(0.3, 0.3 + period))
                _, busy = in_flight(project)
                write_task(project, name, f"latency task {i}")
                arrived = time.time()
                claimed = wait_for(lambda n=name: in_flight(project)[0].get(n), 120,
                                   f"claim of {name}")
                if busy >= sessions:
                    skipped += 1
                else:
                    latencies.append(claimed - arrived)
        finally:
            daemon.stop()
    finally:
        tmux.kill()
    return latencies, skipped


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=200)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--no-events", action="store_true", help="dispatcher.watch_events: false")
    ap.add_argument("--poll-interval", default="1s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--gap", type=float, default=0.7,
                    help="seconds from a claim to the next arrival (with events)")
    args = ap.parse_args()
    events = not args.no_events
    lat, skipped = run(args.tasks, args.sessions, events, args.poll_interval, args.seed,
                       args.gap)
    ms = [x * 1000 for x in lat]
    mode = (f"events, {args.gap:g}s after the previous claim" if events
            else f"polling only, poll_interval {args.poll_interval}")
    print(f"machine: {machine()}")
    print(f"detection latency (arrival -> claimed), {mode}, {len(ms)} tasks, "
          f"{args.sessions} sessions ({skipped} more arrived with every session busy: "
          "left out)")
    figures = {"p50": percentile(ms, 50), "p90": percentile(ms, 90), "p99": percentile(ms, 99),
               "max": max(ms), "min": min(ms), "mean": statistics.fmean(ms)}
    for key, value in figures.items():
        print(f"  {key:>4}: {value:.1f} ms")
    record("latency", events=events, poll_interval=args.poll_interval, tasks=len(ms), gap=args.gap,
           **figures)


if __name__ == "__main__":
    main()

"""Fan-out: T tasks dropped at once onto S idle sessions; how soon each is received.

Runs the real daemon against a private tmux server with the test suite's fake
agent (boot and work times are parameters) and prints, from the fake agent's
own log: time to the first receipt, the median receipt, the time until all
were received, and the ratio of that drain time to the physical limit
``ceil(T/S) x (boot + work)``.

    python bench/fanout.py --tasks 8 --sessions 4 --boot 1 --work 2 [--runs 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from harness import AgentLog, Daemon, TmuxServer, pool_config, wait_for, write_task


def one_run(tasks: int, sessions: int, boot: float, work: float) -> dict[str, float]:
    work_dir = Path(tempfile.mkdtemp(prefix="dbench"))
    log = AgentLog(work_dir / "agent.jsonl")
    tmux = TmuxServer(log.path, FAKEAGENT_BOOT=str(boot), FAKEAGENT_WORK=str(work))
    try:
        for i in range(1, sessions + 1):
            tmux.new_session(f"b-{i}")
        projects = work_dir / "projects"
        (projects / "p").mkdir(parents=True)
        config = pool_config(tmux, work_dir, "b-", sessions, completion_poll="1s",
                             settle_time="200ms", submit_delay="100ms")
        daemon = Daemon(work_dir, config, {}).start()
        wait_for(lambda: "started" in daemon.log(), 30, "daemon start")
        t0 = time.time()
        for i in range(tasks):
            write_task(projects / "p", f"t{i:04d}.md", f"task {i}")
        wait_for(lambda: len(log.submits()) >= tasks, 60 + tasks * (boot + work), "all submits")
        daemon.stop()
        times = sorted(r["ts"] - t0 for r in log.submits())
    finally:
        tmux.kill()
    rounds = math.ceil(tasks / sessions)
    limit = rounds * (boot + work)
    # The last receipt can come no sooner than (rounds-1) x (boot+work) + boot: what is left
    # over, per round, is dispatchd's own cost (detection, launch, paste, completion).
    floor = (rounds - 1) * (boot + work) + boot
    return {"first": times[0], "median": statistics.median(times), "all": times[-1],
            "limit": limit, "ratio": times[-1] / limit, "overhead": (times[-1] - floor) / rounds}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--boot", type=float, default=1.0)
    ap.add_argument("--work", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    results = [one_run(args.tasks, args.sessions, args.boot, args.work) for _ in range(args.runs)]
    print(f"fan-out: {args.tasks} tasks on {args.sessions} sessions, boot {args.boot}s, "
          f"work {args.work}s, {args.runs} run(s); medians over runs [min-max]")
    for key in ("first", "median", "all", "ratio", "overhead"):
        values = [r[key] for r in results]
        unit = "" if key == "ratio" else "s"
        print(f"  {key:>7}: {statistics.median(values):.3f}{unit} "
              f"[{min(values):.3f}-{max(values):.3f}]")
    print(f"  limit ceil(T/S) x (boot+work) = {results[0]['limit']:.1f}s; overhead = seconds "
          "per round beyond boot+work")


if __name__ == "__main__":
    main()

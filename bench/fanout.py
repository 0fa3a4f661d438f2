"""Fan-out: T tasks dropped at once onto S idle sessions; how soon each is received.

Runs the real daemon against a private tmux server with the test suite's fake
agent (boot and work times are parameters) and prints, from the fake agent's
own log: time to the first receipt, the median receipt, the time until all
were received, and the ratio of that drain time to the physical limit
``ceil(T/S) x (boot + work)``.

    python bench/fanout.py --tasks 8 --sessions 4 --boot 1 --work 2 [--runs 3]
    python bench/fanout.py --sweep 8x4,40x10,200x20 --runs 3 [--plot docs/fanout.png]

``--sweep TxS,...`` runs each configuration in turn and prints one table row per
configuration (medians over runs, [min-max]); ``--plot`` draws the receipts over
time and the drain ratio against S (only if matplotlib is importable). The
daemon's CPU time per dispatched task is printed too.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from common import cpu_seconds, machine, record
from harness import AgentLog, Daemon, TmuxServer, pool_config, wait_for, write_task


def one_run(tasks: int, sessions: int, boot: float, work: float) -> dict[str, Any]:
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
        assert daemon.proc is not None
        time.sleep(0.5)  # the first scan and pool report are over
        cpu0 = cpu_seconds(daemon.proc.pid)
        t0 = time.time()
        for i in range(tasks):
            write_task(projects / "p", f"t{i:04d}.md", f"task {i}")
        wait_for(lambda: len(log.submits()) >= tasks, 60 + tasks * (boot + work), "all submits")
        cpu = cpu_seconds(daemon.proc.pid) - cpu0
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
            "limit": limit, "ratio": times[-1] / limit, "overhead": (times[-1] - floor) / rounds,
            "cpu_ms_per_task": cpu / tasks * 1000, "times": times}


KEYS = ("first", "median", "all", "ratio", "overhead", "cpu_ms_per_task")


def sweep(configs: list[tuple[int, int]], boot: float, work: float,
          runs: int) -> list[tuple[int, int, list[dict[str, Any]]]]:
    out = []
    for tasks, sessions in configs:
        results = [one_run(tasks, sessions, boot, work) for _ in range(runs)]
        for r in results:
            record("fanout", tasks=tasks, sessions=sessions, boot=boot, work=work,
                   **{k: r[k] for k in KEYS})
        out.append((tasks, sessions, results))
    return out


def plot(rows: list[tuple[int, int, list[dict[str, Any]]]], boot: float, work: float,
         path: Path) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(f"  (matplotlib is not importable: no plot written to {path})")
        return False
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for tasks, sessions, results in rows:
        best = sorted(results, key=lambda r: r["all"])[len(results) // 2]  # the median run
        xs = best["times"]
        left.step(xs, range(1, len(xs) + 1), where="post", label=f"{tasks} on {sessions}")
        rounds = math.ceil(tasks / sessions)
        ideal = [(r - 1) * (boot + work) + boot for r in range(1, rounds + 1)]
        left.step(ideal, [min(tasks, r * sessions) for r in range(1, rounds + 1)],
                  where="post", linestyle=":", color=left.lines[-1].get_color(), alpha=0.7)
    left.set_xlabel("seconds after the tasks were dropped")
    left.set_ylabel("tasks received by an agent")
    left.set_title(f"Receipts (dotted: physical limit; boot {boot:g}s, work {work:g}s)")
    left.legend()
    ss = [s for _, s, _ in rows]
    for key, axis, style, label in (("ratio", right, "o-", "drain ratio (left axis)"),
                                    ("overhead", right.twinx(), "s--",
                                     "overhead per round, s (right axis)")):
        med = [statistics.median(r[key] for r in res) for _, _, res in rows]
        lo = [m - min(r[key] for r in res) for m, (_, _, res) in zip(med, rows, strict=True)]
        hi = [max(r[key] for r in res) - m for m, (_, _, res) in zip(med, rows, strict=True)]
        color = "tab:blue" if key == "ratio" else "tab:red"
        axis.errorbar(ss, med, yerr=[lo, hi], fmt=style, capsize=4, color=color, label=label)
        if key == "ratio":
            for (t, s, _), m in zip(rows, med, strict=True):
                axis.annotate(f"{t} on {s}", (s, m), textcoords="offset points", xytext=(5, 5))
            axis.axhspan(0.85, 1.15, color="grey", alpha=0.15, label="target band at 8 on 4")
            axis.set_ylabel("drain time / (ceil(T/S) x (boot+work))", color=color)
            axis.set_ylim(0.7, max(1.5, max(m + h for m, h in zip(med, hi, strict=True)) + 0.05))
            axis.legend(loc="upper left")
        else:
            axis.set_ylabel("seconds per round beyond boot+work", color=color)
            axis.set_ylim(0, max(1.5, max(m + h for m, h in zip(med, hi, strict=True)) + 0.1))
            axis.legend(loc="lower right")
    right.set_xlabel("sessions S")
    right.set_title("Drain ratio and overhead per round against S")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    print(f"  plot written to {path}")
    return True


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=8)
    ap.add_argument("--sessions", type=int, default=4)
    ap.add_argument("--sweep", help="configurations TxS,TxS,... (instead of --tasks/--sessions)")
    ap.add_argument("--boot", type=float, default=1.0)
    ap.add_argument("--work", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--plot", type=Path, help="write a PNG here (needs matplotlib)")
    args = ap.parse_args()
    if args.sweep:
        configs = [(int(t), int(s)) for t, s in
                   (item.lower().split("x") for item in args.sweep.split(","))]
    else:
        configs = [(args.tasks, args.sessions)]
    rows = sweep(configs, args.boot, args.work, args.runs)
    print(f"machine: {machine()}")
    print(f"fan-out: boot {args.boot:g}s, work {args.work:g}s, {args.runs} run(s) each; "
          "median over runs [min-max]")
    for tasks, sessions, results in rows:
        limit = results[0]["limit"]
        print(f"{tasks} tasks on {sessions} sessions (limit ceil(T/S) x (boot+work) = "
              f"{limit:.1f}s)")
        for key in KEYS:
            values = [r[key] for r in results]
            unit = {"ratio": "", "cpu_ms_per_task": "ms"}.get(key, "s")
            print(f"  {key:>15}: {statistics.median(values):.3f}{unit} "
                  f"[{min(values):.3f}-{max(values):.3f}]")
    print("  overhead = seconds per round beyond boot+work; cpu_ms_per_task = the daemon's "
          "CPU time (user+system) from the drop to the last receipt, per task")
    if args.plot:
        plot(rows, args.boot, args.work, args.plot)


if __name__ == "__main__":
    main()

"""Backlog scale: a large backlog at start, and the cost of one new event while it waits.

Writes the backlog first (``--layout 1x10000``: one inbox with 10,000 tasks;
``--layout 1000x10``: 1,000 projects with 10 tasks each), lets it age past
``settle_time``, then starts the real daemon (private tmux server, the test
suite's fake agent in one session, which then stays busy) and measures from
the daemon's process start:

- ``started``: the daemon's "started" log line was written (imports, recovery);
- ``first claim``: the first ``claimed`` journal line (any project);
- ``ordered``: ``status.json`` counts every task (waiting + claimed), i.e. the
  whole backlog has been read and put in dispatch order.

Then, with the backlog waiting and no session free, drops ``--events`` new
tasks one at a time and reports the daemon's CPU time per new task (from
``/proc/<pid>/stat``, the idle CPU of the same interval subtracted), which
must not grow with the backlog.

    python bench/backlog.py --layout 1x10000 [--runs 3]
    python bench/backlog.py --layout 1000x10
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from common import claims, cpu_seconds, machine, record, rss_mb, status, summary
from harness import Daemon, TmuxServer, pool_config, wait_for, write_task


def make_backlog(projects_dir: Path, n_projects: int, per_project: int) -> list[Path]:
    projects = []
    body = "---\npriority: {}\n---\nBacklog task {}.\n"
    prios = ("critical", "high", "default", "low")
    for p in range(n_projects):
        project = projects_dir / f"p{p:04d}"
        inbox = project / ".agent-queue" / "inbox"
        inbox.mkdir(parents=True)
        for i in range(per_project):
            (inbox / f"t{i:05d}.md").write_text(body.format(prios[i % 4], i))
        projects.append(project)
    return projects


def one_run(n_projects: int, per_project: int, events: int, settle: float) -> dict[str, Any]:
    total = n_projects * per_project
    work_dir = Path(tempfile.mkdtemp(prefix="dbench"))
    # the one agent boots at once and then works "forever": no session is free afterwards
    tmux = TmuxServer(work_dir / "agent.jsonl", FAKEAGENT_BOOT="0.05", FAKEAGENT_WORK="3600")
    try:
        tmux.new_session("k-1")
        projects = make_backlog(work_dir / "projects", n_projects, per_project)
        config = pool_config(tmux, work_dir, "k-", 1, completion_poll="1s",
                             settle_time=f"{int(settle * 1000)}ms", submit_delay="0s",
                             poll_interval="60s")
        state_dir = work_dir / "state"
        time.sleep(settle + 0.1)  # every file is older than settle_time
        daemon = Daemon(work_dir, config, {})
        t0 = time.time()
        daemon.start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        try:
            started = wait_for(lambda: "started" in daemon.log() and time.time(), 120, "start")
            first = None
            ordered = None
            deadline = time.time() + 600
            while (first is None or ordered is None) and time.time() < deadline:
                now = time.time()
                if first is None:
                    # the journal of the first project in dispatch order gets the first claim
                    for project in projects[:1] if n_projects == 1 else projects:
                        got = claims(project)
                        if got:
                            first = min(got.values())
                            break
                if ordered is None:
                    st = status(state_dir)
                    busy = sum(1 for s in st.get("sessions", []) if s.get("task"))
                    if st.get("waiting_total", 0) + busy >= total:
                        ordered = now
                time.sleep(0.02)
            assert first is not None and ordered is not None, "backlog not ordered in time"
            time.sleep(1.0)
            rss = rss_mb(pid, "VmHWM")
            # the cost of one new event with the backlog waiting
            quiet0, q0 = cpu_seconds(pid), time.monotonic()
            time.sleep(2.0)
            idle_rate = (cpu_seconds(pid) - quiet0) / (time.monotonic() - q0)
            target = projects[0]
            c0, m0 = cpu_seconds(pid), time.monotonic()
            for i in range(events):
                write_task(target, f"new{i:04d}.md", f"new task {i}")
                want = total + i + 1
                wait_for(lambda w=want: status(state_dir).get("waiting_total", 0) + 1 >= w,
                         30, "the new task in status.json")
            time.sleep(0.3)  # the last status write
            used = cpu_seconds(pid) - c0 - idle_rate * (time.monotonic() - m0)
        finally:
            daemon.stop()
    finally:
        tmux.kill()
    return {"tasks": total, "started": started - t0, "first_claim": first - t0,
            "ordered": ordered - t0, "event_cpu_ms": max(0.0, used) / events * 1000,
            "peak_rss_mb": rss}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--layout", default="1x10000",
                    help="PROJECTSxTASKS, e.g. 1x10000 or 1000x10 (several: comma-separated)")
    ap.add_argument("--events", type=int, default=20, help="new tasks dropped one at a time")
    ap.add_argument("--settle", type=float, default=0.2, help="settle_time in seconds")
    ap.add_argument("--runs", type=int, default=1)
    args = ap.parse_args()
    print(f"machine: {machine()}")
    print(f"backlog at start, {args.runs} run(s) each: seconds from process start, "
          "median [min-max]")
    for layout in args.layout.split(","):
        n_projects, per_project = (int(x) for x in layout.lower().split("x"))
        results = [one_run(n_projects, per_project, args.events, args.settle)
                   for _ in range(args.runs)]
        for r in results:
            record("backlog", layout=layout, **r)
        print(f"{n_projects} project(s) x {per_project} task(s) = {results[0]['tasks']} tasks")
        for key, unit in (("started", "s"), ("first_claim", "s"), ("ordered", "s"),
                          ("event_cpu_ms", "ms"), ("peak_rss_mb", "MB")):
            print(f"  {key:>13}: {summary([r[key] for r in results])} {unit}")
    print("  event_cpu_ms = daemon CPU per new task arriving while the backlog waits "
          f"(idle CPU subtracted; mean of {args.events})")


if __name__ == "__main__":
    main()

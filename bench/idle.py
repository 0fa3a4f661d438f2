"""Idle cost: the daemon watching many empty inboxes with nothing to do.

Creates ``--projects`` projects with an empty inbox each, starts the real
daemon (private tmux server, two idle sessions of the test suite's fake
agent), waits until it has started and ``--warmup`` seconds more, then samples
``/proc/<pid>`` for ``--seconds``: CPU time (user + system, threads included)
as a share of one core, the RSS at the end and its peak (``VmHWM``), and the
daemon's thread count. Also reports whether every inbox got a file-system
watch (log lines about watches that could not be added).

    python bench/idle.py [--projects 1000] [--seconds 60]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from common import cpu_seconds, machine, proc_status, record, rss_mb
from harness import Daemon, TmuxServer, pool_config, wait_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--projects", type=int, default=1000)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--warmup", type=float, default=3)
    ap.add_argument("--poll-interval", default="60s")
    args = ap.parse_args()
    work_dir = Path(tempfile.mkdtemp(prefix="dbench"))
    tmux = TmuxServer(work_dir / "agent.jsonl")
    try:
        for i in range(1, 3):
            tmux.new_session(f"i-{i}")
        for p in range(args.projects):
            (work_dir / "projects" / f"p{p:04d}" / ".agent-queue" / "inbox").mkdir(parents=True)
        config = pool_config(tmux, work_dir, "i-", 2, poll_interval=args.poll_interval)
        daemon = Daemon(work_dir, config, {})
        t0 = time.monotonic()
        daemon.start()
        assert daemon.proc is not None
        pid = daemon.proc.pid
        try:
            wait_for(lambda: "started" in daemon.log(), 120, "daemon start")
            time.sleep(args.warmup)
            startup_cpu = cpu_seconds(pid)
            startup = time.monotonic() - t0
            c0, m0 = cpu_seconds(pid), time.monotonic()
            time.sleep(args.seconds)
            cpu = cpu_seconds(pid) - c0
            elapsed = time.monotonic() - m0
            st = proc_status(pid)
            rss, peak = rss_mb(pid), rss_mb(pid, "VmHWM")
            threads = int(st["Threads"])
            fds = len(list(Path(f"/proc/{pid}/fd").iterdir()))
        finally:
            daemon.stop()
        log = daemon.log()
    finally:
        tmux.kill()
    unwatched = sum(1 for line in log.splitlines()
                    if "watch" in line.lower() and ("cannot" in line or "could not" in line
                                                    or "limit" in line.lower()))
    share = cpu / elapsed * 100
    print(f"machine: {machine()}")
    print(f"idle: {args.projects} empty inboxes watched for {elapsed:.0f}s "
          f"(poll_interval {args.poll_interval})")
    print(f"  cpu: {cpu:.2f}s = {share:.2f}% of one core")
    print(f"  startup (incl. {args.warmup:g}s warm-up): {startup:.1f}s, {startup_cpu:.2f}s CPU")
    print(f"  rss: {rss:.1f} MB, peak {peak:.1f} MB")
    print(f"  threads: {threads}, open fds: {fds}")
    print(f"  log lines about watches not added: {unwatched}")
    record("idle", projects=args.projects, seconds=elapsed, cpu_s=cpu, cpu_pct=share,
           rss_mb=rss, peak_rss_mb=peak, threads=threads, fds=fds, unwatched=unwatched,
           startup_cpu_s=startup_cpu)


if __name__ == "__main__":
    main()

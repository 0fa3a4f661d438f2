"""Shared helpers of the benchmarks: the daemon's CPU and memory, journals, status, statistics.

Every benchmark runs the real daemon (``dispatchd run`` in a subprocess) against a
private tmux server with the test suite's fake agent (``tests/fakeagent.py``),
through ``tests/harness.py``; nothing here touches the user's tmux server.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (its threads included), from /proc/<pid>/stat."""
    text = Path(f"/proc/{pid}/stat").read_text()
    fields = text[text.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime, stime


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def rss_mb(pid: int, key: str = "VmRSS") -> float:
    """Resident set size (``VmRSS``) or its peak (``VmHWM``) in MB."""
    return int(proc_status(pid)[key].split()[0]) / 1024


def journal(project: Path) -> list[dict[str, Any]]:
    path = project / ".agent-queue" / "journal.jsonl"
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return []
    out = []
    for line in lines:
        with contextlib.suppress(ValueError):  # a line being written
            out.append(json.loads(line))
    return out


def claims(project: Path) -> dict[str, float]:
    """Task file name -> time of its ``claimed`` journal line (the first one)."""
    out: dict[str, float] = {}
    for rec in journal(project):
        if rec.get("event") == "claimed":
            out.setdefault(rec["name"], rec["ts"])
    return out


def status(state_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((state_dir / "status.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100)."""
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[k]


def summary(values: list[float], scale: float = 1.0, fmt: str = ".3f") -> str:
    """``median [min-max]`` of values (times ``scale``)."""
    v = [x * scale for x in values]
    return f"{statistics.median(v):{fmt}} [{min(v):{fmt}}-{max(v):{fmt}}]"


def machine() -> str:
    """One line describing the machine the figures come from."""
    model = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 1024 / 1024:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return (f"{os.cpu_count()} CPU ({model}), {mem} RAM, Linux {platform.release()}, "
            f"Python {platform.python_version()}")


def results_file() -> Path | None:
    """Where a benchmark appends its figures as JSON lines (``DISPATCHD_BENCH_OUT``), if set."""
    path = os.environ.get("DISPATCHD_BENCH_OUT")
    return Path(path) if path else None


def record(bench: str, **figures: Any) -> None:
    out = results_file()
    if out is not None:
        with open(out, "a") as f:
            f.write(json.dumps({"bench": bench, "ts": time.time(), **figures}) + "\n")

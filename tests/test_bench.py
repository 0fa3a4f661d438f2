"""The benchmarks run once, small, so they cannot rot (no thresholds: figures are for reading)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fanout_bench_runs(tmp_path):
    out = run("fanout.py", "--sweep", "4x2,4x4", "--boot", "0.2", "--work", "0.2",
              "--plot", str(tmp_path / "fanout.png"))
    assert "first:" in out and "ratio:" in out and "cpu_ms_per_task:" in out
    assert "4 tasks on 4 sessions" in out


def test_torture_bench_loses_nothing_and_types_nothing_twice():
    out = run("torture.py", "--tasks", "24", "--sessions", "2", "--seed", "5")
    assert " lost=0 twice=0 " in out and " done_never_typed=0 " in out


def test_latency_bench_runs_with_and_without_events():
    out = run("latency.py", "--tasks", "4", "--sessions", "2")
    assert "p50:" in out and "p99:" in out and ", events," in out
    out = run("latency.py", "--tasks", "2", "--sessions", "2", "--no-events",
              "--poll-interval", "300ms")
    assert "polling only" in out and "p50:" in out


def test_backlog_bench_runs():
    out = run("backlog.py", "--layout", "1x100,10x5", "--events", "2")
    for key in ("first_claim:", "ordered:", "event_cpu_ms:", "10 project(s) x 5 task(s)"):
        assert key in out


def test_idle_bench_runs():
    out = run("idle.py", "--projects", "20", "--seconds", "2", "--warmup", "0.5")
    assert "% of one core" in out and "peak" in out


def test_overhead_bench_runs():
    out = run("overhead.py", "--tasks", "2", "--sessions", "2", "--boot", "0.1", "--work", "0.1")
    assert "daemon CPU per task:" in out
    if shutil.which("strace"):
        assert "tmux send-keys" in out or "cannot attach" in out


def test_hooksoff_bench_runs_and_parks_nothing_in_doubt():
    out = run("hooksoff.py", "--tasks", "4", "--sessions", "2", "--boot", "0.2", "--work", "0.2",
              "--rounds", "1")
    assert "off/on:" in out and "in doubt 0" in out


@pytest.mark.parametrize("script", ["fanout.py", "latency.py", "backlog.py", "idle.py",
                                    "overhead.py", "hooksoff.py", "torture.py"])
def test_bench_help(script):
    assert "usage:" in run(script, "--help")

"""The benchmarks run once, small, so they cannot rot (no thresholds: figures are for reading)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).parents[1] / "bench"


def run(script: str, *args: str) -> str:
    result = subprocess.run([sys.executable, str(BENCH / script), *args], capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fanout_bench_runs():
    out = run("fanout.py", "--tasks", "4", "--sessions", "2", "--boot", "0.2", "--work", "0.2")
    assert "first:" in out and "ratio:" in out


def test_torture_bench_loses_nothing_and_types_nothing_twice():
    out = run("torture.py", "--tasks", "24", "--sessions", "2", "--seed", "5")
    assert " lost=0 twice=0 " in out

"""Build the wheel and check it holds every module of core/ and plugins/ (the flat layout)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    with tempfile.TemporaryDirectory() as out:
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                        "--disable-pip-version-check", "-w", out, str(ROOT)], check=True)
        (wheel,) = Path(out).glob("dispatchd-*.whl")
        names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"dispatchd/{p.name}" for p in (ROOT / "core").glob("*.py")}
    expected |= {f"dispatchd/plugins/{p.name}" for p in (ROOT / "plugins").glob("*.py")}
    expected.add("dispatchd/py.typed")
    stray = [p for p in (ROOT / "core").iterdir() if p.is_dir() and p.name != "__pycache__"]
    missing = sorted(expected - names)
    if missing or stray:
        print(f"wheel check failed: missing {missing}, sub-folders not packaged {stray}")
        return 1
    print(f"wheel check: {wheel.name} holds all {len(expected)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())

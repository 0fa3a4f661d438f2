"""The daemon's own small files in ``state_dir``: the lock, in-flight tasks, and the status snapshot.

``inflight.json`` says which session holds which task, so a restarted daemon
knows which sessions are busy. ``status.json`` is what ``dispatchd status``
shows about sessions and the queue while the daemon runs.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path
from typing import IO, Any

from .fsio import write_atomic


class AlreadyRunning(Exception):
    """Another daemon holds the lock on this state dir."""


class StateDir:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: IO[str] | None = None

    @property
    def inflight_file(self) -> Path:
        return self.path / "inflight.json"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    def lock(self) -> None:
        """Take the state dir for this process; a second daemon on the same config refuses to run."""
        self.path.mkdir(parents=True, exist_ok=True)
        fh = open(self.path / "lock", "a+")  # noqa: SIM115 - held for the daemon's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            fh.seek(0)
            owner = fh.read().strip() or "?"
            fh.close()
            raise AlreadyRunning(
                f"another dispatchd (pid {owner}) is running with state dir {self.path}") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._lock = fh

    def owner(self) -> int | None:
        """The pid of the daemon holding the lock, if one does."""
        try:
            fh = open(self.path / "lock")  # noqa: SIM115 - closed below
        except OSError:
            return None
        with fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:  # held: a daemon runs
                text = fh.read().strip()
                return int(text) if text.isdigit() else None
            fcntl.flock(fh, fcntl.LOCK_UN)
            return None

    def unlock(self) -> None:
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def read_inflight(self) -> dict[str, dict[str, Any]]:
        data = _read_json(self.inflight_file)
        return data if isinstance(data, dict) else {}

    def write_inflight(self, data: dict[str, dict[str, Any]]) -> None:
        write_atomic(self.inflight_file, json.dumps(data, indent=1, sort_keys=True).encode())

    def write_status(self, data: dict[str, Any]) -> None:
        data = {**data, "updated": time.time()}
        write_atomic(self.status_file, json.dumps(data, indent=1).encode(), durable=False)

    def read_status(self) -> dict[str, Any] | None:
        data = _read_json(self.status_file)
        return data if isinstance(data, dict) else None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None

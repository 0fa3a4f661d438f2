"""Holds on an agent's account: no task is claimed for it while a limit or an outage lasts.

A setback (:mod:`dispatchd.setback`) holds the whole account: until the reset
time when the agent named one, else for a back-off that starts at
``dispatcher.hold_backoff`` and doubles (with ±20 % jitter) up to
``hold_backoff_max``. When the time is up, one task goes first as a probe; only
when it gets through does the account open again. A probe that meets the
setback again holds the account for the next, longer back-off.

The storm guard is the same kind of hold, set by counting instead of by what an
agent says: ``storm_failures`` tasks failing within ``storm_window`` pause the
agent until a person runs ``dispatchd resume``.

Which sessions share an account is the ``agent_account`` hook's answer (by default:
those that run the same agent on this host, which share its credentials).
"""

from __future__ import annotations

import collections
import contextlib
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .durations import format_duration
from .setback import Setback

JITTER = 0.2
"""A back-off is its nominal length ± this fraction, so many daemons do not probe in step."""


@dataclass
class Hold:
    """Why an account takes no task now, and when it may try again."""

    kind: str
    """``limit``, ``outage``, or ``storm`` (the storm guard: lifted by a person only)."""
    reason: str
    until: float = 0.0
    """When a probe may go (Unix time); 0 for a storm pause."""
    level: int = 0
    """Back-offs in a row without a success: the next one is twice as long."""
    sessions: set[str] = field(default_factory=set)
    probe: str | None = None
    """The task sent as the probe, while it is out."""
    named: bool = False
    """Whether ``until`` is a reset time the agent named (else a back-off)."""

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason, "until": self.until,
                "level": self.level, "sessions": sorted(self.sessions),
                "probe": self.probe, "named": self.named}

    @classmethod
    def from_json(cls, rec: Any) -> Hold:
        """The hold ``to_json`` wrote; raises ``ValueError`` for anything else."""
        try:
            return cls(str(rec["kind"]), str(rec["reason"]), float(rec.get("until") or 0),
                       int(rec.get("level") or 0), {str(s) for s in rec.get("sessions") or ()},
                       rec.get("probe") or None, bool(rec.get("named")))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ValueError(f"not a hold: {rec!r}") from exc


def describe(account: str, hold: Hold, now: float) -> str:
    """How ``status`` and ``explain`` say it: ``held: rate limit until 17:00 (3 sessions)``,
    ``held: API overloaded, retry in 2m``, ``paused: 5 tasks failed within 1m; …``."""
    if hold.kind == "storm":
        return f"paused: {hold.reason}; `dispatchd resume {account}` lifts it"
    count = len(hold.sessions)
    sessions = f" ({count} session{'s' if count != 1 else ''})" if count else ""
    if hold.probe is not None:
        return f"held: {hold.reason}{sessions}; one task was sent to try again"
    left = hold.until - now
    if left <= 0:
        return f"held: {hold.reason}{sessions}; the next task goes first, to try again"
    if hold.named:
        when = time.strftime("%H:%M", time.localtime(hold.until))
        return f"held: {hold.reason} until {when}{sessions}"
    return f"held: {hold.reason}, retry in {format_duration(left)}{sessions}"


class AccountHolds:
    def __init__(self, backoff: float = 30.0, backoff_max: float = 1800.0,
                 storm_failures: int = 5, storm_window: float = 60.0,
                 clock: Callable[[], float] = time.time,
                 jitter: Callable[[], float] = random.random) -> None:
        self.backoff, self.backoff_max = backoff, max(backoff, backoff_max)
        self.storm_failures, self.storm_window = storm_failures, storm_window
        self.clock, self.jitter = clock, jitter
        self.holds: dict[str, Hold] = {}
        self._failures: dict[str, collections.deque[float]] = collections.defaultdict(
            collections.deque)

    # -- asking ----------------------------------------------------------
    def admits(self, account: str) -> bool:
        """Whether a task for ``account`` may be claimed now (as the probe, when one is due)."""
        hold = self.holds.get(account)
        if hold is None:
            return True
        return hold.kind != "storm" and hold.probe is None and self.clock() >= hold.until

    def describe(self, account: str) -> str | None:
        """``held: rate limit until 17:00 (3 sessions)``, ``paused: 5 tasks failed …``"""
        hold = self.holds.get(account)
        return None if hold is None else describe(account, hold, self.clock())

    def next_change(self) -> float | None:
        """The earliest time a held account may send its probe (to wake the dispatcher then)."""
        times = [h.until for h in self.holds.values() if h.kind != "storm" and h.probe is None]
        return min(times, default=None)

    # -- events ----------------------------------------------------------
    def hit(self, account: str, setback: Setback, session: str, task_id: str) -> Hold:
        """A turn of ``task_id`` on ``session`` met ``setback``: hold the account.

        The probe meeting it again doubles the back-off; other sessions failing on
        the same limit meanwhile only join the hold.
        """
        now = self.clock()
        hold = self.holds.get(account)
        if hold is not None and hold.kind == "storm":  # a person lifts that one, not time
            hold.sessions.add(session)
            return hold
        if hold is None or hold.probe == task_id:
            level = hold.level + 1 if hold is not None and hold.probe == task_id else 0
            sessions = hold.sessions if hold is not None else set()
            hold = Hold(setback.kind, setback.reason, now, level, sessions)
            self.holds[account] = hold
            hold.until = setback.until if setback.until else now + self._backoff(level)
            hold.named = bool(setback.until)
        elif setback.until and setback.until > hold.until:
            hold.until, hold.named = setback.until, True
        hold.sessions.add(session)
        return hold

    def claimed(self, account: str, task_id: str) -> bool:
        """A task was claimed for ``account``: while held, it is the probe (True then)."""
        hold = self.holds.get(account)
        if hold is None or hold.kind == "storm":
            return False
        hold.probe = task_id
        return True

    def returned(self, task_id: str) -> bool:
        """A task went back untried (its launch failed): the probe may be another task.
        True when it was a probe."""
        probes = [hold for hold in self.holds.values() if hold.probe == task_id]
        for hold in probes:
            hold.probe = None
        return bool(probes)

    def got_through(self, account: str, task_id: str) -> bool:
        """``task_id`` reached the model and is done: if it was the probe, the account is
        open again. True when that opened it."""
        hold = self.holds.get(account)
        if hold is None or hold.probe != task_id:
            return False
        del self.holds[account]
        return True

    def task_failed(self, account: str) -> str | None:
        """Count a task that failed; a storm of them pauses the account (the warning, once)."""
        if self.storm_failures <= 0 or account in self.holds:
            return None  # a held account's failures are its setbacks, not a storm
        now, times = self.clock(), self._failures[account]
        times.append(now)
        while times and times[0] < now - self.storm_window:
            times.popleft()
        if len(times) < self.storm_failures:
            return None
        times.clear()
        self.holds[account] = Hold("storm", f"{self.storm_failures} tasks failed within "
                                   f"{format_duration(self.storm_window)}")
        return self.describe(account)

    def resume(self, account: str | None = None) -> list[str]:
        """A person lifts the holds (all, or ``account``'s); the accounts that were held."""
        lifted = [a for a in self.holds if account in (None, a)]
        for name in lifted:
            del self.holds[name]
            self._failures.pop(name, None)
        return lifted

    # -- persistence -----------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {account: hold.to_json() for account, hold in self.holds.items()}

    def load(self, data: object) -> None:
        """What a previous run saved: its holds still apply (a probe out then is not)."""
        if not isinstance(data, dict):
            return
        for account, rec in data.items():
            with contextlib.suppress(ValueError):
                self.holds[str(account)] = replace(Hold.from_json(rec), probe=None)

    def _backoff(self, level: int) -> float:
        nominal = min(self.backoff * 2.0 ** min(level, 30), self.backoff_max)
        return nominal * (1 - JITTER + 2 * JITTER * self.jitter())

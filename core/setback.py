"""Why a turn failed when the task is not to blame: the account's limit, or the API's outage.

A limit (HTTP 429, a plan's usage limit, a billing stop) or an outage (an
overloaded API, server errors, no connection) hits every session of one
account at once. Counted as the task's failure, it would empty the queue into
``failed/`` in seconds, one task per session and round. So the agent's profile
(through the ``agent_setback`` hook) names it, and dispatchd holds the account
(:mod:`dispatchd.holds`) instead.

``worked`` says whether the model did anything on the failed turn (wrote output,
ran a tool): a task it never worked on goes back to its inbox with its attempt
not counted; one it did work on is a real failure, since typing it again could
repeat what was done.
"""

from __future__ import annotations

from dataclasses import dataclass

LIMIT, OUTAGE = "limit", "outage"


@dataclass(frozen=True)
class Setback:
    """A turn that failed on the account or the API (see the module docstring)."""

    kind: str
    """``limit`` (the account may not ask more for now) or ``outage`` (the API cannot answer)."""
    reason: str
    """In a few words, as status shows it: ``rate limit``, ``usage limit``, ``API overloaded``."""
    until: float | None = None
    """When it lifts (Unix time), if the agent said so; else dispatchd backs off."""
    worked: bool | None = None
    """Whether the model did any work on the turn first (``None``: no evidence either way)."""

    def __post_init__(self) -> None:
        if self.kind not in (LIMIT, OUTAGE):
            raise ValueError(f"a setback is {LIMIT!r} or {OUTAGE!r}, not {self.kind!r}")

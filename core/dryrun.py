"""``dispatchd run --dry-run``: one decision pass over everything waiting, said out loud.

Nothing moves and nothing is typed. Each dispatch it would make is logged as it is
decided (``DRY-RUN would dispatch …``), and a last line sums up what it saw, also
when that is nothing to do: the projects, the tasks waiting, the sessions and why
those that take nothing do not.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .hooktypes import state_label
from .transport import TransportError

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)


async def dry_run_pass(engine: Engine) -> None:
    engine.accounts.load(resume=False)  # a held agent gets nothing in a real run either
    engine.intake.discover()
    for project in engine.intake.projects:
        for name in engine.store.waiting_names(project):
            engine.intake.ingest(project, name, settle=0.0)
    waiting = len(engine.queue)
    try:
        await engine.dispatch_round()
        present = set(await engine.transport.panes())
    except TransportError as exc:
        log.warning("DRY-RUN: cannot see the tmux server: %s", exc)
        present = set()
    planned = len(engine.dry_plans)
    states: dict[str, list[str]] = {}
    for session in engine.pool:
        session.present = session.name in present
        label = state_label(*session.unavailable) if session.unavailable[0] \
            else session.info().label()
        states.setdefault(label, []).append(session.name)
    seen = "; ".join(f"{label}: {', '.join(names)}" for label, names in sorted(states.items()))
    log.warning("DRY-RUN summary: %d project(s) watched, %d task(s) waiting; %d session(s) "
                "configured (%s); would dispatch %d, %d would wait", len(engine.intake.projects),
                waiting, len(engine.pool.sessions), seen or "none", planned, waiting - planned)

"""The daemon's side of account holds: what happens to the task, the sessions and the queue.

:mod:`dispatchd.holds` keeps the state; this module acts on it. A turn that failed on
its account or the API (a :class:`~dispatchd.setback.Setback`) holds the agent's
account, and its task goes back to its inbox with its attempt not counted when
the model never worked on it, else it fails as any task. Held accounts get no
task until their probe is due; the dispatch round asks :meth:`AccountGuard.admits`.
The holds survive a restart (``holds.json`` in the state dir); ``dispatchd resume``
lifts them by leaving ``resume.json`` there, read at every completion poll.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .agents import AgentProfile
from .config import Config
from .fsio import write_atomic
from .holds import AccountHolds
from .pool import FINISHING, Session
from .setback import Setback
from .task import Task
from .text import for_log

if TYPE_CHECKING:
    from .engine import Engine

log = logging.getLogger(__name__)

HOLDS_FILE, RESUME_FILE = "holds.json", "resume.json"


def _resume_requests(path: Path) -> list[str] | None:
    """The accounts ``resume.json`` asks to lift (``*``: all); None when there is none."""
    try:
        wanted = json.loads(path.read_text()).get("agents") or []
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(wanted, list):
        log.warning("%s: 'agents' is not a list; ignored", path)
        return []
    return [str(a) for a in wanted]


def request_resume(state_dir: Path, agent: str | None) -> None:
    """Ask the daemon of ``state_dir`` to lift the holds of ``agent`` (all for ``None``)."""
    path = state_dir / RESUME_FILE
    wanted = _resume_requests(path) or []
    wanted = ["*"] if agent is None or "*" in wanted else sorted({*wanted, agent})
    write_atomic(path, json.dumps({"agents": wanted}).encode())


class AccountGuard:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.holds = AccountHolds()
        self.configure(engine.config)
        self.path = engine.config.state_dir / HOLDS_FILE

    def configure(self, config: Config) -> None:
        """Back-off and storm-guard settings from ``config`` (also after a reload: new storm
        settings lift the storm guard's pauses, as ``dispatchd resume`` does)."""
        h = self.holds
        h.backoff, h.backoff_max = config.hold_backoff, max(config.hold_backoff,
                                                            config.hold_backoff_max)
        storm = (config.storm_failures, config.storm_window)
        if storm != (h.storm_failures, h.storm_window):
            h.storm_failures, h.storm_window = storm
            paused = [a for a, hold in h.holds.items() if hold.kind == "storm"]
            for account in paused:
                h.resume(account)
                log.warning("%s: the storm guard's settings changed; dispatching to it again",
                            account)
            if paused:
                self._changed()

    def load(self, resume: bool = True) -> None:
        """The holds a previous run left (and, with ``resume``, a person's resume request)."""
        with contextlib.suppress(OSError, ValueError):
            self.holds.load(json.loads(self.path.read_text()))
        if not resume:
            return
        self.take_resume_request()
        for account in self.holds.holds:
            log.warning("%s: %s (from before the restart)", account, self.holds.describe(account))
        self._wake_when_due()

    def admits(self, agent: AgentProfile | None) -> bool:
        return agent is None or self.holds.admits(self._account(agent))

    def describe(self, agent: AgentProfile) -> str | None:
        return self.holds.describe(self._account(agent))

    def claimed(self, agent: AgentProfile | None, task: Task) -> None:
        if agent is not None and self.holds.claimed(self._account(agent), task.id):
            self._changed()

    def returned(self, task: Task) -> None:
        """The task went back before reaching the model: a probe may be another task."""
        if self.holds.returned(task.id):
            self._changed()

    def finished(self, session: Session, task: Task, outcome: str) -> None:
        """A task ended: a probe that got through opens its account; failures are counted
        for the storm guard."""
        if session.profile is None:
            return
        account = self._account(session.profile)
        if outcome == "done" and self.holds.got_through(account, task.id):
            log.warning("%s: the account works again (%s got through); dispatching resumes",
                        account, for_log(task.name))
            self._changed()
        elif outcome != "done":
            self.returned(task)  # a probe that failed on its own proves nothing
            if outcome == "failed" and (paused := self.holds.task_failed(account)):
                log.warning("%s: %s. Look at failed/ for the reasons", account, paused)
                self._changed()

    def boot_limit(self, session: Session, agent: AgentProfile, task: Task, until: float) -> None:
        """The agent showed its usage limit before anything was typed."""
        self._hold(session, agent, task, Setback("limit", "usage limit", until, worked=False))

    async def setback(self, session: Session, task: Task, setback: Setback) -> None:
        """The session's turn failed on its account or the API: hold the account, and send
        the task back (never worked on) or fail it (worked on, or no evidence)."""
        agent = session.profile or self.engine.agents.get(None)
        self._hold(session, agent, task, setback)
        if setback.worked is False:
            await self._send_back(session, task, f"the API refused its turn ({setback.reason}) "
                                  "before the model did any work; not counted as an attempt")
            return
        evidence = ("after the model had started working on it" if setback.worked else
                    "and nothing shows whether the model had started working on it")
        await self.engine.finish(session, "failed", f"the agent's turn failed on a "
                                 f"{setback.reason} {evidence}, so it is not typed again; once "
                                 f"the account works, `dispatchd resolve {task.id} --retry`",
                                 task_id=task.id)

    def take_resume_request(self) -> None:
        """Lift the holds a person asked to lift with ``dispatchd resume``."""
        path = self.engine.config.state_dir / RESUME_FILE
        wanted = _resume_requests(path)
        if wanted is None:
            return
        path.unlink(missing_ok=True)
        lifted = [account for name in wanted
                  for account in self.holds.resume(None if name == "*" else name)]
        for account in lifted:
            log.warning("%s: resumed by request; dispatching to it again", account)
        if lifted:
            self._changed()

    def snapshot(self) -> list[dict[str, Any]]:
        """The holds as ``status --json`` shows them."""
        return [{"agent": account, **hold.to_json()} for account, hold in self.holds.holds.items()]

    # -- inside ------------------------------------------------------------
    def _account(self, agent: AgentProfile) -> str:
        """The account ``agent`` runs on (the ``agent_account`` hook)."""
        e = self.engine
        return e.hook.agent_account(agent=agent, config=e.config) or agent.name

    def _hold(self, session: Session, agent: AgentProfile, task: Task, setback: Setback) -> None:
        account = self._account(agent)
        held_before = account in self.holds.holds
        self.holds.hit(account, setback, session.name, task.id)
        if not held_before:
            log.warning("%s: %s; no task goes to it until then (turn of %s in session %s)",
                        account, self.holds.describe(account), for_log(task.name), session.name)
        self._changed()

    async def _send_back(self, session: Session, task: Task, reason: str) -> None:
        """The task goes back to its inbox as it came, attempts unchanged; the session is free."""
        e = self.engine
        if session.task is not task or session.state == FINISHING:
            return
        before, session.phase = session.state, e.phase_of(session)
        session.state = FINISHING  # neither free nor checked, and still on record until moved
        try:
            await e.launches.put_back(task, reason)
        except Exception as exc:  # it stays on record; failed/ (retried until moved) says why
            log.exception("could not put %s back in its inbox", for_log(task.name))
            session.state = before
            await e.finish(session, "failed", f"{reason}, but it could not go back to its "
                           f"inbox ({exc}); `dispatchd resolve {task.id} --retry` does it",
                           task_id=task.id)
            return
        e.completion.forget(task.id)
        session.free_up()
        e.save_inflight()
        e.wake()
        log.warning("%s goes back to its inbox: %s", for_log(task.name), reason)

    def _changed(self) -> None:
        with contextlib.suppress(OSError):
            write_atomic(self.path, json.dumps(self.holds.to_json(), indent=1).encode(),
                         durable=False)  # no fsync on the event loop; a lost hold is re-learned
        self._wake_when_due()
        self.engine.status_soon()

    def _wake_when_due(self) -> None:
        due = self.holds.next_change()
        if due is not None:
            self.engine.call_later(max(0.0, due - time.time()) + 0.05, self.engine.wake)

"""``dispatchd explain TASK``: why a waiting task is still waiting.

Read-only: the inboxes and ``arrivals.jsonl`` are read, never written, and the
session states come from the running daemon's ``status.json``. The order and the
session choice come from the real hooks (``task_sort_key``, ``select_session``),
so a plugin's policy is explained as the daemon applies it.
"""

from __future__ import annotations

import asyncio
import shlex
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .agents import AgentProfile, AgentRegistry, UnknownAgent
from .config import Config
from .hooktypes import SessionInfo
from .pluginmanager import PluginManager
from .resolve import names_task
from .rounds import RoundPlan, eligible
from .statefile import StateDir
from .status import ago, daemon_running, holds_of, known_projects
from .task import Task
from .text import for_log
from .tmux import TmuxTransport, tmux_base
from .transport import SessionTransport
from .waiting import waiting_tasks

BUSY = {"launching", "working", "finishing"}


class ExplainError(Exception):
    """The task is not waiting (or the name is ambiguous)."""


class AmbiguousTask(ExplainError):
    """The reference names more than one task."""


@dataclass
class _SessionView:
    info: SessionInfo
    present: bool
    cooldown_until: float | None = None
    note: str = ""


def in_flight(state: StateDir, snap: dict[str, Any] | None, ref: str) -> list[str] | None:
    """Where the task ``ref`` runs, in which phase and since when, if a session holds it (the
    running daemon's snapshot; with none running, what ``inflight.json`` kept)."""
    if snap is not None:
        held = [(s.get("name"), s.get("task_id"), s.get("task"), s.get("state"), s.get("since"))
                for s in snap.get("sessions", []) if isinstance(s, dict) and s.get("task")]
    else:
        held = [(name, r.get("task"), r.get("name"), r.get("phase"), r.get("since"))
                for name, r in state.read_inflight().items() if isinstance(r, dict)]
    matches = [h for h in held if isinstance(h[1], str) and isinstance(h[2], str)
               and names_task(ref, h[1], h[2])]
    if len(matches) > 1:
        raise AmbiguousTask(f"{ref} names {len(matches)} running tasks "
                            f"({', '.join(str(m[2]) for m in matches)}); give more of the id")
    if not matches:
        return None
    session, task_id, name, phase, since = matches[0]
    lines = [f"task {name} (id {task_id}) is not waiting: session {session} has it, {phase}"
             + (f", for {ago(since)}" if isinstance(since, int | float) else "")]
    if snap is None:
        lines.append("  (from inflight.json: no daemon runs; the next start looks at that "
                     "session again)")
    return [for_log(line) for line in lines]


def _find(tasks: list[Task], ref: str) -> Task:
    as_path = Path(ref).expanduser()
    matches = [t for t in tasks if names_task(ref, t.id, t.name)
               or ((as_path.is_absolute() or "/" in ref) and t.path.resolve() == as_path.resolve())]
    if not matches:
        raise ExplainError(f"{ref} is not waiting in the inbox of any known project")
    if len(matches) > 1:
        where = ", ".join(str(t.path) for t in matches)
        raise AmbiguousTask(f"{ref} names {len(matches)} waiting tasks ({where}); "
                           "give more of the task id, or the file's path")
    return matches[0]


def _sessions(config: Config, snap: dict[str, Any] | None,
              present: set[str]) -> list[_SessionView]:
    by_name = {s.get("name"): s for s in (snap or {}).get("sessions", []) if isinstance(s, dict)}
    views = []
    entries = ([(d.name, "dedicated", d.project.resolve(), d.agent) for d in config.dedicated]
               + [(n, "autonomous", None, config.autonomous.agent)
                  for n in config.autonomous.names()])
    for name, kind, project, agent in entries:
        rec = by_name.get(name, {})
        state = str(rec.get("state") or "idle")
        until = rec.get("cooldown_until")
        info = SessionInfo(name, kind, project, state, rec.get("task"), agent,  # type: ignore[arg-type]
                           str(rec.get("detail") or ""))
        views.append(_SessionView(info, name in present,
                                  float(until) if isinstance(until, int | float) else None,
                                  str(rec.get("note") or "")))
    return views


def _default_agent(pm: PluginManager, config: Config) -> str:
    """The agent of tasks and sessions that name none (as the daemon decides it)."""
    profiles: list[AgentProfile] = []
    pm.hook.register_agents(register=profiles.append)
    try:
        return AgentRegistry(profiles, config.default_agent).default
    except UnknownAgent:
        return config.default_agent or ""


def _when(ts: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ts)) + f" (in {max(0, int(ts - time.time()))}s)"


def _select(pm: PluginManager, task: Task, candidates: list[SessionInfo],
            config: Config) -> str | None:
    offered = eligible(task, candidates)
    if not offered:
        return None
    try:
        name = pm.hook.select_session(task=task, candidates=offered, config=config)
    except Exception as exc:
        return f"<select_session failed: {exc}>"
    return name if isinstance(name, str) else None


def explain(config: Config, pm: PluginManager, ref: str,
            transport: SessionTransport | None = None) -> list[str]:
    """Plain lines saying why the waiting task ``ref`` (a file name, id or path) waits."""
    state = StateDir(config.state_dir)
    running = daemon_running(config.state_dir)
    snap = state.read_status() if running else None
    tasks, _ = waiting_tasks(config, known_projects(config, snap))
    # the daemon's ids and arrival times win over a first sight here
    known = {(w.get("project"), w.get("name")): w for w in (snap or {}).get("waiting", [])
             if isinstance(w, dict)}
    tasks = [replace(t, id=str(w.get("id", t.id)), arrival=float(w.get("arrival", t.arrival)))
             if (w := known.get((str(t.project), t.name))) else t for t in tasks]
    try:
        task = _find(tasks, ref)
    except AmbiguousTask:
        raise
    except ExplainError:
        found = in_flight(state, snap, ref)
        if found is None:
            raise
        return found

    keyed = []
    for t in tasks:
        try:
            keyed.append((tuple(pm.hook.task_sort_key(task=t)), t.id, t))
        except Exception:
            continue
    keyed.sort(key=lambda k: (k[0], k[1]))
    order = [t for _, _, t in keyed]
    place = next((i for i, t in enumerate(order) if t is task), len(order))

    tr = transport or pm.hook.session_transport(config=config) or TmuxTransport(
        config.tmux, config.state_dir)
    try:
        present = set(asyncio.run(tr.panes()))
    except Exception as exc:
        raise ExplainError(f"cannot list the tmux sessions: {exc}") from None
    views = _sessions(config, snap, present)

    ident = "no id yet: not seen by a daemon" if task.id.startswith("(new:") else f"id {task.id}"
    lines = [f"task {task.name} ({ident}) in {task.project}",
             f"  priority {task.priority}, waiting since "
             f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(task.arrival))}"]
    lines.append(f"  place in the order: {place + 1} of {len(order)} "
                 "(the task_sort_key order; by default priority, then arrival)")
    for i, t in enumerate(order[:place][:5]):
        lines.append(f"    {i + 1}. {t.name} ({t.priority}) in {t.project}")
    if place > 5:
        lines.append(f"    … and {place - 5} more before it")
    if not running:
        lines.append("  daemon: not running (session states unknown; every existing session "
                     "counts as idle; nothing is dispatched until `dispatchd run`)")
    dedicated_here = [v.info.name for v in views if v.info.kind == "dedicated"
                      and v.info.project is not None
                      and str(v.info.project) == str(task.project.resolve())]
    if task.session:
        lines.append(f"  bound to session {task.session} (session: field): no other session "
                     "takes it")
    elif dedicated_here:
        lines.append(f"  its project has the dedicated session {', '.join(dedicated_here)}")

    # replay one dispatch round: earlier tasks take their sessions first
    now = time.time()

    held = {h["agent"]: h["text"] for h in holds_of(config, snap)}
    default_agent = _default_agent(pm, config)

    def hold_of(v: _SessionView) -> str | None:
        agent = task.agent or v.info.agent or default_agent
        return f"{agent}: {held[agent]}" if agent in held else None

    def free(v: _SessionView) -> bool:
        return (v.present and v.info.state == "idle" and hold_of(v) is None
                and not (v.cooldown_until and v.cooldown_until > now))

    def select(t: Task, offered: list[SessionInfo]) -> SessionInfo | None:
        name = _select(pm, t, offered, config)
        return next((c for c in offered if c.name == name), None)

    plan = RoundPlan([v.info for v in views if free(v)], select)
    taken: dict[str, Task] = {}
    for t in order[:place]:
        if not plan.free:
            break
        chosen = plan.choose(t)
        if chosen is not None:
            plan.take(chosen)
            taken[chosen.name] = t
    candidates = plan.free
    pick = _select(pm, task, candidates, config) if candidates else None
    lines.append("  sessions:")
    for v in views:
        s = v.info
        if not v.present:
            create = shlex.join([*tmux_base(config.tmux), "new-session", "-d", "-s", s.name,
                                 *(["-c", str(s.project)] if s.project else [])])
            why = f"missing in tmux (create it: `{create}`" + (
                "; `dispatchd pool up --all` creates every autonomous session)"
                if s.kind == "autonomous" else ")")
        elif s.state in BUSY:
            why = f"busy ({s.state}) with {for_log(s.task or '?')}"
        elif s.state == "waiting_for_person":
            why = f"{s.label()} with {for_log(s.task or '?')}: {v.note}"
        elif s.state in ("busy", "agent_missing"):
            why = s.label() + (f": {v.note}" if v.note else "")
        elif s.state == "cooldown" or (v.cooldown_until and v.cooldown_until > now):
            until = v.cooldown_until
            why = "in cooldown" + (f" until {_when(until)}" if until else "")
        elif s.state != "idle":
            why = f"state {s.state}"
        elif (hold := hold_of(v)) is not None:
            why = f"free, but its agent takes no task now: {hold}"
        elif s.name in taken:
            why = (f"free, but not chosen: {for_log(taken[s.name].name)}, earlier in the order, "
                   "gets it first")
        elif pick == s.name:
            why = "free, and chosen: it takes this task at the next dispatch round"
        else:
            alone = _select(pm, task, [s], config)
            if alone == s.name:
                why = "free and could take it, but select_session chooses another session"
            elif task.session and task.session != s.name:
                why = f"free, but the task is bound to session {task.session}"
            elif (s.kind == "dedicated" and s.project is not None
                  and str(s.project) != str(task.project.resolve())):
                why = f"free, but dedicated to another project ({s.project})"
            else:
                why = "free, but the selection policy (select_session) does not give it this task"
        kind = "dedicated" if s.kind == "dedicated" else "autonomous"
        lines.append(f"    {s.name} ({kind}): {why}")
    if pick and pick.startswith("<select_session failed"):
        lines.append(f"  {pick[1:-1]}: the task waits")
    elif pick and pick not in {v.info.name for v in views}:
        lines.append(f"  select_session chooses {pick}, which is not a configured session: "
                     "the task waits until that plugin chooses otherwise")
    elif pick and pick not in {v.info.name for v in views if free(v)}:
        lines.append(f"  select_session keeps it for {pick}, which is not free")
    verdict = ("it goes to " + pick + " at the next dispatch round") if pick and any(
        c.name == pick for c in candidates) else "it waits until a session above becomes free"
    lines.append(f"  so: {verdict}")
    return [for_log(line) if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in line) else line
            for line in lines]

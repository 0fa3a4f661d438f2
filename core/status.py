"""What ``dispatchd status`` and ``dispatchd plugins`` show, as data and as text tables."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import time
from pathlib import Path
from typing import Any

from . import __version__
from .accounts import HOLDS_FILE
from .config import Config
from .holds import Hold, describe
from .hooktypes import state_label
from .pluginmanager import PluginManager
from .statefile import StateDir
from .store import QUEUE_DIR, STATES, FileStore
from .text import for_log
from .waiting import waiting_tasks


def daemon_running(state_dir: Path) -> bool:
    """True while a daemon holds the state dir's lock."""
    try:
        fd = os.open(state_dir / "lock", os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
    return False


def known_projects(config: Config, snapshot: dict[str, Any] | None = None) -> set[Path]:
    """Projects with a queue: from the daemon's snapshot, the config and the projects dirs."""
    projects = {Path(p) for p in (snapshot or {}).get("projects", [])}
    projects |= {d.project.resolve() for d in config.dedicated}
    for root in config.projects_dirs:
        if root.is_dir():
            projects.update(p.resolve() for p in root.iterdir()
                            if (p / QUEUE_DIR).is_dir())
    return projects


def _present_sessions(config: Config) -> set[str] | None:
    """The sessions tmux has now (``None`` when it cannot be asked)."""
    from .tmux import TmuxTransport

    try:
        return set(asyncio.run(TmuxTransport(config.tmux, config.state_dir).panes()))
    except Exception:
        return None


def collect_status(config: Config) -> dict[str, Any]:
    """Sessions and waiting tasks from the daemon's snapshot; per-project counts from disk."""
    state = StateDir(config.state_dir)
    snap = state.read_status() or {}
    running = daemon_running(config.state_dir)
    projects = known_projects(config, snap)
    store = FileStore()
    sessions = snap.get("sessions") if running else None
    if sessions is None:
        present = _present_sessions(config)
        inflight = state.read_inflight()
        sessions = [{"name": n, "kind": k, **_kept(inflight.get(n)),
                     **({"state": "missing", "detail": None}
                        if present is not None and n not in present
                        else {"state": "unknown", "detail": "daemon not running"})} for n, k in
                    [(d.name, "dedicated") for d in config.dedicated]
                    + [(n, "autonomous") for n in config.autonomous.names()]]
    return {
        "daemon": {"running": running, "state": "running" if running else "not running",
                   "pid": snap.get("pid") if running else None,
                   "updated": snap.get("updated")},
        "live": running,
        "sessions": sessions,
        "projects": [{"path": str(p), "counts": store.counts(p)} for p in sorted(projects)],
        "waiting": snap.get("waiting", []) if running else _waiting_on_disk(config, projects),
        "in_flight": [s for s in sessions if s.get("task")],
        "holds": holds_of(config, snap if running else None),
    }


def _kept(rec: object) -> dict[str, Any]:
    """What ``inflight.json`` says a session had when the daemon stopped."""
    if not isinstance(rec, dict):
        return {"task": None, "task_id": None, "model": None, "since": None}
    return {"task": rec.get("name"), "task_id": rec.get("task"), "model": rec.get("model"),
            "since": rec.get("since"), "phase": rec.get("phase")}


def _waiting_on_disk(config: Config, projects: set[Path]) -> list[dict[str, Any]]:
    """The inboxes' tasks by priority, then arrival (what a daemon would start from)."""
    tasks, _ = waiting_tasks(config, projects)
    tasks.sort(key=lambda t: (t.priority_rank, t.arrival, t.order, t.name))
    return [{"id": t.id, "name": t.name, "project": str(t.project), "priority": t.priority,
             "arrival": t.arrival} for t in tasks[:1000]]


def holds_of(config: Config, snap: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The agents held by a limit, an outage or the storm guard, each with how status says it
    (from the running daemon, else what it left in ``holds.json``: that applies at its start)."""
    if snap is not None:
        recs = {r.get("agent"): r for r in snap.get("holds") or [] if isinstance(r, dict)}
    else:
        try:
            recs = json.loads((config.state_dir / HOLDS_FILE).read_text())
        except (OSError, ValueError):
            recs = {}
    out = []
    for agent, rec in recs.items() if isinstance(recs, dict) else ():
        try:
            hold = Hold.from_json(rec)
        except ValueError:
            continue
        out.append({**hold.to_json(), "agent": agent, "text": describe(str(agent), hold,
                                                                       time.time())})
    return out


def _table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
              for r in rows]
    return "\n".join(lines)


def ago(ts: float | None) -> str:
    if not ts:
        return "-"
    secs = int(time.time() - ts)
    return f"{secs // 60}m{secs % 60:02d}s" if secs >= 60 else f"{secs}s"


def render_status(data: dict[str, Any]) -> str:
    d = data["daemon"]
    head = (f"daemon: running (pid {d['pid']})" if d["running"] else
            "daemon: not running (below: what inflight.json and the inboxes say; not live)")
    sessions = _table(["SESSION", "KIND", "STATE", "TASK", "MODEL", "FOR"],
                      [[s["name"], s["kind"], state_label(s["state"], s.get("detail") or ""),
                        for_log(s.get("task") or "-"),
                        s.get("model") or "-", ago(s.get("since"))] for s in data["sessions"]])
    states = list(STATES)
    projects = _table(["PROJECT", *[s.upper() for s in states]],
                      [[for_log(p["path"]), *[str(p["counts"][s]) for s in states]]
                       for p in data["projects"]])
    notes = [f"  {s['name']}: {for_log(s['note'])}" for s in data["sessions"] if s.get("note")]
    holds = [f"  {h['agent']}: {for_log(h['text'])}" for h in data.get("holds") or []]
    parts = [head, *(["", "agents that take no task now:", *holds] if holds else []), "",
             sessions, *(["", "what the sessions wait for:", *notes] if notes else []),
             "", projects]
    if data["waiting"]:
        parts += ["", _table(["NEXT", "PRIORITY", "TASK", "PROJECT"],
                             [[str(i + 1), t["priority"], for_log(t["name"]),
                               for_log(t["project"])]
                              for i, t in enumerate(data["waiting"][:10])])]
    return "\n".join(parts)


def _agents_by_plugin(pm: PluginManager) -> dict[str, list[str]]:
    """Plugin name → the agent profiles it registers (``register_agents``)."""
    out: dict[str, list[str]] = {}
    for impl in pm.hook.register_agents.get_hookimpls():
        profiles: list[Any] = []
        try:
            impl.function(register=profiles.append)
            names = [p.name for p in profiles]
        except Exception as exc:  # listed, not fatal: ``plugins`` must always answer
            names = [f"<error: {exc}>"]
        out[impl.plugin_name] = names
    return out


def plugin_rows(pm: PluginManager) -> list[dict[str, Any]]:
    """One row per plugin: name, distribution and version, hooks, agents, status."""
    agents = _agents_by_plugin(pm)
    rows: list[dict[str, Any]] = []
    for name, plugin in pm.list_name_plugin():
        if plugin is None:
            rows.append({"name": name, "package": None, "version": None, "hooks": [],
                         "agents": [], "status": "blocked"})
            continue
        hooks = sorted(c.name for c in pm.get_hookcallers(plugin) or [])
        builtin = getattr(plugin, "__name__", "").startswith("dispatchd.plugins.")
        package, version = pm.distributions.get(name, ("dispatchd", __version__) if builtin
                                                else (None, None))
        if name in pm.files:
            package = str(pm.files[name])
        rows.append({"name": name, "package": package, "version": version, "hooks": hooks,
                     "agents": agents.get(name, []),
                     "status": "active" + (" (built-in)" if builtin else
                                           " (file)" if name in pm.files else "")})
    for failure in pm.load_failures:
        rows.append({"name": failure.name, "package": failure.dist, "version": None, "hooks": [],
                     "agents": [], "status": f"failed to load: {failure.error}"})
    return rows


def render_plugins(rows: list[dict[str, Any]]) -> str:
    return _table(["NAME", "PACKAGE", "VERSION", "STATUS", "AGENTS", "HOOKS"],
                  [[r["name"], r["package"] or "-", r["version"] or "-", r["status"],
                    ", ".join(r["agents"]) or "-", ", ".join(r["hooks"]) or "-"] for r in rows])

"""Answering Claude Code's folder-trust question ahead of time, for projects dispatchd serves.

Only with ``agents.claude.trust_projects: true``. Claude Code keeps the answer
in its own state file (``$CLAUDE_CONFIG_DIR/.claude.json``, else
``~/.claude.json``) as ``projects.<path>.hasTrustDialogAccepted``; this sets
that one key, once per project, through a temporary file and a rename. Claude
Code rewrites the same file while it runs, so a write that races one of its
own can lose that write's changes: that is why it is opt-in. Without it,
dispatchd recognises the dialog and never types into it.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path

from dispatchd.fsio import write_atomic

log = logging.getLogger(__name__)


def state_file(env: Mapping[str, str]) -> Path:
    """Where Claude Code keeps its per-project answers, for an agent run with ``env``."""
    folder = env.get("CLAUDE_CONFIG_DIR")
    return Path(folder) / ".claude.json" if folder else Path.home() / ".claude.json"


def trust_project(project: Path, env: Mapping[str, str]) -> None:
    """Record "yes, I trust this folder" for ``project``, unless it is recorded already."""
    path = state_file(env)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        data = {}
    except (OSError, ValueError) as exc:
        log.warning("cannot pre-accept Claude Code's folder trust for %s: %s: %s", project, path,
                    exc)
        return
    projects = data.setdefault("projects", {}) if isinstance(data, dict) else None
    if not isinstance(projects, dict):
        log.warning("cannot pre-accept Claude Code's folder trust: %s has an unexpected shape",
                    path)
        return
    entry = projects.setdefault(str(project), {})
    if not isinstance(entry, dict) or entry.get("hasTrustDialogAccepted") is True:
        return
    entry["hasTrustDialogAccepted"] = True
    write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())
    log.info("recorded Claude Code's folder trust for %s in %s (agents.claude.trust_projects)",
             project, path)

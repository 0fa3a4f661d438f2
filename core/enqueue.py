"""Writing a task into an inbox the safe way: staged in ``.agent-queue/tmp/``, then linked in.

``dispatchd enqueue`` is the reference producer; any program can do the same.

The daemon never sees a half-written file (the link is atomic), and an existing
task of the same name is never overwritten.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from pathlib import Path

import yaml

from .config import Config
from .fsio import move_durable
from .store import QUEUE_DIR, inbox_of, is_task_name
from .task import TaskError, parse_task_text, split_frontmatter


class EnqueueError(Exception):
    """The task was not written; the message says why."""


def project_of(path: Path) -> Path:
    """The project a path names: itself, or the project of its ``.agent-queue/inbox``."""
    if path.name == "inbox" and path.parent.name == QUEUE_DIR:
        return path.parent.parent
    if path.name == QUEUE_DIR:
        return path.parent
    return path


def unread_project(config: Config, project: Path) -> str | None:
    """Why no daemon with ``config`` would read ``project``'s inbox (None: one would)."""
    where = project.expanduser().resolve()
    if any(d.project.expanduser().resolve() == where for d in config.dedicated):
        return None
    roots = [root.expanduser().resolve() for root in config.projects_dirs]
    if where.parent in roots and not where.name.startswith("."):
        return None
    dirs = ", ".join(str(r) for r in roots) or "none configured"
    return (f"no daemon with this config reads {where}: it is neither a folder directly "
            f"inside a projects dir ({dirs}) nor a dedicated session's project "
            f"({config.source}); the task would wait forever. Give the config that watches "
            "it (-c FILE), or --force to write it anyway")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def first_line_title(body: str) -> str:
    """A title from the text's first non-blank line (Markdown heading marks dropped)."""
    line = next((ln.strip() for ln in body.splitlines() if ln.strip()), "")
    line = line.lstrip("#").strip()
    return line if len(line) <= 72 else line[:71].rstrip() + "…"


def task_text(body: str, fields: dict[str, object]) -> str:
    """``body`` with ``fields`` in its frontmatter: added to the text's own frontmatter when it
    has some (a field given twice with two values is refused, naming it), a new one else.
    A text without a title gets one from its first line, so the daemon reads no bare file."""
    if not body.strip() or not split_frontmatter(body)[1].strip():
        raise EnqueueError("the task has no text: give it with -m TEXT, --file FILE, or on stdin")
    own_front, rest = split_frontmatter(body)
    parsed = parse_task_text(body, id="-", name="-", project=Path(), path=Path())
    if parsed.lossy:
        raise EnqueueError("the text's own frontmatter would be lost: "
                           + "; ".join(parsed.warnings))
    own = parsed.meta if own_front is not None else {}
    for key, value in fields.items():
        if key in own and not _same(key, own[key], value):
            raise EnqueueError(f"--{key} {value!r} disagrees with the text's own {key}: "
                               f"{own[key]!r}; give it in one place")
    fields = {k: v for k, v in fields.items() if k not in own}
    if "title" not in own and "title" not in fields:
        fields = {"title": first_line_title(rest), **fields}
    if not fields:
        return body  # its own frontmatter says it all: the text goes in unchanged
    front = yaml.safe_dump({**fields, **own}, sort_keys=False, allow_unicode=True)
    return f"---\n{front}---\n{rest}"


def _same(key: str, own: object, given: object) -> bool:
    """Whether a field the text sets says what the option says (as the daemon reads both)."""
    if key == "priority":
        return str(own).lower() == str(given).lower()
    if key == "tags":
        return ([own] if isinstance(own, str) else own) == given
    return own == given


def enqueue_task(project: Path, body: str, *, name: str | None = None, title: str | None = None,
                 priority: str | None = None, model: str | None = None,
                 tags: tuple[str, ...] = (), agent: str | None = None,
                 session: str | None = None) -> Path:
    """Write a task to ``project``'s inbox and return its path."""
    fields: dict[str, object] = {k: v for k, v in (
        ("title", title), ("priority", priority and priority.lower()), ("model", model),
        ("agent", agent), ("session", session)) if v}
    if tags:
        fields["tags"] = list(tags)
    try:
        text = task_text(body, fields)
        title = title or parse_task_text(text, id="-", name="-", project=Path(),
                                         path=Path()).title
    except TaskError as exc:
        raise EnqueueError(f"invalid task: {exc}") from None
    name = name or f"{_slug(title or '') or 'task'}-{time.strftime('%Y%m%d-%H%M%S')}.md"
    if not name.endswith(".md"):
        name += ".md"
    if "/" in name or not is_task_name(name):
        raise EnqueueError(f"{name!r} is not a usable task file name")
    try:
        parse_task_text(text, id="-", name=name, project=project, path=Path(name))
    except TaskError as exc:
        raise EnqueueError(f"invalid task: {exc}") from None
    if not project.is_dir():
        raise EnqueueError(f"project directory {project} does not exist")
    staging = project / QUEUE_DIR / "tmp"
    staging.mkdir(parents=True, exist_ok=True)
    inbox_of(project).mkdir(parents=True, exist_ok=True)
    tmp = staging / f"{os.getpid()}-{time.time_ns()}-{name}"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    dst = inbox_of(project) / name
    try:
        move_durable(tmp, dst)
    except FileExistsError:
        tmp.unlink()
        raise EnqueueError(f"{dst} already exists; choose another --name") from None
    # A hard link makes no "closed after writing" event; closing a write handle does,
    # so a running daemon takes the task at once (nothing is written, mtime is kept).
    with contextlib.suppress(OSError):  # already claimed by a fast daemon: nothing to signal
        os.close(os.open(dst, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC))
    return dst

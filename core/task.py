"""A task: YAML frontmatter plus a Markdown body, parsed safely and schema-checked.

A file without frontmatter, or whose frontmatter is not valid YAML, is still a
task (the whole text is its body) with a warning, as in the seed. A field with a
wrong value (an unknown priority, a model that is not a plain name) makes the
file invalid: :class:`TaskError` says which field and why, and the daemon sets
the file aside in ``failed/`` with that reason.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from .config import SESSION_NAME

PRIORITIES = ("critical", "high", "default", "low")
"""Priorities, most urgent first; the rank of a priority is its index here."""

NAME_VALUE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
"""What a model, agent or session name in frontmatter may look like: never an option."""

MAX_FRONTMATTER = 16 * 1024
FIELDS = ("title", "priority", "tags", "needs_claude_code", "model", "agent", "session")
"""The frontmatter fields dispatchd reads; plugins may read others (``Task.meta``)."""
"""Frontmatter is a few fields; a larger block is refused before YAML parses it."""

_FENCE = re.compile(r"\A---[ \t]*\r?\n(.*?)^---[ \t]*(?:\r?\n|\Z)", re.S | re.M)


class TaskError(ValueError):
    """A task file that cannot be dispatched; the message is the reason a person reads."""


@dataclass(frozen=True)
class Task:
    """One task as the engine and the hooks see it."""

    id: str
    """Stable id given at first sight (also the prefix of its name once claimed)."""
    name: str
    """The file name the producer chose, e.g. ``fix-tests.md``."""
    project: Path
    path: Path
    """Where the file is now (``inbox/``, ``claimed/``, ``sent/`` …)."""
    body: str
    title: str = ""
    priority: str = "default"
    tags: tuple[str, ...] = ()
    needs_claude_code: bool = False
    model: str | None = None
    """Per-task model override (``model:`` in frontmatter)."""
    agent: str | None = None
    """Per-task agent override (``agent:``), read by agent plugins."""
    session: str | None = None
    """Per-task session binding (``session:``): only that session may take it."""
    arrival: float = 0.0
    """When the file arrived: its mtime (which a rename keeps), never later than when
    dispatchd first saw it (epoch seconds, persisted)."""
    order: tuple[int, int] = (0, 0)
    """Among files with the same ``arrival`` (a burst within one tick of the file system's
    clock): its ctime when first seen (a rename sets it), then when dispatchd first noticed
    it (ns, strictly increasing, so the order of the events). Persisted."""
    attempts: int = 0
    """Failed launch attempts so far."""
    warnings: tuple[str, ...] = ()
    lossy: bool = False
    """Whether fields the producer wrote may be lost: the frontmatter is not valid YAML, is
    not closed, or names a field that looks like a misspelt one (``validate`` fails it)."""
    meta: dict[str, Any] = field(default_factory=dict)
    """The whole frontmatter mapping, for plugins that read their own fields."""

    @property
    def priority_rank(self) -> int:
        return PRIORITIES.index(self.priority)

    def moved(self, path: Path, **changes: Any) -> Task:
        """The same task at a new place (a state change)."""
        return replace(self, path=path, **changes)


class _StrictLoader(yaml.SafeLoader):
    """Safe YAML that also refuses aliases and duplicate keys (no surprises, bounded size)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.constructor.ConstructorError(
                None, None, "aliases (*name) are not allowed in task frontmatter", event.start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def split_frontmatter(text: str) -> tuple[str | None, str]:
    """Return (frontmatter text or None, body)."""
    match = _FENCE.match(text)
    if not match:
        return None, text
    return match.group(1), text[match.end():]


_OTHER_FRONTMATTER = {"TOML": re.compile(r"\A\+\+\+[ \t]*\r?\n"),
                      "JSON": re.compile(r'\A\{[ \t]*(?:\r?\n|")')}


def _refuse_other_frontmatter(text: str) -> None:
    """TOML (``+++``) or JSON (``{``) frontmatter is never read as fields: refused, so a
    producer who meant ``priority: critical`` learns it, instead of a default-priority task."""
    for kind, fence in _OTHER_FRONTMATTER.items():
        if fence.match(text):
            raise TaskError(f"{kind} frontmatter is not read: write the fields as YAML between "
                            "'---' lines")


def parse_task_text(text: str, *, id: str, name: str, project: Path, path: Path,
                    arrival: float = 0.0) -> Task:
    """Build a :class:`Task` from a file's text; raises :class:`TaskError` on a bad field."""
    front, body = split_frontmatter(text)
    if front is not None and len(front) > MAX_FRONTMATTER:
        raise TaskError(f"frontmatter is {len(front)} characters, more than {MAX_FRONTMATTER}")
    warnings: list[str] = []
    meta: dict[str, Any] = {}
    lossy = False
    if front is None:
        _refuse_other_frontmatter(text)
        if text.startswith("---"):
            lossy = True
            warnings.append("frontmatter is not closed by a '---' line: the whole file is the body")
        else:
            warnings.append("no frontmatter: the whole file is the body, priority default")
    else:
        try:
            loaded = yaml.load(front, Loader=_StrictLoader)
        except yaml.constructor.ConstructorError as exc:
            raise TaskError(f"frontmatter refused: {_one_line(exc)}") from None
        except RecursionError:
            raise TaskError("frontmatter refused: nested too deeply") from None
        except yaml.YAMLError as exc:
            lossy = True
            warnings.append(f"frontmatter is not valid YAML ({_one_line(exc)}): "
                            "the whole file is the body")
            body, loaded = text, {}
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise TaskError(f"frontmatter must be a mapping of fields, got {type(loaded).__name__}")
        meta = loaded
    fields = _check_fields(meta)
    for key in sorted(str(k) for k in meta if k not in FIELDS):
        near = difflib.get_close_matches(key.lower(), FIELDS, n=1, cutoff=0.75)
        if near:
            lossy = True
            warnings.append(f"unknown field {key!r}, ignored; did you mean {near[0]!r}?")
    return Task(id=id, name=name, project=project, path=path, body=body.strip(),
                arrival=arrival, warnings=tuple(warnings), lossy=lossy, meta=meta, **fields)


def _check_fields(meta: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if "title" in meta and meta["title"] is not None:
        if not isinstance(meta["title"], str):  # YAML reads `010` as 8 and `no` as False
            raise TaskError(f"invalid field title: expected text, got {meta['title']!r} "
                            f"(put the title in quotes)")
        out["title"] = str(meta["title"])
    if meta.get("priority") is not None:
        prio = meta["priority"]
        if not isinstance(prio, str) or prio.lower() not in PRIORITIES:
            raise TaskError(f"invalid field priority: {prio!r} is not one of "
                            f"{', '.join(PRIORITIES)}")
        out["priority"] = prio.lower()
    if meta.get("tags") is not None:
        tags = meta["tags"]
        if isinstance(tags, str):
            tags = [tags]
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise TaskError(f"invalid field tags: expected a list of words, got {tags!r}")
        out["tags"] = tuple(tags)
    if meta.get("needs_claude_code") is not None:
        if not isinstance(meta["needs_claude_code"], bool):
            raise TaskError("invalid field needs_claude_code: expected true or false, "
                            f"got {meta['needs_claude_code']!r}")
        out["needs_claude_code"] = meta["needs_claude_code"]
    for key in ("model", "agent", "session"):
        if meta.get(key) is not None:
            value = meta[key]
            session = key == "session"
            if not isinstance(value, str) or not (SESSION_NAME if session else NAME_VALUE).match(value):
                rule = ("letters, digits, '_', '-', '@', '+', '='; no '.' or ':'" if session
                        else "letters, digits, '.', '_', '-'; 64 at most")
                raise TaskError(f"invalid field {key}: {value!r} is not a plain name ({rule})")
            out[key] = value
    return out


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())

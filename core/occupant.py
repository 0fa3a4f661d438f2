"""Who holds a pane: a person's idle shell, dispatchd's own launcher, or someone's work.

The pool belongs to the person who owns it. dispatchd takes a pane only when
its shell sits at an empty prompt (no foreground job, nothing typed), or when
it runs dispatchd's own launcher from an earlier task; anything else is the
person's and is never killed, replaced or typed into.

The facts come from the local ``/proc`` (the pane's shell, the terminal's
foreground process group) and from the cursor row of the screen.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from .hooktypes import state_label

SHELL, OURS, PERSON, SELF, UNKNOWN = "shell", "dispatchd", "person", "self", "unknown"

SHELLS = frozenset({"sh", "bash", "dash", "zsh", "fish", "ksh", "mksh", "oksh", "pdksh", "yash",
                    "ash", "busybox", "tcsh", "csh", "nu", "elvish", "xonsh", "osh", "ysh"})
"""Programs that count as a shell when they are a pane's first process."""
PROMPT_END = r"[$#%>❯➜»λ]$"
"""How an empty shell prompt ends (``$ ``, ``# ``, ``% ``, ``> ``, ``❯ ``…), trailing spaces cut
(``dispatcher.shell_prompt`` says otherwise for an unusual prompt)."""
CONTINUATION = re.compile(r"^\s*(>|dquote>|quote>|for>|then>|\.\.\.)$")
"""A shell waiting for the rest of a command a person began (PS2): not an empty prompt."""
TRAMPOLINE_NAME = "trampoline.py"
RIGHT_PROMPT = re.compile(r"^ {4,}\S")
"""Text right of the cursor after a wide gap: a right prompt (zsh RPROMPT, fish), not typed."""


@dataclass(frozen=True)
class Occupant:
    """What runs in a pane, as far as taking it for a task goes."""

    kind: str
    """``shell`` (an empty prompt: free), ``dispatchd`` (our launcher or agent: ours to
    replace), ``person`` (a job or typed text: never touched), ``self`` (the terminal this
    daemon runs in) or ``unknown``."""
    detail: str = ""
    """For people: what runs there, or what is typed (``make``, ``typed: git comm``)."""
    pid: int | None = None
    """The shell's pid (``shell``) or the launcher's (``dispatchd``)."""

    @property
    def free(self) -> bool:
        return self.kind in (SHELL, OURS)

    def state(self) -> tuple[str, str]:
        """The session state this makes (see ``SESSION_STATES``), and its detail."""
        if self.kind == PERSON:
            return "busy", f"not dispatchd's: {self.detail}" if self.detail else "not dispatchd's"
        if self.kind == UNKNOWN:
            return "busy", f"not dispatchd's: {self.detail or 'cannot tell what runs there'}"
        if self.kind == SELF:
            return "busy", "dispatchd itself runs here"
        return "idle", ""

    def describe(self) -> str:
        return state_label(*self.state())


def _stat(pid: int | str) -> tuple[str, int, int, int] | None:
    """(command name, process group, controlling terminal, terminal's foreground process
    group) of ``pid``."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name, rest = raw[raw.index("(") + 1:raw.rindex(")")], raw[raw.rindex(")") + 2:].split()
    return name, int(rest[2]), int(rest[4]), int(rest[5])


def _own_terminal() -> int:
    """This process's controlling terminal (0: none, as under a service manager)."""
    me = _stat("self")
    return me[2] if me else 0


def cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace")
                for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def is_launcher(pid: int) -> bool:
    """Whether ``pid`` is dispatchd's trampoline (started by this or an earlier daemon): its
    exact command line, ``python -I …/dispatchd/trampoline.py …/launch/<pane>.json`` (or an
    earlier version's ``python -m dispatchd.trampoline …``), never a person's editor or
    test run that merely names the file."""
    args = cmdline(pid)
    if len(args) == 4 and args[1] == "-I":
        return (args[2].endswith("/dispatchd/" + TRAMPOLINE_NAME)
                and "/launch/" in args[3] and args[3].endswith(".json"))
    return len(args) >= 4 and args[1:3] == ["-m", "dispatchd.trampoline"]


def shell_name(argv0: str) -> str:
    return os.path.basename(argv0).lstrip("-")


def _columns(ch: str) -> int:
    return 2 if unicodedata.east_asian_width(ch) in "WF" else 1


def width(text: str) -> int:
    """Screen columns ``text`` takes (wide characters take two)."""
    return sum(map(_columns, text))


def cells(text: str, column: int) -> tuple[str, str]:
    """``text`` split at screen column ``column``."""
    col = 0
    for i, ch in enumerate(text):
        if col >= column:
            return text[:i], text[i:]
        col += _columns(ch)
    return text, ""


def empty_prompt(row: str, cursor_x: int, prompt_end: str = PROMPT_END) -> str | None:
    """``None`` if ``row`` (the cursor's row) is a shell prompt with nothing typed, else
    what looks typed. Trailing spaces are lost in a capture, hence the cursor column."""
    before, after = cells(row, cursor_x)
    shown = before.rstrip()
    if after.strip() and not RIGHT_PROMPT.match(after):
        return row.strip()
    if CONTINUATION.match(shown):
        return "an unfinished command"
    if not shown:
        return "(no prompt on screen)"
    if not re.search(prompt_end, shown) or width(shown) >= cursor_x:
        # a prompt ends in its glyph and a space: "… >" or "… #" with the cursor right after
        # it is something typed (a redirection, a comment), not an empty prompt
        return shown.strip()
    return None


def occupant_of(pane_pid: int, screen_row: str | None, cursor_x: int,
                prompt_end: str = PROMPT_END) -> Occupant:
    """What holds the pane whose first process is ``pane_pid``.

    ``screen_row`` is the row the cursor is on (asked for only when the shell itself
    is in the foreground; ``None`` to have it checked without one).
    """
    first = _stat(pane_pid)
    if first is None:
        return Occupant(UNKNOWN, "its processes are not visible here")
    name, pgrp, tty, foreground = first
    if foreground <= 0:
        return Occupant(UNKNOWN, "no terminal")
    if tty and tty == _own_terminal():  # the daemon was started in this very pane
        return Occupant(SELF, "dispatchd itself runs here")
    if foreground != pgrp:  # a job runs in front of the shell
        leader = foreground
        if is_launcher(leader):
            return Occupant(OURS, "dispatchd's agent", leader)
        what = _stat(leader)
        return Occupant(PERSON, what[0] if what else "a foreground job")
    if is_launcher(pane_pid):  # a pane an earlier version respawned with the launcher
        return Occupant(OURS, "dispatchd's agent", pane_pid)
    args = cmdline(pane_pid)
    if shell_name(args[0] if args else name) not in SHELLS and name not in SHELLS:
        return Occupant(PERSON, name)
    if screen_row is None:
        return Occupant(SHELL, "", pane_pid)
    typed = empty_prompt(screen_row, cursor_x, prompt_end)
    if typed is not None:
        return Occupant(PERSON, f"typed: {typed[-40:]}")
    return Occupant(SHELL, "", pane_pid)

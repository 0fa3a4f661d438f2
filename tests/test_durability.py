"""The order of system calls of every state change, traced on real files with strace.

docs/promises.md promises: "Every state change is one rename followed by an fsync of
the folders involved, plus a line in journal.jsonl", and that a file is never deleted.
A store whose files end up in the right folders can still break that promise (a
missing directory fsync, a journal line written too early, a copy and a delete
instead of a rename); only the order of the system calls shows it. So a small
Python process runs the real :class:`FileStore` operations on a temporary project
under ``strace -f -y`` (``-y`` prints the path behind every file descriptor), and
each test checks one state change's slice of that trace (the child marks each
slice by writing ``@@begin <step>`` / ``@@end <step>`` to its stdout).

The checkers are also run on hand-made traces of known regressions (the
``test_checker_*`` tests), so a checker that stopped catching its regression fails
too, even where strace is missing. strace is installed by ``.ci/run``; without it
(or where ptrace is not allowed) the traced tests are skipped, except under CI,
where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import dispatchd
from dispatchd.store import FileStore, inbox_of

# "?" keeps strace quiet about calls this architecture lacks (arm64 has no rename/open/...).
TRACED = ",".join("?" + name for name in (
    "rename", "renameat", "renameat2", "link", "linkat", "unlink", "unlinkat", "rmdir",
    "open", "openat", "creat", "mkdir", "mkdirat", "fsync", "fdatasync", "write", "pwrite64",
    "writev", "sendfile", "copy_file_range", "splice"))
RENAMES = {"rename", "renameat", "renameat2"}
LINKS = {"link", "linkat"}
UNLINKS = {"unlink", "unlinkat"}
OPENS = {"open", "openat", "creat"}
MKDIRS = {"mkdir", "mkdirat"}
FSYNCS = {"fsync", "fdatasync"}
WRITES = {"write", "pwrite64", "writev"}
COPIES = {"sendfile", "copy_file_range", "splice"}
STATES = ("inbox", "claimed", "sent", "done", "failed", "indoubt")

# Each message names the promise that broke.
ONE_RENAME = "'every state change is one atomic rename' (promises.md 6, 7)"
DST_FSYNC = "'a move is made durable by an fsync of the destination folder' (promises.md 7)"
SRC_FSYNC = "'both folders of a move are fsynced' (promises.md 7)"
JOURNAL_AFTER = "'the journal line is written once the move is durable' (lifecycle.md)"
NEVER_DELETED = "'a task file is never deleted, nor unlinked before its new name is durable' (promises.md 1)"
LINK_BACK = "'a move back into the inbox is a hard link plus unlink, never overwriting' (lifecycle.md)"
REASON_FIRST = "'a task in failed/ or indoubt/ has its .reason file' (promises.md 1)"
DATA_FSYNC = "'write_atomic makes the data durable before the rename'"
NAME_FSYNC = "'write_atomic makes the new name durable (fsync of its folder after the rename)'"
NEW_FOLDER = "'a state folder created for a move survives a crash (its parent is fsynced)'"


# -- the trace -----------------------------------------------------------------
_LINE = re.compile(r"^(\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+|\?)(?:<(.*?)>)?(?:\s+(E[A-Z0-9]+)\b.*)?$")
_RESUMED = re.compile(r"^(\d+)\s+<\.\.\. \w+ resumed>(.*)$")
_FD = re.compile(r"^[-\w]+<(.*)>$")
_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)")
_SIMPLE_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "v": "\v", "f": "\f", "a": "\a", "b": "\b"}


def _unescape(text: str) -> str:
    def one(m: re.Match[str]) -> str:
        code = m.group(1)
        if code[0] == "x":
            return chr(int(code[1:], 16))
        if code[0] in "01234567":
            return chr(int(code, 8))
        return _SIMPLE_ESCAPES.get(code, code)
    return _ESCAPE.sub(one, text)


def _split_args(text: str) -> list[str]:
    """Top-level comma-separated arguments of a strace line (strings and <paths> kept whole)."""
    args: list[str] = []
    cur: list[str] = []
    depth, in_string, i = 0, False, 0
    while i < len(text):
        ch = text[i]
        if in_string:
            cur.append(ch)
            if ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
            cur.append(ch)
        elif ch in "([{<":
            depth += 1
            cur.append(ch)
        elif ch in ")]}>":
            depth -= 1
            cur.append(ch)
        elif ch == "," and depth == 0:
            args.append("".join(cur).strip())
            cur = []
        else:
            cur.append(ch)
        i += 1
    if cur:
        args.append("".join(cur).strip())
    return args


def _string(arg: str) -> str:
    if arg.endswith("..."):  # a string cut at -s
        arg = arg[:-3]
    if len(arg) >= 2 and arg[0] == '"' and arg[-1] == '"':
        return _unescape(arg[1:-1])
    return arg


def _fd_path(arg: str) -> Path | None:
    m = _FD.match(arg)
    return Path(m.group(1)) if m else None


def _at(dirfd: str, name: str) -> Path:
    path = _string(name)
    base = _fd_path(dirfd)
    return Path(os.path.normpath(os.path.join(str(base or "/"), path)))


@dataclass
class Call:
    """One traced system call, with the paths it is about resolved."""

    idx: int
    name: str
    args: list[str]
    ret: int | None
    err: str | None
    raw: str
    path: Path | None = None  # unlink, open, mkdir: the path; fsync, write: the fd's path
    src: Path | None = None  # rename, link
    dst: Path | None = None
    data: str = ""  # write: what was written (as far as -s shows)

    @property
    def ok(self) -> bool:
        return self.ret is not None and self.ret >= 0

    def touches(self) -> list[Path]:
        return [p for p in (self.path, self.src, self.dst) if p is not None]


def _call(idx: int, name: str, args: list[str], ret: int | None, err: str | None, raw: str) -> Call:
    c = Call(idx, name, args, ret, err, raw)
    n = len(args)
    if name in ("rename", "link") and n >= 2:
        c.src, c.dst = Path(_string(args[0])), Path(_string(args[1]))
    elif name in ("renameat", "renameat2", "linkat") and n >= 4:
        c.src, c.dst = _at(args[0], args[1]), _at(args[2], args[3])
    elif name in ("unlink", "open", "creat", "mkdir", "rmdir") and n >= 1:
        c.path = Path(_string(args[0]))
    elif name in ("unlinkat", "openat", "mkdirat") and n >= 2:
        c.path = _at(args[0], args[1])
    elif name in FSYNCS | WRITES and n >= 1:
        c.path = _fd_path(args[0])
        if name in WRITES and n >= 2:
            c.data = _string(args[1])
    return c


class Trace:
    """A parsed ``strace -f -y`` log, cut into the child's ``@@begin``/``@@end`` steps."""

    def __init__(self, text: str, root: Path) -> None:
        self.root = root
        self.calls: list[Call] = []
        pending: dict[str, str] = {}
        for line in text.splitlines():
            if line.endswith("<unfinished ...>"):
                pid = line.split(None, 1)[0]
                pending[pid] = line[: -len("<unfinished ...>")].rstrip()
                continue
            resumed = _RESUMED.match(line)
            if resumed and resumed.group(1) in pending:
                line = pending.pop(resumed.group(1)) + resumed.group(2)
            m = _LINE.match(line)
            if not m:
                continue
            _pid, name, args, ret, _ret_path, err = m.groups()
            self.calls.append(_call(len(self.calls), name, _split_args(args),
                                    None if ret == "?" else int(ret), err, line))

    def mine(self) -> list[Call]:
        """The calls about files under the test's root (not Python's own imports)."""
        return [c for c in self.calls if any(self.root in p.parents for p in c.touches())]

    def step(self, name: str) -> list[Call]:
        begin = end = None
        for c in self.calls:
            if c.name == "write" and c.data == f"@@begin {name}\n":
                begin = c.idx
            elif c.name == "write" and c.data == f"@@end {name}\n" and begin is not None:
                end = c.idx
                break
        assert begin is not None and end is not None, f"the traced child never ran step {name!r}"
        return [c for c in self.calls[begin + 1:end] if any(self.root in p.parents for p in c.touches())]

    def rel(self, path: Path | None) -> str:
        if path is None:
            return "?"
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)

    def show(self, calls: Iterable[Call]) -> str:
        out = []
        for c in calls:
            if c.src is not None:
                what = f"{self.rel(c.src)} -> {self.rel(c.dst)}"
            else:
                what = self.rel(c.path)
                if c.name in WRITES:
                    what += f" {c.data[:60]!r}"
                elif c.name in OPENS and len(c.args) >= 3:
                    what += f" {c.args[2] if c.name == 'openat' else c.args[1]}"
            result = f"{c.ret} {c.err}" if c.err else str(c.ret)
            out.append(f"    #{c.idx} {c.name} {what} = {result}")
        return "\n".join(out) or "    (nothing)"


# -- the checkers ----------------------------------------------------------------
def _first(calls: Iterable[Call]) -> Call | None:
    return next(iter(calls), None)


def _journal(project: Path) -> Path:
    return project / ".agent-queue" / "journal.jsonl"


def _opens_for_writing(c: Call) -> bool:
    flags = c.args[2] if c.name == "openat" and len(c.args) > 2 else c.args[1] if len(c.args) > 1 else ""
    return c.name == "creat" or (c.name in OPENS and any(f in flags for f in ("O_WRONLY", "O_RDWR",
                                                                               "O_CREAT", "O_TRUNC")))


def check_journal_after(trace: Trace, step: str, calls: list[Call], project: Path, event: str,
                        durable_at: int) -> None:
    lines = [c for c in calls if c.name in WRITES and c.path == _journal(project)]
    assert len(lines) == 1 and f'"event": "{event}"' in lines[0].data, (
        f"{step}: expected one journal line with event {event!r}, traced:\n{trace.show(lines)}")
    assert lines[0].idx > durable_at, (
        f"{step}: promise {JOURNAL_AFTER} broke: the journal line (#{lines[0].idx}) was written before "
        f"the move was durable (#{durable_at}); after a crash the journal could tell of a move that "
        f"never happened:\n{trace.show(calls)}")


def check_new_folders(trace: Trace, step: str, calls: list[Call]) -> list[Path]:
    """Every folder created in ``step`` has its parent fsynced before anything is moved into it."""
    made = [c for c in calls if c.name in MKDIRS and c.ok and c.path is not None]
    for mk in made:
        folder = mk.path
        assert folder is not None
        entered = _first(c for c in calls if c.idx > mk.idx and c.name in RENAMES | LINKS and c.ok
                         and c.dst is not None and c.dst.parent == folder)
        until = entered.idx if entered else len(trace.calls)
        synced = _first(c for c in calls if mk.idx < c.idx < until and c.name in FSYNCS
                        and c.path == folder.parent)
        assert synced, (
            f"{step}: promise {NEW_FOLDER} broke: {trace.rel(folder)} was created but "
            f"{trace.rel(folder.parent)} was not fsynced before a file was moved into it, so after a "
            f"crash the folder (and the task in it) could be gone:\n{trace.show(calls)}")
    return [mk.path for mk in made if mk.path is not None]


def check_rename_move(trace: Trace, step: str, src: Path, dst: Path, project: Path, event: str) -> int:
    """One rename src -> dst, then fsync of dst's folder and src's, then the journal line.

    Returns the index of the last fsync (when the move became durable).
    """
    calls = trace.step(step)
    moves = [c for c in calls if c.name in RENAMES and c.src == src]
    assert len(moves) == 1 and moves[0].dst == dst and moves[0].ok, (
        f"{step}: promise {ONE_RENAME} broke: expected exactly one rename {trace.rel(src)} -> "
        f"{trace.rel(dst)}, traced:\n{trace.show(calls)}")
    move = moves[0]
    copies = [c for c in calls if c.name in COPIES
              or (c.name in LINKS and c.src == src)
              or (c.name in OPENS and c.path in (src, dst) and _opens_for_writing(c))
              or (c.name in WRITES and c.path in (src, dst))]
    assert not copies, (
        f"{step}: promise {ONE_RENAME} broke: the task file was copied or rewritten, not only renamed:\n"
        f"{trace.show(copies)}")
    deleted = [c for c in calls if c.name in UNLINKS and c.path in (src, dst)]
    assert not deleted, f"{step}: promise {NEVER_DELETED} broke:\n{trace.show(deleted)}"
    after = [c for c in calls if c.idx > move.idx]
    dst_sync = _first(c for c in after if c.name in FSYNCS and c.path == dst.parent)
    assert dst_sync, (
        f"{step}: promise {DST_FSYNC} broke: no fsync of {trace.rel(dst.parent)} after the rename "
        f"(#{move.idx}); a crash could lose the task's new name:\n{trace.show(calls)}")
    durable_at = dst_sync.idx
    if src.parent != dst.parent:
        src_sync = _first(c for c in after if c.name in FSYNCS and c.path == src.parent)
        assert src_sync, (
            f"{step}: promise {SRC_FSYNC} broke: no fsync of the source folder {trace.rel(src.parent)} "
            f"after the rename (#{move.idx}); after a crash the task could be back in "
            f"{src.parent.name}/ beside its new name:\n{trace.show(calls)}")
        durable_at = max(durable_at, src_sync.idx)
    check_journal_after(trace, step, calls, project, event, durable_at)
    check_new_folders(trace, step, calls)
    return move.idx


def check_link_move(trace: Trace, step: str, src: Path, dst: Path, project: Path, event: str) -> None:
    """link src -> dst, fsync dst's folder, unlink src, fsync src's folder, then the journal line."""
    calls = trace.step(step)
    links = [c for c in calls if c.name in LINKS and c.src == src and c.ok]
    refused = [c for c in calls if c.name in LINKS and c.src == src and not c.ok]
    assert len(links) == 1 and links[0].dst == dst, (
        f"{step}: promise {LINK_BACK} broke: expected one hard link {trace.rel(src)} -> {trace.rel(dst)}, "
        f"traced:\n{trace.show(calls)}")
    assert all(c.err == "EEXIST" for c in refused), f"{step}: unexpected failed link:\n{trace.show(refused)}"
    renamed = [c for c in calls if c.name in RENAMES and c.src == src]
    assert not renamed, (
        f"{step}: promise {LINK_BACK} broke: a rename into the inbox could replace a producer's file:\n"
        f"{trace.show(renamed)}")
    link = links[0]
    unlinks = [c for c in calls if c.name in UNLINKS and c.path == src]
    assert len(unlinks) == 1 and unlinks[0].ok and unlinks[0].idx > link.idx, (
        f"{step}: expected the old name {trace.rel(src)} to be unlinked once, after the link:\n"
        f"{trace.show(calls)}")
    unlink = unlinks[0]
    dst_sync = _first(c for c in calls if link.idx < c.idx < unlink.idx and c.name in FSYNCS
                      and c.path == dst.parent)
    assert dst_sync, (
        f"{step}: promise {NEVER_DELETED} broke: {trace.rel(src)} was unlinked (#{unlink.idx}) before "
        f"{trace.rel(dst.parent)} was fsynced after the link (#{link.idx}); a crash could leave the "
        f"task in neither folder:\n{trace.show(calls)}")
    src_sync = _first(c for c in calls if c.idx > unlink.idx and c.name in FSYNCS and c.path == src.parent)
    assert src_sync, (
        f"{step}: promise {SRC_FSYNC} broke: no fsync of {trace.rel(src.parent)} after the unlink "
        f"(#{unlink.idx}):\n{trace.show(calls)}")
    check_journal_after(trace, step, calls, project, event, max(dst_sync.idx, src_sync.idx))
    check_new_folders(trace, step, calls)


def check_write_atomic(trace: Trace, step: str, path: Path, data: str | None = None) -> int:
    """open tmp, write, fsync tmp, rename tmp -> path, fsync the folder. Returns that last fsync's index."""
    calls = trace.step(step)
    renames = [c for c in calls if c.name in RENAMES and c.dst == path]
    assert len(renames) == 1 and renames[0].ok and renames[0].src is not None, (
        f"{step}: {trace.rel(path)} must be replaced by one rename of a temporary file, traced:\n"
        f"{trace.show(calls)}")
    rename = renames[0]
    tmp = rename.src
    assert tmp is not None and tmp.parent == path.parent, f"{step}: temporary file {tmp} not beside {path}"
    direct = [c for c in calls if (c.name in WRITES and c.path == path)
              or (c.name in OPENS and c.path == path and _opens_for_writing(c))]
    assert not direct, f"{step}: {trace.rel(path)} was written in place, readers could see half of it:\n" \
                       f"{trace.show(direct)}"
    created = _first(c for c in calls if c.name in OPENS and c.path == tmp and c.ok and c.idx < rename.idx)
    writes = [c for c in calls if c.name in WRITES and c.path == tmp and c.idx < rename.idx]
    assert created and writes, f"{step}: the temporary file was not written before the rename:\n" \
                               f"{trace.show(calls)}"
    if data is not None:
        assert "".join(c.data for c in writes) == data, f"{step}: unexpected content {writes[0].data!r}"
    synced = _first(c for c in calls if writes[-1].idx < c.idx < rename.idx and c.name in FSYNCS
                    and c.path == tmp)
    assert synced, (
        f"{step}: promise {DATA_FSYNC} broke: no fsync of {trace.rel(tmp)} between its last write "
        f"(#{writes[-1].idx}) and the rename (#{rename.idx}); a crash could leave {trace.rel(path)} "
        f"empty or torn:\n{trace.show(calls)}")
    dir_sync = _first(c for c in calls if c.idx > rename.idx and c.name in FSYNCS and c.path == path.parent)
    assert dir_sync, (
        f"{step}: promise {NAME_FSYNC} broke: no fsync of {trace.rel(path.parent)} after the rename "
        f"(#{rename.idx}):\n{trace.show(calls)}")
    check_new_folders(trace, step, calls)
    return dir_sync.idx


def check_no_unlink_without_durable_link(trace: Trace) -> int:
    """Over the whole trace: a task file is unlinked only after a durable link of it. Returns #unlinks."""
    calls = trace.mine()
    unlinks = [c for c in calls if c.name in UNLINKS and c.ok and c.path is not None
               and c.path.suffix == ".md" and c.path.parent.name in STATES]
    for u in unlinks:
        links = [c for c in calls if c.name in LINKS and c.ok and c.src == u.path and c.idx < u.idx]
        durable = [ln for ln in links if any(ln.idx < c.idx < u.idx and c.name in FSYNCS
                                             and ln.dst is not None and c.path == ln.dst.parent
                                             for c in calls)]
        assert durable, (
            f"promise {NEVER_DELETED} broke: {trace.rel(u.path)} was unlinked (#{u.idx}) without a "
            f"hard link of it made durable first:\n"
            f"{trace.show(c for c in calls if u.path in c.touches() or c.idx == u.idx)}")
    return len(unlinks)


# -- the traced child ------------------------------------------------------------
CHILD = r'''
import errno, json, os, sys
from pathlib import Path
from dispatchd import fsio
from dispatchd.store import FileStore, inbox_of

root = Path(sys.argv[1])
project = root / "proj"
inbox = inbox_of(project)
inbox.mkdir(parents=True)
(root / "state").mkdir()
for name in "abcdefh":
    (inbox / f"{name}.md").write_text(f"---\npriority: high\n---\ntask {name}\n")
(inbox / "g.md").write_text("---\npriority: whenever\n---\nbroken\n")
store = FileStore()
tasks = {f"{n}.md": store.load(project, f"{n}.md") for n in "abcdefh"}
ids = {name: task.id for name, task in tasks.items()}


def step(name, fn):
    os.write(1, f"@@begin {name}\n".encode())
    result = fn()
    os.write(1, f"@@end {name}\n".encode())
    return result


a = step("claim", lambda: store.claim(tasks["a.md"]))
a = step("mark_sent", lambda: store.mark_sent(a, "s1"))
step("finish_done", lambda: store.finish(a, "done"))
b = store.mark_sent(store.claim(tasks["b.md"]), "s1")
step("finish_failed", lambda: store.finish(b, "failed", "it broke"))
c = store.mark_sent(store.claim(tasks["c.md"]), "s1")
step("finish_indoubt", lambda: store.finish(c, "indoubt", "no acknowledgement"))
ids["g.md"] = step("reject", lambda: store.reject(project, "g.md", "invalid field priority")).id
d = store.claim(tasks["d.md"])
step("release", lambda: store.release(d))
e = store.claim(tasks["e.md"])
(inbox / "e.md").write_text("a new task with the same name\n")
step("release_beside_new_file", lambda: store.release(e))
f = store.claim(tasks["f.md"])


def no_hard_links(*args, **kwargs):
    raise OSError(errno.EPERM, "hard links are not possible here")


real_link, os.link = os.link, no_hard_links
try:
    step("release_without_hard_links", lambda: store.release(f))
finally:
    os.link = real_link
store.claim(tasks["h.md"])
step("recover", lambda: FileStore().recover(project))
step("write_atomic", lambda: fsio.write_atomic(root / "state" / "inflight.json", b'{"sessions": {}}\n'))
print("@@ids " + json.dumps(ids), flush=True)
'''


@dataclass
class Traced:
    trace: Trace
    ids: dict[str, str]
    project: Path

    def path(self, state: str, name: str) -> Path:
        folder = self.project / ".agent-queue" / state
        return folder / name if state == "inbox" else folder / f"{self.ids[name]}.{name}"


def _strace_problem() -> str | None:
    if shutil.which("strace") is None:
        return "strace is not installed (apt-get install -y strace; .ci/run installs it)"
    probe = subprocess.run(["strace", "-f", "-qq", "-e", "trace=?fsync", "true"], capture_output=True,
                           text=True, timeout=60)
    if probe.returncode != 0:
        return f"strace cannot trace here (ptrace not allowed?): {probe.stderr.strip()}"
    return None


@pytest.fixture(scope="module")
def traced(tmp_path_factory: pytest.TempPathFactory) -> Traced:
    problem = _strace_problem()
    if problem:
        if os.environ.get("CI"):
            pytest.fail(problem)
        pytest.skip(problem)
    root = tmp_path_factory.mktemp("durability").resolve()
    log = root / "strace.log"
    package_parent = str(Path(dispatchd.__file__).resolve().parent.parent)  # the dispatchd under test
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (package_parent, os.environ.get("PYTHONPATH")) if p)}
    res = subprocess.run(["strace", "-f", "-qq", "-y", "-s", "4096", "-e", "signal=none",
                          "-e", f"trace={TRACED}", "-o", str(log), sys.executable, "-c", CHILD, str(root)],
                         capture_output=True, text=True, timeout=120, env=env, cwd=root)
    assert res.returncode == 0, f"the traced child failed:\n{res.stdout}\n{res.stderr}"
    ids = json.loads(next(ln for ln in res.stdout.splitlines() if ln.startswith("@@ids "))[6:])
    return Traced(Trace(log.read_text(encoding="utf-8", errors="replace"), root), ids, root / "proj")


# -- the traced tests ----------------------------------------------------------------
RENAME_MOVES = [  # step, task, from, to, journal event, reason written
    ("claim", "a.md", "inbox", "claimed", "claimed", None),
    ("mark_sent", "a.md", "claimed", "sent", "sent", None),
    ("finish_done", "a.md", "sent", "done", "done", None),
    ("finish_failed", "b.md", "sent", "failed", "failed", "it broke\n"),
    ("finish_indoubt", "c.md", "sent", "indoubt", "indoubt", "no acknowledgement\n"),
    ("reject", "g.md", "inbox", "failed", "failed", "invalid field priority\n"),
    ("release_without_hard_links", "f.md", "claimed", "inbox", "released", None),
]


@pytest.mark.parametrize(("step", "name", "src", "dst", "event", "reason"), RENAME_MOVES,
                         ids=[m[0] for m in RENAME_MOVES])
def test_state_change_is_one_rename_then_both_folders_fsynced_then_the_journal_line(
        traced: Traced, step: str, name: str, src: str, dst: str, event: str, reason: str | None) -> None:
    """One rename old -> new folder, an fsync of the new folder and of the old one after it, no copy,
    no unlink, and only then the journal line; a reason file is durable before the task moves."""
    dst_path = traced.path(dst, name)
    moved_at = check_rename_move(traced.trace, step, traced.path(src, name), dst_path, traced.project, event)
    if reason is not None:
        reason_path = dst_path.with_name(dst_path.name + ".reason")
        reason_durable_at = check_write_atomic(traced.trace, step, reason_path, reason)
        assert reason_durable_at < moved_at, (
            f"{step}: promise {REASON_FIRST} broke: {traced.trace.rel(reason_path)} was made durable "
            f"(#{reason_durable_at}) only after the task moved (#{moved_at}):\n"
            f"{traced.trace.show(traced.trace.step(step))}")


LINK_MOVES = [  # step, task, new name in the inbox (None: the same name)
    ("release", "d.md", None),
    ("release_beside_new_file", "e.md", "id"),
    ("recover", "h.md", None),
]


@pytest.mark.parametrize(("step", "name", "new_name"), LINK_MOVES, ids=[m[0] for m in LINK_MOVES])
def test_move_back_to_the_inbox_links_durably_before_it_unlinks(
        traced: Traced, step: str, name: str, new_name: str | None) -> None:
    """link claimed -> inbox, fsync inbox/, only then unlink the claimed name, fsync claimed/, journal."""
    dst = inbox_of(traced.project) / (f"{traced.ids[name]}.{name}" if new_name else name)
    check_link_move(traced.trace, step, traced.path("claimed", name), dst, traced.project, "released")
    if new_name:  # the producer's new file of the same name is never touched
        producers = inbox_of(traced.project) / name
        touched = [c for c in traced.trace.step(step) if producers in c.touches()
                   and not (c.name in LINKS and not c.ok)]
        assert not touched, (f"{step}: promise {LINK_BACK} broke: the producer's new {name} was touched:\n"
                             f"{traced.trace.show(touched)}")


def test_write_atomic_fsyncs_the_data_before_the_rename_and_the_folder_after(traced: Traced) -> None:
    """write_atomic (inflight.json and other state files): tmp written, fsynced, renamed, folder fsynced."""
    path = traced.project.parent / "state" / "inflight.json"
    check_write_atomic(traced.trace, "write_atomic", path, '{"sessions": {}}\n')


@pytest.mark.parametrize("step", ["claim", "mark_sent", "finish_done", "finish_failed", "finish_indoubt"])
def test_a_state_folder_created_by_a_move_is_made_durable_in_its_parent(traced: Traced, step: str) -> None:
    """The first move into claimed/, sent/, ... creates it; .agent-queue/ is fsynced before the move."""
    made = check_new_folders(traced.trace, step, traced.trace.step(step))
    assert [p.parent.name for p in made] == [".agent-queue"], (
        f"{step}: expected this step to create one state folder (so the check above is not vacuous), "
        f"created: {[traced.trace.rel(p) for p in made]}")


def test_no_task_file_is_ever_unlinked_without_a_durable_link(traced: Traced) -> None:
    """Over the whole run (every step and the set-up), each unlink of a task file follows a durable link."""
    assert check_no_unlink_without_durable_link(traced.trace) >= 3  # release, beside new file, recover


def test_every_task_rename_in_the_run_is_fsynced_before_the_next_journal_line(traced: Traced) -> None:
    """Also the moves of the set-up: after each rename of a task file between state folders, both folders
    are fsynced before the next journal line is written."""
    calls = traced.trace.mine()
    journal = _journal(traced.project)
    moves = [c for c in calls if c.name in RENAMES and c.ok and c.src is not None and c.dst is not None
             and c.src.suffix == c.dst.suffix == ".md" and c.src.parent.name in STATES
             and c.dst.parent.name in STATES]
    assert len(moves) >= 10
    for move in moves:
        assert move.src is not None and move.dst is not None
        line = _first(c for c in calls if c.idx > move.idx and c.name in WRITES and c.path == journal)
        until = line.idx if line else len(traced.trace.calls)
        for folder, promise in ((move.dst.parent, DST_FSYNC), (move.src.parent, SRC_FSYNC)):
            assert any(move.idx < c.idx < until and c.name in FSYNCS and c.path == folder for c in calls), (
                f"promise {promise} broke: rename #{move.idx} {traced.trace.rel(move.src)} -> "
                f"{traced.trace.rel(move.dst)} has no fsync of {traced.trace.rel(folder)} before the next "
                f"journal line:\n{traced.trace.show(c for c in calls if move.idx <= c.idx <= until)}")


# -- crash between the link and the unlink (no strace needed) -------------------------
def test_recovery_after_a_crash_between_link_and_unlink_keeps_one_copy(tmp_path: Path) -> None:
    """A crash inside a move back to the inbox leaves the task under both names (same inode).
    Recovery must finish that move, not add a third name that would dispatch the task twice."""
    inbox = inbox_of(tmp_path)
    inbox.mkdir(parents=True)
    (inbox / "a.md").write_text("---\npriority: high\n---\nbody\n")
    store = FileStore()
    task = store.load(tmp_path, "a.md")
    assert task is not None
    claimed = store.claim(task)
    assert claimed is not None
    os.link(claimed.path, inbox / "a.md")  # the crash: linked back, not yet unlinked
    FileStore().recover(tmp_path)
    assert sorted(os.listdir(inbox)) == ["a.md"], (
        f"promise 'recovery after a crash at any point is deterministic' broke: inbox holds "
        f"{sorted(os.listdir(inbox))}, the task would be dispatched twice")
    assert os.listdir(claimed.path.parent) == []
    again = FileStore().load(tmp_path, "a.md")
    assert again is not None and again.id == task.id


# -- the checkers catch each regression (hand-made traces, no strace needed) -------------
R = Path("/r")
Q = "/r/proj/.agent-queue"
PROJECT = R / "proj"
GOOD_CLAIM = [
    f'1 rename("{Q}/inbox/a.md", "{Q}/claimed/X.a.md") = 0',
    f'1 openat(AT_FDCWD</r>, "{Q}/claimed", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 3<{Q}/claimed>',
    f"1 fsync(3<{Q}/claimed>) = 0",
    f'1 openat(AT_FDCWD</r>, "{Q}/inbox", O_RDONLY|O_CLOEXEC|O_DIRECTORY) = 3<{Q}/inbox>',
    f"1 fsync(3<{Q}/inbox>) = 0",
    f'1 write(3<{Q}/journal.jsonl>, "{{\\"event\\": \\"claimed\\", \\"task\\": \\"X\\"}}\\n", 34) = 34',
]
COPY_INSTEAD = [
    f'1 openat(AT_FDCWD</r>, "{Q}/claimed/X.a.md", O_WRONLY|O_CREAT|O_EXCL, 0600) = 4<{Q}/claimed/X.a.md>',
    f'1 write(4<{Q}/claimed/X.a.md>, "body", 4) = 4',
    f'1 unlink("{Q}/inbox/a.md") = 0',
]
GOOD_RELEASE = [
    f'1 linkat(AT_FDCWD</r>, "{Q}/claimed/X.a.md", AT_FDCWD</r>, "{Q}/inbox/a.md", 0) = 0',
    f"1 fsync(3<{Q}/inbox>) = 0",
    f'1 unlink("{Q}/claimed/X.a.md") = 0',
    f"1 fsync(3<{Q}/claimed>) = 0",
    f'1 write(3<{Q}/journal.jsonl>, "{{\\"event\\": \\"released\\"}}\\n", 22) = 22',
]
GOOD_WRITE = [
    '1 openat(AT_FDCWD</r>, "/r/state/.f.json.9.tmp", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0600)'
    " = 3</r/state/.f.json.9.tmp>",
    '1 write(3</r/state/.f.json.9.tmp>, "{}", 2) = 2',
    "1 fsync(3</r/state/.f.json.9.tmp>) = 0",
    '1 rename("/r/state/.f.json.9.tmp", "/r/state/f.json") = 0',
    "1 fsync(3</r/state>) = 0",
]


def _trace(lines: list[str], step: str) -> Trace:
    marks = [f'1 write(1<pipe:[7]>, "@@{what} {step}\\n", 9) = 9' for what in ("begin", "end")]
    return Trace("\n".join([marks[0], *lines, marks[1]]), R)


def _claim(lines: list[str]) -> None:
    check_rename_move(_trace(lines, "claim"), "claim", Path(f"{Q}/inbox/a.md"), Path(f"{Q}/claimed/X.a.md"),
                      PROJECT, "claimed")


def _release(lines: list[str]) -> None:
    trace = _trace(lines, "release")
    check_link_move(trace, "release", Path(f"{Q}/claimed/X.a.md"), Path(f"{Q}/inbox/a.md"), PROJECT,
                    "released")
    check_no_unlink_without_durable_link(trace)


def _write(lines: list[str]) -> None:
    check_write_atomic(_trace(lines, "w"), "w", Path("/r/state/f.json"))


G, L, W = GOOD_CLAIM, GOOD_RELEASE, GOOD_WRITE
MKDIR_CLAIMED = f'1 mkdir("{Q}/claimed", 0777) = 0'
REGRESSIONS: list[tuple[str, Callable[[list[str]], None], list[str], str]] = [
    ("rename_without_destination_fsync", _claim, [*G[:2], *G[3:]], "destination folder"),
    ("fsync_of_the_wrong_folder", _claim, [G[0], G[3], G[4], G[3], G[4], G[5]], "destination folder"),
    ("no_source_folder_fsync", _claim, [*G[:4], G[5]], "both folders"),
    ("journal_before_the_rename", _claim, [G[5], *G[:5]], "journal line"),
    ("journal_before_the_fsync", _claim, [G[0], G[5], *G[1:5]], "journal line"),
    ("copy_and_delete_instead_of_rename", _claim, [*COPY_INSTEAD, *G[1:]], "one atomic rename"),
    ("new_folder_without_parent_fsync", _claim, [MKDIR_CLAIMED, *G], "survives a crash"),
    ("unlink_before_the_link_is_durable", _release, [L[0], L[2], L[1], L[3], L[4]], "never deleted"),
    ("unlink_without_any_link", _release, [L[2], L[3], L[4]], "hard link plus unlink"),
    ("write_atomic_without_data_fsync", _write, [*W[:2], *W[3:]], "data durable"),
    ("write_atomic_without_folder_fsync", _write, W[:4], "new name durable"),
]


def test_checkers_accept_the_correct_orders() -> None:
    _claim(GOOD_CLAIM)
    _claim([MKDIR_CLAIMED, f"1 fsync(3<{Q}>) = 0", *GOOD_CLAIM])
    _release(GOOD_RELEASE)
    _write(GOOD_WRITE)


@pytest.mark.parametrize(("regression", "check", "lines", "promise"), REGRESSIONS,
                         ids=[r[0] for r in REGRESSIONS])
def test_checker_catches(regression: str, check: Callable[[list[str]], None], lines: list[str],
                         promise: str) -> None:
    with pytest.raises(AssertionError, match=re.escape(promise)):
        check(lines)

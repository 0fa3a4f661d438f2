"""Durable, race-free file operations: every state change of a task is one of these."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path
from typing import Any


def fsync_dir(path: Path) -> None:
    """Make a rename or create in ``path`` durable (rename alone is atomic, not durable)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mkdirs_durable(path: Path) -> None:
    """``mkdir -p`` whose new folders survive a crash: the parent of each one it creates is fsynced."""
    if path.is_dir():
        return
    _mkdirs_durable(path.parent)
    try:
        path.mkdir()
    except FileExistsError:
        if not path.is_dir():
            raise
    fsync_dir(path.parent)


def move_durable(src: Path, dst: Path) -> None:
    """Rename ``src`` to a name ``dst`` that nobody else uses, then fsync both folders.

    One ``rename``: it takes whatever file is at ``src`` at that instant, so a
    producer replacing ``src`` concurrently never loses its new file, and of two
    concurrent movers exactly one wins (the other gets ``FileNotFoundError``).
    ``dst`` names are unique (they carry the task id); an existing ``dst`` is
    refused with ``FileExistsError`` rather than overwritten.
    """
    _mkdirs_durable(dst.parent)
    if os.path.lexists(dst):
        raise FileExistsError(errno.EEXIST, "refusing to overwrite", str(dst))
    os.rename(src, dst)
    fsync_dir(dst.parent)
    if src.parent != dst.parent:
        fsync_dir(src.parent)


def link_in_durable(src: Path, dst: Path) -> None:
    """Move ``src`` (a file only dispatchd touches) to ``dst`` in a folder others write to.

    ``os.link`` fails with ``FileExistsError`` where ``rename`` would replace a
    file a producer just wrote under the same name. Where hard links are not
    possible (some network file systems), a checked ``rename`` is used.
    """
    _mkdirs_durable(dst.parent)
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        if not _same_file(src, dst):
            raise
        # our own link, left by a crash between the link and the unlink: finish that move
    except OSError:
        move_durable(src, dst)
        return
    fsync_dir(dst.parent)  # the new name must be durable before the old one goes
    os.unlink(src)
    fsync_dir(src.parent)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def write_atomic(path: Path, data: bytes, *, durable: bool = True) -> None:
    """Write ``path`` through a temporary file and a rename, so readers never see half of it."""
    _mkdirs_durable(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    with open(fd, "wb") as fh:
        fh.write(data)
        if durable:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)
    if durable:
        fsync_dir(path.parent)


def append_line(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line in a single write (O_APPEND: lines from several writers never mix)."""
    line = (json.dumps(record, ensure_ascii=True, sort_keys=True) + "\n").encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)


class NotATaskFile(Exception):
    """The path is not a regular file dispatchd may read (symlink, FIFO, directory, too big)."""


def read_regular(path: Path, max_bytes: int) -> tuple[bytes, os.stat_result]:
    """Read a task file without following symlinks, blocking on FIFOs or reading past the cap."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise NotATaskFile("is a symbolic link; dispatchd only reads regular files") from None
        raise
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise NotATaskFile("is not a regular file")
        if st.st_uid != os.getuid():
            raise NotATaskFile(f"is owned by another user (uid {st.st_uid}); "
                               "dispatchd only runs tasks written by its own user")
        if st.st_size > max_bytes:
            raise NotATaskFile(f"is {st.st_size} bytes, larger than max_task_bytes ({max_bytes})")
        chunks, left = [], max_bytes + 1
        while left > 0:
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        data = b"".join(chunks)
        if len(data) > max_bytes:
            raise NotATaskFile(f"grew past max_task_bytes ({max_bytes}) while being read")
        return data, st
    finally:
        os.close(fd)

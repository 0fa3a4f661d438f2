"""File-system events (watchdog) as hints to the engine.

Only events that mean "this file is complete" count as arrivals: a file closed
after writing, or moved into the inbox (from anywhere: the observer reports
full move events, so a move from an unwatched folder is not mistaken for a
bare create). A bare create is only a hint: a file still being written gets
its close event later; one that appears complete without one (a hard link)
counts once it has not changed for ``settle_time``. Folders that may become projects or
inboxes are watched too (non-recursively), so projects created while running
are found at once; the periodic full scan remains the source of truth and
catches anything the watcher missed. A watch that cannot be added (inotify
limit reached) is logged, and that folder is served by polling alone. When the
kernel's event queue overflows (events were dropped), the engine is told at
once (``overflow``) and scans every inbox instead of waiting for the next
periodic scan.
"""

from __future__ import annotations

import contextlib
import logging
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)

from .store import QUEUE_DIR, is_task_name

log = logging.getLogger(__name__)

Notify = Callable[[str, Path], None]
"""``notify(kind, path)``, called from the observer thread; kinds: ``file`` (complete task
file), ``created`` (maybe still being written), ``gone`` (left the inbox),
``discover`` (a folder appeared or vanished), ``agent-event`` (a callback file),
``overflow`` (the kernel dropped events: scan everything; the path is meaningless)."""

WATCHDOG_LOGGER = "watchdog"
"""Where :class:`_OverflowSpotter` listens (watchdog's modules log below this name)."""


def _is_inbox(folder: Path) -> bool:
    return folder.name == "inbox" and folder.parent.name == QUEUE_DIR


class _Handler(FileSystemEventHandler):
    def __init__(self, notify: Notify, events_dir: Path | None,
                 folder_gone: Callable[[Path], None]) -> None:
        self.notify = notify
        self.events_dir = events_dir
        self.folder_gone = folder_gone
        self.aliases: dict[Path, Path] = {}
        """Resolved watched folder → the path the engine knows it by (symlinked inboxes)."""

    def _known(self, path: Path) -> Path:
        parent = self.aliases.get(path.parent)
        return parent / path.name if parent is not None else path

    def dispatch(self, event: FileSystemEvent) -> None:
        try:
            self._route(event)
        except Exception:  # an exception here would silently kill the observer thread
            log.exception("error handling file-system event %r", event)

    def _route(self, event: FileSystemEvent) -> None:
        src = self._known(Path(_text(event.src_path)))
        dest = (self._known(Path(_text(event.dest_path))) if getattr(event, "dest_path", "")
                else None)
        if isinstance(event, DirCreatedEvent | DirDeletedEvent | DirMovedEvent):
            if isinstance(event, DirDeletedEvent | DirMovedEvent):
                self.folder_gone(src)  # if it was a watched folder, its watch is dead now
            self.notify("discover", dest or src)
            return
        if self.events_dir is not None and self.events_dir in (src.parent, dest and dest.parent):
            if isinstance(event, FileClosedEvent | FileMovedEvent):
                self.notify("agent-event", dest or src)
            return
        if isinstance(event, FileMovedEvent):
            if _is_inbox(src.parent) and is_task_name(src.name):
                self.notify("gone", src)
            if dest is not None and _is_inbox(dest.parent) and is_task_name(dest.name):
                self.notify("file", dest)
            return
        if not (_is_inbox(src.parent) and is_task_name(src.name)):
            return
        if isinstance(event, FileClosedEvent):
            self.notify("file", src)
        elif isinstance(event, FileCreatedEvent):
            self.notify("created", src)
        elif isinstance(event, FileDeletedEvent):
            self.notify("gone", src)


class _OverflowSpotter(logging.Handler):
    """Turns watchdog's "inotify queue overflowed" warning into an ``overflow`` notification.

    When more events are pending than ``/proc/sys/fs/inotify/max_queued_events``,
    the kernel drops the rest and queues one ``IN_Q_OVERFLOW``. watchdog (7.x)
    handles it internally (``InotifyWatchGroup.on_queue_overflow``, which rebuilds
    recursive watches only) and says so only as a warning on its logger
    ``watchdog.observers.inotify_c`` ("Inotify queue overflowed; filesystem events
    were lost"); no event reaches a handler, and there is no public hook. The
    alternatives are private (subclassing its emitter and watch group, or adding
    a callback to the observer's ``_inotify_fd``) and would break silently on
    any refactoring of its internals. A logging handler uses public API only:
    if a later watchdog words the warning differently, nothing breaks, and an
    overflow is caught by the periodic scan, as before this handler existed.

    The handler matches the warning's format string (never its arguments, which may
    hold paths), at level WARNING or above, below the ``watchdog`` logger. It is
    called on watchdog's reader thread, so it only calls ``notify``, which hands the
    news to the event loop. Since loggers are process-wide, every running
    :class:`Watcher` of the process hears every overflow (one per daemon in practice).
    """

    def __init__(self, notify: Notify) -> None:
        super().__init__(logging.WARNING)
        self.notify = notify

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if isinstance(record.msg, str) and "overflow" in record.msg.lower():
                self.notify("overflow", Path())
        except Exception:  # never let our notification break watchdog's thread
            self.handleError(record)


def _inode(folder: Path) -> int | None:
    try:
        st = folder.stat()
    except OSError:
        return None
    return st.st_ino if stat.S_ISDIR(st.st_mode) else None


def _text(path: Any) -> str:
    return path.decode(errors="surrogateescape") if isinstance(path, bytes) else str(path)


class Watcher:
    """Keeps one non-recursive watch on each folder the engine asks for.

    Folders are watched by their resolved path (inotify does not follow a
    symlinked folder), so the engine keeps project paths resolved too.
    """

    def __init__(self, notify: Notify, events_dir: Path | None = None) -> None:
        self.dead: set[Path] = set()
        """Watched folders reported deleted or moved: their watch no longer sees anything."""
        self.handler = _Handler(notify, events_dir, lambda folder: self.dead.add(folder))
        # (not ``self.dead.add``: ``sync`` replaces the set, and the handler must reach the new one)
        self.overflow = _OverflowSpotter(notify)
        self.observer: Any = None
        self.started = False
        self.watches: dict[Path, tuple[Any, int]] = {}
        self.failed: set[Path] = set()

    def start(self) -> bool:
        """Start the observer thread; False (poll-only mode) when events are unavailable."""
        try:
            try:
                from watchdog.observers.inotify import InotifyObserver

                self.observer = InotifyObserver(generate_full_events=True)
            except (ImportError, OSError):
                from watchdog.observers import Observer

                self.observer = Observer()
            self.observer.daemon = True
            self.observer.start()
        except Exception as exc:
            log.warning("file-system events unavailable (%s): polling only", exc)
            self.observer = None
            return False
        self.started = True
        watchdog_log = logging.getLogger(WATCHDOG_LOGGER)
        if self.overflow not in watchdog_log.handlers:
            watchdog_log.addHandler(self.overflow)
            if not logging.getLogger(f"{WATCHDOG_LOGGER}.observers.inotify_c").isEnabledFor(
                    logging.WARNING):
                log.info("watchdog's warnings are turned off: an inotify queue overflow is "
                         "only noticed by the next periodic scan")
        return True

    def stop(self) -> None:
        self.started = False
        logging.getLogger(WATCHDOG_LOGGER).removeHandler(self.overflow)
        if self.observer is not None:
            self.observer.stop()
            self.observer.join(timeout=5)
            self.observer = None

    @property
    def alive(self) -> bool:
        """The observer thread and each watch's emitter thread (an exception kills only it)."""
        return (self.observer is not None and self.observer.is_alive()
                and all(emitter.is_alive() for emitter in self.observer.emitters))

    def ensure_alive(self) -> None:
        """Restart the observer if its thread died (it then watches every folder anew)."""
        if self.started and not self.alive:
            log.error("the file-system watcher stopped; restarting it")
            self.watches.clear()
            self.start()

    def sync(self, folders: Iterable[Path]) -> None:
        """Watch exactly ``folders`` (those that exist); drop watches no longer wanted or dead."""
        if self.observer is None:
            return
        resolved = {f: f.resolve() for f in folders}
        self.handler.aliases = {r: f for f, r in resolved.items() if r != f}
        inodes = {r: _inode(r) for r in resolved.values()}
        wanted = {f: ino for f, ino in inodes.items() if ino is not None}
        dead, self.dead = self.dead, set()
        for folder, (_, ino) in list(self.watches.items()):
            if wanted.get(folder) != ino or folder in dead:  # re-created folders need a new watch
                self._unschedule(folder)
        for folder in set(wanted) - set(self.watches):
            try:
                watch = self.observer.schedule(self.handler, str(folder), recursive=False)
                self.watches[folder] = (watch, wanted[folder])
                self.failed.discard(folder)
            except OSError as exc:
                if folder not in self.failed:
                    log.warning("cannot watch %s (%s): it is polled every scan instead",
                                folder, exc)
                    self.failed.add(folder)

    def _unschedule(self, folder: Path) -> None:
        watch, _ = self.watches.pop(folder)
        with contextlib.suppress(KeyError, OSError):
            self.observer.unschedule(watch)

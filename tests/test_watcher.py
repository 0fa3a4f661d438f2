"""The watcher: a dead observer is restarted, a watch that cannot be added degrades to polling,
an overflow of the kernel's event queue makes the daemon scan at once."""

from __future__ import annotations

import errno
import json
import logging
import os
import signal
import time
from pathlib import Path

import pytest
from harness import wait_for

from dispatchd.watcher import Watcher


def test_a_dead_observer_is_restarted_and_watches_again(tmp_path):
    seen: list[tuple[str, str]] = []
    inbox = tmp_path / "p" / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    watcher = Watcher(lambda kind, path: seen.append((kind, path.name)))
    assert watcher.start()
    try:
        watcher.sync([inbox])
        watcher.observer.stop()  # the thread dies, as after an unhandled error
        watcher.observer.join(5)
        assert not watcher.alive
        watcher.ensure_alive()
        assert watcher.alive
        watcher.sync([inbox])
        (inbox / "t.md").write_text("x")
        wait_for(lambda: ("file", "t.md") in seen, 10, "an event after the restart")
    finally:
        watcher.stop()


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_emitter_thread_counts_as_a_dead_watcher(tmp_path, monkeypatch):
    """watchdog runs one thread per watch; an exception there kills only that thread."""
    from watchdog.observers.inotify import InotifyEmitter

    seen: list[tuple[str, str]] = []
    inbox = tmp_path / "p" / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    watcher = Watcher(lambda kind, path: seen.append((kind, path.name)))
    assert watcher.start()
    try:
        def broken(self, timeout, **kwargs):  # type: ignore[no-untyped-def]
            raise RuntimeError("emitter bug")

        monkeypatch.setattr(InotifyEmitter, "queue_events", broken)
        watcher.sync([inbox])
        wait_for(lambda: not watcher.alive, 10, "the emitter's death to show")
        monkeypatch.undo()
        watcher.ensure_alive()
        assert watcher.alive
        watcher.sync([inbox])
        (inbox / "t.md").write_text("x")
        wait_for(lambda: ("file", "t.md") in seen, 10, "an event after the restart")
    finally:
        watcher.stop()


def test_watch_limit_reached_degrades_to_polling_with_a_warning(tmp_path, monkeypatch, caplog):
    watcher = Watcher(lambda kind, path: None)
    assert watcher.start()
    try:
        def full(*args, **kwargs):  # type: ignore[no-untyped-def]
            raise OSError(errno.ENOSPC, "inotify watch limit reached")

        monkeypatch.setattr(watcher.observer, "schedule", full)
        with caplog.at_level(logging.WARNING):
            watcher.sync([tmp_path])
            watcher.sync([tmp_path])
        assert caplog.text.count("is polled every scan instead") == 1
        assert tmp_path.resolve() in watcher.failed
    finally:
        watcher.stop()


def test_an_event_queue_overflow_makes_the_daemon_scan_every_inbox_at_once(tmp_path, make_daemon):
    """Files whose events the kernel dropped are read at once, not at the next periodic scan."""
    try:
        limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    except OSError:
        pytest.skip("no inotify here")
    if limit > 65536:
        pytest.skip(f"fs.inotify.max_queued_events is {limit}: too many files to overflow it")
    count = limit // 2 + 100  # each file makes at least 4 events: create, modify, close, attrib
    inbox = tmp_path / "projects" / "p" / ".agent-queue" / "inbox"
    inbox.mkdir(parents=True)
    daemon = make_daemon({"dispatcher": {"projects_dir": str(tmp_path / "projects"),
                                         "poll_interval": "1h", "settle_time": "0s"}})
    status = tmp_path / "state" / "status.json"

    def waiting() -> int:
        try:
            return int(json.loads(status.read_text())["waiting_total"])
        except (OSError, ValueError, KeyError):
            return -1

    daemon.start()
    wait_for(lambda: waiting() == 0, 20, "the daemon's first scan")  # the inbox is watched now
    assert daemon.proc is not None
    os.kill(daemon.proc.pid, signal.SIGSTOP)  # its events pile up in the kernel's queue
    try:
        past = int(time.time()) - count
        for i in range(count):
            path = inbox / f"t{i:05d}.md"
            path.write_text(f"---\ntitle: task {i}\n---\nbody\n")
            # One file per second of mtime: ids (arrival second + 6 hex digits) of thousands of
            # files arriving in the same second may collide, which is not what this tests.
            os.utime(path, (past + i, past + i))
    finally:
        os.kill(daemon.proc.pid, signal.SIGCONT)
    try:  # the periodic scan is an hour away: only a scan after the overflow finds them all
        wait_for(lambda: waiting() == count, 15 + count / 1000, f"all {count} files known")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; {waiting()} known; log: {daemon.log()[-1500:]}") from None
    log = daemon.log()
    assert "Inotify queue overflowed" in log  # watchdog's own warning: it did overflow
    assert "event queue overflowed: events were lost; scanning every inbox now" in log


def test_watchdogs_overflow_warning_becomes_an_overflow_notification(tmp_path):
    seen: list[str] = []
    watcher = Watcher(lambda kind, path: seen.append(kind))
    assert watcher.start()
    inotify_log = logging.getLogger("watchdog.observers.inotify_c")
    try:
        inotify_log.warning("Inotify queue overflowed; filesystem events were lost")
        inotify_log.warning("something else about %s", "/tmp/overflow")  # arguments never match
        assert seen == ["overflow"]
    finally:
        watcher.stop()
    inotify_log.warning("Inotify queue overflowed; filesystem events were lost")
    assert seen == ["overflow"]  # a stopped watcher no longer listens

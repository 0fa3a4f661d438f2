"""The watcher: a dead observer is restarted, a watch that cannot be added degrades to polling."""

from __future__ import annotations

import errno
import logging

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

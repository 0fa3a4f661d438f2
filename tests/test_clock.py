"""Reset times as agents name them (dispatchd.clock)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dispatchd.clock import next_time

NOW = datetime(2026, 11, 24, 15, 0, tzinfo=UTC).timestamp()


def at(*args: int) -> float:
    return datetime(*args, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("phrase", "expected"), [
    ("5pm (UTC)", at(2026, 11, 24, 17, 0)),
    ("5:30 pm (UTC).", at(2026, 11, 24, 17, 30)),
    ("2pm (UTC)", at(2026, 11, 25, 14, 0)),  # already past today: tomorrow
    ("17:05 (UTC)", at(2026, 11, 24, 17, 5)),
    ("12am (UTC)", at(2026, 11, 25, 0, 0)),
    ("12pm (UTC)", at(2026, 11, 25, 12, 0)),
    ("5pm (Europe/Berlin)", at(2026, 11, 24, 16, 0)),
    ("Oct 6, 1pm (UTC)", at(2027, 10, 6, 13, 0)),  # a date already past: next year
    ("Dec 1 at 9am (UTC)", at(2026, 12, 1, 9, 0)),
    ("whenever|1764000000", 1764000000.0),
])
def test_next_time_reads_reset_phrases(phrase, expected):
    assert next_time(phrase, NOW) == expected


@pytest.mark.parametrize("phrase", ["soon", "5", "25:00", "13pm", "Feb 30, 1pm", ""])
def test_next_time_refuses_what_it_cannot_read(phrase):
    assert next_time(phrase, NOW) is None


def test_unknown_zone_means_local_time():
    local = next_time("5pm (Mars/Olympus)", NOW)
    assert local == next_time("5pm", NOW)

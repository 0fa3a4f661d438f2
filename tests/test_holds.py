"""Account holds as state alone (no daemon): back-off, the single probe, the storm guard."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dispatchd.clock import next_time
from dispatchd.holds import AccountHolds, Hold, describe
from dispatchd.plugins.claude import ClaudeCode
from dispatchd.plugins.claude_setback import classify, worked_in_transcript
from dispatchd.setback import LIMIT, OUTAGE, Setback

SCREENS = Path(__file__).parent / "screens"
RATE = Setback(LIMIT, "rate limit", worked=False)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _holds(clock: Clock, **kw: float) -> AccountHolds:
    return AccountHolds(backoff=30, backoff_max=300, clock=clock, jitter=lambda: 0.5, **kw)


def test_a_setback_holds_the_account_for_the_first_backoff_then_admits_one_probe():
    clock = Clock()
    holds = _holds(clock)
    assert holds.admits("claude")
    holds.hit("claude", RATE, "auto-1", "t1")
    holds.hit("claude", RATE, "auto-2", "t2")  # the same limit on another session joins it
    assert not holds.admits("claude") and not holds.admits("claude")
    assert holds.admits("codex")  # another account is not held
    assert holds.holds["claude"].sessions == {"auto-1", "auto-2"}
    assert holds.next_change() == pytest.approx(clock.now + 30)
    clock.now += 30
    assert holds.admits("claude")
    holds.claimed("claude", "t3")
    assert not holds.admits("claude")  # one probe at a time
    assert holds.got_through("claude", "t3")
    assert "claude" not in holds.holds and holds.admits("claude")


def test_a_probe_meeting_the_setback_again_doubles_the_backoff_up_to_the_maximum():
    clock = Clock()
    holds = _holds(clock)
    holds.hit("claude", RATE, "auto-1", "t1")
    waits = []
    for _ in range(6):
        clock.now = holds.holds["claude"].until
        holds.claimed("claude", "probe")
        start = clock.now
        holds.hit("claude", RATE, "auto-1", "probe")
        waits.append(holds.holds["claude"].until - start)
    assert waits == [60, 120, 240, 300, 300, 300]


def test_jitter_spreads_a_backoff_by_a_fifth_either_way():
    clock = Clock()
    for jitter, expected in ((0.0, 24.0), (1.0, 36.0)):
        holds = AccountHolds(backoff=30, clock=clock, jitter=lambda j=jitter: j)
        holds.hit("claude", RATE, "auto-1", "t1")
        assert holds.holds["claude"].until - clock.now == pytest.approx(expected)


def test_a_named_reset_time_is_the_hold_and_a_later_one_extends_it():
    clock = Clock()
    holds = _holds(clock)
    holds.hit("claude", Setback(LIMIT, "usage limit", until=clock.now + 3600), "auto-1", "t1")
    assert holds.holds["claude"].until == clock.now + 3600
    holds.hit("claude", Setback(LIMIT, "usage limit", until=clock.now + 7200), "auto-2", "t2")
    assert holds.holds["claude"].until == clock.now + 7200


def test_a_probe_that_goes_back_untried_or_fails_on_its_own_lets_another_go():
    clock = Clock()
    holds = _holds(clock)
    holds.hit("claude", RATE, "auto-1", "t1")
    clock.now += 31
    holds.claimed("claude", "t2")
    holds.returned("t2")
    assert holds.admits("claude")
    holds.claimed("claude", "t3")
    assert not holds.got_through("claude", "other")  # only the probe opens the account
    assert not holds.admits("claude")


def test_the_storm_guard_pauses_after_n_failures_within_the_window_until_resumed():
    clock = Clock()
    holds = _holds(clock, storm_failures=3, storm_window=60)
    assert holds.task_failed("claude") is None
    clock.now += 61  # the first one is outside the window now
    assert holds.task_failed("claude") is None
    assert holds.task_failed("claude") is None
    warning = holds.task_failed("claude")
    assert warning and warning.startswith("paused: 3 tasks failed within 1m")
    clock.now += 10_000
    assert not holds.admits("claude")  # time does not lift it
    holds.hit("claude", RATE, "auto-1", "t9")  # nor does a setback replace it
    assert holds.holds["claude"].kind == "storm"
    assert holds.resume("claude") == ["claude"] and holds.admits("claude")


def test_the_storm_guard_can_be_turned_off():
    holds = _holds(Clock(), storm_failures=0)
    assert all(holds.task_failed("claude") is None for _ in range(100))


def test_holds_survive_a_restart_without_their_probe():
    clock = Clock()
    holds = _holds(clock)
    holds.hit("claude", RATE, "auto-1", "t1")
    holds.claimed("claude", "t2")
    again = _holds(clock)
    again.load(holds.to_json())
    assert again.holds["claude"].probe is None and again.holds["claude"].sessions == {"auto-1"}
    again.load({"broken": {"kind": "limit"}, "x": "y"})  # what cannot be read is skipped
    assert set(again.holds) == {"claude"}


def test_status_words():
    now = 1_000_000.0
    outage = Hold(OUTAGE, "API overloaded", until=now + 120, sessions={"a", "b"})
    assert describe("claude", outage, now) == "held: API overloaded, retry in 2m (2 sessions)"
    limit = Hold(LIMIT, "usage limit", until=now + 60, sessions={"a"}, named=True)
    assert describe("claude", limit, now).startswith("held: usage limit until ")
    assert describe("claude", limit, now).endswith("(1 session)")
    assert "goes first" in describe("claude", limit, now + 61)
    backoff = Hold(LIMIT, "rate limit", until=now + 30)
    assert describe("claude", backoff, now) == "held: rate limit, retry in 30s"


@pytest.mark.parametrize(("error", "text", "expected"), [
    ("rate_limit", "", (LIMIT, "rate limit")),
    ("billing_error", "", (LIMIT, "usage limit")),
    ("overloaded", "", (OUTAGE, "API overloaded")),
    ("server_error", "", (OUTAGE, "API server error")),
    ("unknown", "API Error: Unable to connect to API (ECONNREFUSED)", (OUTAGE,
                                                                   "no connection to the API")),
    ("unknown", "something else", None),
    ("invalid_request", "API Error: 400 rate limit", None),  # the task's own, whatever it says
    ("max_output_tokens", "", None),
])
def test_claude_failure_reports(error, text, expected):
    assert classify(error, text) == expected


@pytest.mark.parametrize(("screen", "expected"), [
    # recorded with Claude Code 2.1.330 and a model server refusing every turn
    ("claude-rate-limit", Setback(LIMIT, "rate limit", worked=False)),
    ("claude-rate-limit-after-tool", Setback(LIMIT, "rate limit", worked=True)),
    ("claude-server-error", Setback(OUTAGE, "API overloaded", worked=False)),
    ("claude-idle", None),
    ("claude-busy", None),
])
def test_claude_setbacks_on_recorded_screens(screen, expected):
    assert ClaudeCode().setback((SCREENS / f"{screen}.txt").read_text(), None) == expected


def test_claude_subscription_limit_screen_names_its_reset():
    # Composed: the rate-limit screen with the subscription message in Claude Code 2.1.330's
    # words ("You've hit your session limit · resets <time>"; no subscription can be used here).
    setback = ClaudeCode().setback((SCREENS / "claude-usage-limit.txt").read_text(), None)
    assert setback is not None and setback.kind == LIMIT and setback.worked is False
    assert setback.until == next_time("5pm (UTC)")


def test_claude_transcript_tells_a_refused_turn_from_one_with_work(tmp_path):
    def transcript(*entries: dict) -> dict:
        path = tmp_path / "t.jsonl"
        path.write_text("".join(json.dumps(e) + "\n" for e in entries))
        return {"error": "rate_limit", "transcript_path": str(path), "prompt_id": "p2"}

    old = {"type": "user", "promptId": "p1", "message": {"content": "earlier"}}
    old_reply = {"type": "assistant", "message": {"content": [{"type": "text", "text": "ok"}]}}
    mine = {"type": "user", "promptId": "p2", "message": {"content": "the task"}}
    error = {"type": "assistant", "isApiErrorMessage": True, "error": "rate_limit",
             "message": {"content": [{"type": "text", "text": "API Error: 429"}]}}
    tool = {"type": "user", "promptId": "p2",
            "message": {"content": [{"type": "tool_result", "content": "hi"}]}}
    assert worked_in_transcript(transcript(old, old_reply, mine, error)) is False
    assert worked_in_transcript(transcript(old, mine, old_reply, error)) is True
    assert worked_in_transcript(transcript(old, mine, tool, error)) is True
    assert worked_in_transcript(transcript(old, old_reply, error)) is None  # not its turn
    assert worked_in_transcript({"transcript_path": str(tmp_path / "gone")}) is None


def test_codex_usage_limit_screen_is_a_setback_before_any_work():
    from dispatchd.plugins.codex import Codex

    screen = (SCREENS / "codex-usage-limit.txt").read_text()  # Codex 0.169.0, a 429 from the API
    setback = Codex().setback(screen, None)
    assert setback is not None and setback.kind == LIMIT and setback.worked is False
    assert setback.until == next_time("4:13 AM")
    worked = screen.replace("› Hello task one.\n", "› Hello task one.\n• Ran echo hi\n")
    assert Codex().setback(worked, None).worked is True  # type: ignore[union-attr]


def test_claude_input_box_after_a_refused_turn_is_empty():
    """Its placeholder is no text a person typed: the next task may take the session over."""
    for screen in ("claude-rate-limit", "claude-server-error", "claude-rate-limit-after-tool"):
        assert ClaudeCode().input_pending((SCREENS / f"{screen}.txt").read_text()) is False

"""Unit tests of the fake model server (tests/fakemodel.py) that real agents run against."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakemodel import FakeModelServer, read_log

TOOLS = [{"name": "Bash", "description": "run", "input_schema": {"type": "object"}}]
TASK = "Task 1: say hello.\nSecond line of the task.\nThird line: done."


@pytest.fixture
def server(tmp_path: Path) -> Iterator[FakeModelServer]:
    with FakeModelServer(log_path=tmp_path / "model.jsonl", delay=0.0) as srv:
        yield srv


def post(server: FakeModelServer, path: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    req = urllib.request.Request(server.url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """Parse an SSE body into (event, data) pairs."""
    events = []
    for chunk in raw.decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in chunk.splitlines() if ": " in line)
        if "event" in fields:
            events.append((fields["event"], json.loads(fields["data"])))
    return events


def user(*blocks: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": b} for b in blocks]}


def test_anthropic_stream_turn_is_answered_and_logged(server: FakeModelServer) -> None:
    body = {"model": "claude-sonnet-5-5", "stream": True, "tools": TOOLS,
            "messages": [user("<system-reminder>\nignore me\n</system-reminder>\n", TASK)]}
    status, headers, raw = post(server, "/v1/messages", body)
    assert status == 200 and headers["Content-Type"] == "text/event-stream"
    events = sse(raw)
    assert [e for e, _ in events] == ["message_start", "content_block_start", "content_block_delta",
                                      "content_block_stop", "message_delta", "message_stop"]
    assert events[2][1]["delta"]["text"] == \
        "FAKE-REPLY: received 3 line(s); first line: Task 1: say hello."
    assert events[4][1]["delta"]["stop_reason"] == "end_turn"
    (rec,) = read_log(server.log_path or "")
    assert rec["kind"] == "turn" and rec["side"] is False
    assert rec["model"] == "claude-sonnet-5-5" and rec["path"] == "/v1/messages"
    assert rec["first_line"] == "Task 1: say hello." and rec["lines"] == 3
    assert server.turns() == [rec]


@pytest.mark.parametrize("closing", ["</pasted_content>", '</pasted_content id="1">'])
def test_sleep_line_sets_the_delay_and_pasted_content_is_unwrapped(server: FakeModelServer,
                                                                   closing: str) -> None:
    text = f'<pasted_content id="1">\nfirst pasted line\nSLEEP=0.3\n{closing}'  # 2.1.330: with id
    t0 = time.monotonic()
    _, _, raw = post(server, "/v1/messages", {"model": "m", "stream": True, "tools": TOOLS,
                                              "messages": [user(text)]})
    assert time.monotonic() - t0 >= 0.3
    assert "received 2 line(s); first line: first pasted line" in raw.decode()
    assert server.records()[0]["delay"] == 0.3


def test_side_request_gets_schema_shaped_json(server: FakeModelServer) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}, "required": ["title"]}
    body = {"model": "claude-sonnet-5-5", "stream": True, "tools": [],
            "output_config": {"format": {"type": "json_schema", "schema": schema}},
            "messages": [user("<session>\nTask 1\n</session>")]}
    _, _, raw = post(server, "/v1/messages", body)
    text = next(d["delta"]["text"] for e, d in sse(raw) if e == "content_block_delta")
    assert json.loads(text) == {"title": "Fake task"}
    assert server.records()[0]["side"] is True and server.turns() == []


def test_non_stream_messages_and_count_tokens(server: FakeModelServer) -> None:
    status, _, raw = post(server, "/v1/messages", {"model": "m", "tools": TOOLS, "messages": [user("hi")]})
    msg = json.loads(raw)
    assert status == 200 and msg["content"][0]["text"].startswith("FAKE-REPLY: received 1 line(s)")
    status, _, raw = post(server, "/v1/messages/count_tokens", {"model": "m", "messages": [user("hi")]})
    assert status == 200 and json.loads(raw)["input_tokens"] > 0


def test_anthropic_bash_tool_call_and_result(server: FakeModelServer) -> None:
    _, _, raw = post(server, "/v1/messages", {"model": "m", "stream": True, "tools": TOOLS,
                                              "messages": [user("run it\nBASH: echo ok")]})
    events = sse(raw)
    start = events[1][1]["content_block"]
    assert start["type"] == "tool_use" and start["name"] == "Bash"
    assert json.loads(events[2][1]["delta"]["partial_json"])["command"] == "echo ok"
    assert events[4][1]["delta"]["stop_reason"] == "tool_use"
    result = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": start["id"],
                                           "content": "ok\n"}]}
    _, _, raw = post(server, "/v1/messages", {"model": "m", "stream": True, "tools": TOOLS,
                                              "messages": [user("run it\nBASH: echo ok"), result]})
    assert "FAKE-REPLY: tool finished; output: ok" in raw.decode()
    assert [r["kind"] for r in server.records()] == ["turn", "tool_result"]


def test_fail_line_returns_an_api_error(server: FakeModelServer) -> None:
    status, headers, raw = post(server, "/v1/messages", {"model": "m", "stream": True, "tools": TOOLS,
                                                         "messages": [user("x\nFAIL=429")]})
    assert status == 429 and json.loads(raw)["error"]["type"] == "rate_limit_error"
    assert headers["anthropic-ratelimit-unified-status"] == "rejected"
    status, _, raw = post(server, "/v1/responses", {"model": "m", "stream": True, "tools": [{"name": "x"}],
                                                    "input": "x\nFAIL=429"})
    assert status == 429 and json.loads(raw)["error"]["type"] == "usage_limit_reached"
    assert [r["fail"] for r in server.records()] == [429, 429]


def codex_input(text: str) -> list[dict[str, Any]]:
    def msg(role: str, t: str) -> dict[str, Any]:
        return {"type": "message", "role": role, "content": [{"type": "input_text", "text": t}]}
    return [msg("developer", "You are Codex."),
            msg("user", "<environment_context>\n  <cwd>/w</cwd>\n</environment_context>"), msg("user", text)]


def test_responses_stream_turn(server: FakeModelServer) -> None:
    body = {"model": "fake-model", "stream": True, "tools": [{"type": "function", "name": "exec_command"}],
            "input": codex_input(TASK)}
    status, _, raw = post(server, "/v1/responses", body)
    events = sse(raw)
    assert status == 200
    assert [e for e, _ in events] == ["response.created", "response.output_item.added",
                                      "response.content_part.added", "response.output_text.delta",
                                      "response.output_text.done", "response.content_part.done",
                                      "response.output_item.done", "response.completed"]
    done = events[-1][1]["response"]
    assert done["status"] == "completed"
    assert done["output"][0]["content"][0]["text"] == \
        "FAKE-REPLY: received 3 line(s); first line: Task 1: say hello."
    (rec,) = server.records()
    assert (rec["api"], rec["kind"], rec["model"], rec["lines"]) == ("responses", "turn", "fake-model", 3)


def test_responses_title_request_and_tool_round_trip(server: FakeModelServer) -> None:
    schema = {"type": "object", "properties": {"title": {"type": "string"}}}
    _, _, raw = post(server, "/v1/responses", {"model": "fake-model", "stream": True, "tools": [],
                                               "text": {"format": {"type": "json_schema", "schema": schema}},
                                               "input": codex_input("Generate a concise title\nTask")})
    out = sse(raw)[-1][1]["response"]["output"][0]["content"][0]["text"]
    assert json.loads(out) == {"title": "Fake task"}
    tools = [{"type": "function", "name": "exec_command"}]
    _, _, raw = post(server, "/v1/responses", {"model": "fake-model", "stream": True, "tools": tools,
                                               "input": codex_input("go\nBASH: echo hi")})
    call = sse(raw)[-1][1]["response"]["output"][0]
    assert call["type"] == "function_call" and call["name"] == "exec_command"
    assert json.loads(call["arguments"]) == {"cmd": "echo hi"}
    follow = [*codex_input("go\nBASH: echo hi"), call,
              {"type": "function_call_output", "call_id": call["call_id"],
               "output": "Chunk ID: 1\nWall time: 0 seconds\nOutput:\nhi\n"}]
    _, _, raw = post(server, "/v1/responses", {"model": "fake-model", "stream": True, "tools": tools,
                                               "input": follow})
    assert "FAKE-REPLY: tool finished; output: hi" in raw.decode()
    assert [r["kind"] for r in server.records()] == ["side", "turn", "tool_result"]


def test_command_line_prints_port_and_logs(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    proc = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fakemodel.py")), "--port", "0",
                             "--log", str(log), "--delay", "0"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/messages", method="POST",
                                     data=json.dumps({"model": "m", "tools": TOOLS,
                                                      "messages": [user("hello")]}).encode())
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["content"][0]["text"].endswith("first line: hello")
        assert read_log(log)[0]["first_line"] == "hello"
    finally:
        proc.terminate()
        assert proc.wait(timeout=5) == 0

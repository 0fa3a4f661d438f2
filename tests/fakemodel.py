"""A fake model server so the real Claude Code and Codex CLIs can run end to end, offline.

Stdlib only. It speaks just enough of two wire protocols:

* the Anthropic Messages API (``POST /v1/messages``, streaming SSE or plain JSON, and
  ``POST /v1/messages/count_tokens``) for Claude Code, pointed here with
  ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` and ``ANTHROPIC_AUTH_TOKEN=<anything>``;
* the OpenAI Responses API (``POST /v1/responses``, SSE) for Codex CLI, through a custom
  ``model_provider`` whose ``base_url`` is ``http://127.0.0.1:PORT/v1`` (``wire_api = "responses"``).

Behaviour. A request is classified as one of

* ``turn``: a real user turn (the request offers tools and its last user message is text). It is
  answered ``FAKE-REPLY: received N line(s); first line: <first line>`` after a delay: the value of a
  line ``SLEEP=<seconds>`` in the message, else the server default (``--delay``, 0.5 s). A line
  ``BASH: <command>`` makes the answer a shell tool call instead (``Bash`` for Claude Code, the
  ``exec_command``/``shell`` function for Codex); the agent runs it and sends a ``tool_result``.
  A line ``FAIL=<status>`` makes the turn fail with that HTTP status, marked not-retryable. 429 looks
  like a plan's usage limit: Codex shows "You've hit your usage limit ... try again at <time>", Claude
  Code (API-key billing) shows "API Error: Request rejected (429)" and runs its StopFailure hook with
  ``"error": "rate_limit"``. (Claude Code retries a 400 about six times before giving up.)
* ``tool_result``: the follow-up request carrying a tool's output; answered at once with
  ``FAKE-REPLY: tool finished; output: <first line of output>``.
* ``side``: anything else (Claude Code's session-title request, Codex's title request, ...): no tools
  offered. Answered at once with ``Fake task``, or with JSON shaped by the JSON schema the request asks
  for (both agents' title requests do: the answer is ``{"title": "Fake task"}``).

What counts as the user's text: the last user message, without ``<system-reminder>`` blocks (Claude
Code), without Codex's ``<environment_context>``/instructions messages, and with a
``<pasted_content>`` wrapper removed.

Every request (including unknown paths, e.g. Claude Code's ``HEAD /api/hello``) appends one JSON line
to the log file: ``time``, ``path``, ``api`` (anthropic/responses/other), ``model``, ``kind``,
``side`` (kind != "turn"), ``first_line`` (≤ 200 chars) and ``lines`` of the user's text, ``delay``,
``tool``, ``fail`` (if any) and ``stream``. Tests use it to check that each task reached the model
exactly once, with the expected model name (``--model sonnet`` arrives as ``claude-sonnet-5-5``,
``--model opus`` as ``claude-opus-5-5`` in Claude Code 2.1.330).

Command line::

    python tests/fakemodel.py [--port 0] [--host 127.0.0.1] [--log FILE] [--delay 0.5] [--dump DIR]

prints the bound port alone on the first line of stdout, then serves until SIGTERM/SIGINT.
``--dump DIR`` also writes every request body to ``DIR/NNNN-<path>.json`` (for debugging).

In-process (pytest fixtures)::

    with FakeModelServer(log_path=tmp_path / "model.jsonl") as server:
        env = {"ANTHROPIC_BASE_URL": server.url, ...}
        ...
        server.records()  # the log as a list of dicts
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import os
import re
import signal
import sys
import threading
import time
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

SLEEP_RE = re.compile(r"^\s*SLEEP=([0-9]*\.?[0-9]+)\s*$", re.MULTILINE)
BASH_RE = re.compile(r"^\s*BASH:\s*(.+?)\s*$", re.MULTILINE)
FAIL_RE = re.compile(r"^\s*FAIL=(\d{3})\s*$", re.MULTILINE)
# Wrappers the agents put around what the user typed; stripped before counting lines.
REMINDER_RE = re.compile(r"<system-reminder>.*?</system-reminder>", re.DOTALL)
# Claude Code 2.1.330 repeats the id in the closing tag: </pasted_content id="f17f">.
PASTED_RE = re.compile(r"<pasted_content[^>]*>\n?(.*?)\n?</pasted_content[^>]*>", re.DOTALL)
# Codex sends its context as user messages too; these are not what the user typed.
CODEX_CONTEXT_PREFIXES = ("<environment_context>", "<user_instructions>", "# AGENTS.md instructions",
                          "<permissions instructions>", "<user_shell_command>")
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
               404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error", 500: "api_error",
               529: "overloaded_error"}
MAX_DELAY = 3600.0
PING_EVERY = 2.0  # seconds between SSE keep-alive pings while a turn "thinks"

Json = dict[str, Any]


def _texts(content: Any) -> list[str]:
    """The text parts of a message ``content`` (a string or a list of typed blocks), in order."""
    if isinstance(content, str):
        return [content]
    out: list[str] = []
    if isinstance(content, list):
        for block in content:
            if isinstance(block, dict) and isinstance(block.get("text"), str):
                out.append(block["text"])
    return out


def clean_user_text(parts: list[str]) -> str:
    """What the user typed: drop system reminders and agent context, unwrap pasted content."""
    kept: list[str] = []
    for part in parts:
        text = REMINDER_RE.sub("", part)
        text = PASTED_RE.sub(lambda m: m.group(1), text).strip("\n")
        if not text.strip() or text.lstrip().startswith(CODEX_CONTEXT_PREFIXES):
            continue
        kept.append(text)
    return "\n".join(kept)


def _first_line(text: str) -> str:
    return next((line for line in text.splitlines() if line.strip()), "")


def _tool_output_text(content: Any) -> str:
    """The text of a tool result: a string, a list of text blocks, or ``{"content": ...}``."""
    if isinstance(content, dict):
        content = content.get("content", "")
    return content if isinstance(content, str) else "\n".join(_texts(content))


def fill_schema(schema: Any) -> Any:
    """A small value that satisfies a JSON schema (for side requests that want structured output)."""
    if not isinstance(schema, dict):
        return "Fake task"
    if schema.get("enum"):
        return schema["enum"][0]
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if kind == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        return {name: fill_schema(sub) for name, sub in props.items()}
    defaults: dict[str, Any] = {"array": [], "boolean": False, "integer": 0, "number": 0, "null": None}
    return defaults.get(str(kind), "Fake task")


class Exchange:
    """What the server makes of one model request: its kind, the user's text, and the answer."""

    def __init__(self, kind: str, text: str, default_delay: float, schema: Any = None) -> None:
        self.kind = kind
        self.text = text
        self.schema = schema  # the JSON schema a side request wants its answer to follow, if any
        self.bash: str | None = None
        self.fail: int | None = None
        self.delay = 0.0
        if kind == "turn":
            m = SLEEP_RE.search(text)
            self.delay = min(float(m.group(1)), MAX_DELAY) if m else default_delay
            b = BASH_RE.search(text)
            self.bash = b.group(1) if b else None
            f = FAIL_RE.search(text)
            self.fail = int(f.group(1)) if f else None

    @property
    def first_line(self) -> str:
        return _first_line(self.text)

    @property
    def n_lines(self) -> int:
        return len(self.text.splitlines())

    def reply(self) -> str:
        """The assistant text for this exchange (unused when it is a tool call)."""
        if self.kind == "turn":
            return f"FAKE-REPLY: received {self.n_lines} line(s); first line: {self.first_line}"
        if self.kind == "tool_result":
            return f"FAKE-REPLY: tool finished; output: {self.first_line}"
        if self.schema is not None:
            return json.dumps(fill_schema(self.schema))
        return "Fake task"


def classify_anthropic(body: Json, default_delay: float) -> Exchange:
    """Sort a Messages API request into turn / tool_result / side."""
    messages = body.get("messages") or []
    last: Json = next((m for m in reversed(messages) if m.get("role") == "user"), {})
    content = last.get("content")
    if isinstance(content, list):
        results = [b for b in content if isinstance(b, dict) and b.get("type") == "tool_result"]
        if results:
            return Exchange("tool_result", _tool_output_text(results[-1].get("content")), default_delay)
    text = clean_user_text(_texts(content))
    kind = "turn" if body.get("tools") else "side"
    fmt = (body.get("output_config") or {}).get("format") or body.get("output_format") or {}
    return Exchange(kind, text, default_delay, fmt.get("schema") if isinstance(fmt, dict) else None)


def classify_responses(body: Json, default_delay: float) -> Exchange:
    """Sort a Responses API request (Codex) into turn / tool_result / side."""
    items = body.get("input")
    if isinstance(items, str):
        items = [{"type": "message", "role": "user", "content": items}]
    items = [i for i in items or [] if isinstance(i, dict)]
    # A tool output after the last user message means this request continues a tool call.
    for item in reversed(items):
        if item.get("type") in ("function_call_output", "custom_tool_call_output"):
            out = _tool_output_text(item.get("output"))
            # exec_command output starts with a header (Chunk ID, Wall time, ...) then "Output:".
            head, sep, rest = out.partition("\nOutput:\n")
            return Exchange("tool_result", rest if sep else head, default_delay)
        if item.get("type", "message") == "message" and item.get("role") == "user":
            break
    user_texts = [clean_user_text(_texts(i.get("content"))) for i in items
                  if i.get("type", "message") == "message" and i.get("role") == "user"]
    text = next((t for t in reversed(user_texts) if t), "")
    kind = "turn" if body.get("tools") else "side"
    fmt = (body.get("text") or {}).get("format") or {}
    schema = fmt.get("schema") if isinstance(fmt, dict) and fmt.get("type") == "json_schema" else None
    return Exchange(kind, text, default_delay, schema)


def _sse(event: str, data: Json) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n".encode()


def _new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:24]}"


def _tokens(obj: Any) -> int:
    """A rough token count (4 characters per token) of a JSON-able value."""
    return max(1, len(json.dumps(obj)) // 4)


class Handler(BaseHTTPRequestHandler):
    """One HTTP request. The owning :class:`FakeModelServer` is ``self.server.owner``."""

    protocol_version = "HTTP/1.1"
    server: _Server

    # -- plumbing -----------------------------------------------------------------------------
    def log_message(self, format: str, *args: Any) -> None:
        """Silence the default stderr access log (the JSONL log replaces it)."""

    def _read_body(self) -> Json:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        if not raw:
            return {}
        try:
            body = json.loads(raw)
        except ValueError:
            return {"_unparsed": raw[:200].decode("utf-8", "replace")}
        return body if isinstance(body, dict) else {"_value": body}

    def _send_json(self, status: int, obj: Json) -> None:
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", _new_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def _send_error(self, status: int, anthropic: bool, outage: Outage | None = None) -> None:
        """An API error: for ``FAIL=<status>`` marked not-retryable so the agent gives up at once;
        during an ``outage``, retryable after the seconds it has left."""
        etype = ERROR_TYPES.get(status, "api_error")
        message = f"fake error {status} requested by FAIL={status}"
        reset = int(time.time()) // 3600 * 3600 + 7200
        if outage is not None:
            message = f"fake outage: {status} for {outage.seconds:g}s"
            reset = int(time.time() + outage.left()) + 1
        obj: Json = {"type": "error", "error": {"type": etype, "message": message}}
        if not anthropic:
            obj = {"error": {"type": etype, "code": etype, "message": message}}
            if status == 429:  # how OpenAI reports a ChatGPT plan's usage limit
                obj["error"].update(type="usage_limit_reached", code="usage_limit_reached", plan_type="plus",
                                    resets_at=reset, resets_in_seconds=reset - int(time.time()))
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if outage is None:
            self.send_header("x-should-retry", "false")
        else:
            self.send_header("x-should-retry", "true")
            if outage.retry_after:
                self.send_header("retry-after", str(max(1, round(outage.left()))))
        if status == 429 and anthropic:  # what Anthropic sends when a subscription's usage limit is reached
            self.send_header("anthropic-ratelimit-unified-status", "rejected")
            self.send_header("anthropic-ratelimit-unified-reset", str(reset))
            self.send_header("anthropic-ratelimit-unified-representative-claim", "five_hour")
            self.send_header("anthropic-ratelimit-unified-5h-status", "rejected")
            self.send_header("anthropic-ratelimit-unified-5h-reset", str(reset))
        self.end_headers()
        self.wfile.write(data)

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.send_header("request-id", _new_id("req"))
        self.end_headers()
        self.close_connection = True

    def _emit(self, chunk: bytes) -> None:
        self.wfile.write(chunk)
        self.wfile.flush()

    def _path(self) -> str:
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    # -- routing --------------------------------------------------------------------------------
    def do_GET(self) -> None:
        path = self._path()
        self.server.owner.record(path=path, api="other", method="GET")
        if path.endswith("/models"):
            models = [{"id": m, "object": "model", "type": "model", "display_name": m, "created": 0,
                       "owned_by": "fake"} for m in ("fake-model", "claude-sonnet-4-5", "claude-opus-4-1")]
            self._send_json(200, {"object": "list", "data": models, "has_more": False})
        elif path == "/":
            self._send_json(200, {"ok": True})
        else:
            self._send_json(404, {"type": "error", "error": {"type": "not_found_error", "message": path}})

    def do_HEAD(self) -> None:
        self.server.owner.record(path=self._path(), api="other", method="HEAD")
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        path = self._path()
        body = self._read_body()
        self.server.owner.dump(path, body)
        try:
            if path.endswith("/v1/messages/count_tokens"):
                self.server.owner.record(path=path, api="anthropic", model=body.get("model"), kind="count")
                self._send_json(200, {"input_tokens": _tokens(body)})
            elif path.endswith("/v1/messages"):
                self._anthropic(path, body)
            elif path.endswith("/responses"):
                self._responses(path, body)
            else:
                self.server.owner.record(path=path, api="other", model=body.get("model"), method="POST")
                self._send_json(404, {"error": {"type": "not_found_error", "message": f"no route {path}"}})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the agent hung up (e.g. the user pressed Esc)

    # -- Anthropic Messages API -------------------------------------------------------------
    def _anthropic(self, path: str, body: Json) -> None:
        owner = self.server.owner
        ex = classify_anthropic(body, owner.delay)
        model = str(body.get("model", ""))
        stream = bool(body.get("stream"))
        outage = owner.rejecting(ex)
        owner.record(path=path, api="anthropic", model=model, exchange=ex, stream=stream,
                     **({"rejected": outage.status} if outage else {}))
        if outage is not None:
            self._send_error(outage.status, anthropic=True, outage=outage)
            return
        if ex.fail is not None:
            owner.wait(ex.delay)
            self._send_error(ex.fail, anthropic=True)
            return
        msg_id = _new_id("msg")
        usage_in = _tokens(body.get("messages", []))
        if ex.bash is not None:
            block: Json = {"type": "tool_use", "id": _new_id("toolu"), "name": "Bash",
                           "input": {"command": ex.bash, "description": "Running requested command"}}
            stop_reason = "tool_use"
        else:
            block = {"type": "text", "text": ex.reply()}
            stop_reason = "end_turn"
        if not stream:
            owner.wait(ex.delay)
            self._send_json(200, {"id": msg_id, "type": "message", "role": "assistant", "model": model,
                                  "content": [block], "stop_reason": stop_reason, "stop_sequence": None,
                                  "usage": {"input_tokens": usage_in, "output_tokens": _tokens(block)}})
            return
        self._start_sse()
        self._emit(_sse("message_start", {"type": "message_start", "message": {
            "id": msg_id, "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": None, "stop_sequence": None,
            "usage": {"input_tokens": usage_in, "output_tokens": 1}}}))
        for _ in owner.ticks(ex.delay, PING_EVERY):
            self._emit(_sse("ping", {"type": "ping"}))
        if block["type"] == "tool_use":
            start: Json = {**block, "input": {}}
            delta: Json = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            start = {"type": "text", "text": ""}
            delta = {"type": "text_delta", "text": block["text"]}
        self._emit(_sse("content_block_start", {"type": "content_block_start", "index": 0,
                                                "content_block": start}))
        self._emit(_sse("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
        self._emit(_sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        self._emit(_sse("message_delta", {"type": "message_delta",
                                          "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                                          "usage": {"output_tokens": _tokens(block)}}))
        self._emit(_sse("message_stop", {"type": "message_stop"}))

    # -- OpenAI Responses API -----------------------------------------------------------------
    def _responses(self, path: str, body: Json) -> None:
        owner = self.server.owner
        ex = classify_responses(body, owner.delay)
        model = str(body.get("model", ""))
        outage = owner.rejecting(ex)
        owner.record(path=path, api="responses", model=model, exchange=ex, stream=bool(body.get("stream")),
                     **({"rejected": outage.status} if outage else {}))
        if outage is not None:
            self._send_error(outage.status, anthropic=False, outage=outage)
            return
        if ex.fail is not None:
            owner.wait(ex.delay)
            self._send_error(ex.fail, anthropic=False)
            return
        resp_id = _new_id("resp")
        item = self._responses_item(body, ex)
        n_in, n_out = _tokens(body.get("input", [])), _tokens(item)
        usage = {"input_tokens": n_in, "input_tokens_details": {"cached_tokens": 0}, "output_tokens": n_out,
                 "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": n_in + n_out}
        response: Json = {"id": resp_id, "object": "response", "created_at": int(time.time()), "model": model,
                          "status": "in_progress", "output": []}
        if not body.get("stream"):
            owner.wait(ex.delay)
            self._send_json(200, {**response, "status": "completed", "output": [item], "usage": usage})
            return
        self._start_sse()
        seq = itertools.count()
        self._emit(_sse("response.created", {"type": "response.created", "sequence_number": next(seq),
                                             "response": response}))
        for _ in owner.ticks(ex.delay, PING_EVERY):
            self._emit(_sse("response.in_progress", {"type": "response.in_progress",
                                                     "sequence_number": next(seq), "response": response}))
        pending = {**item, "status": "in_progress"}
        if item["type"] == "message":
            pending["content"] = []
        self._emit(_sse("response.output_item.added", {"type": "response.output_item.added",
                                                       "sequence_number": next(seq), "output_index": 0,
                                                       "item": pending}))
        if item["type"] == "message":
            text = item["content"][0]["text"]
            ids = {"item_id": item["id"], "output_index": 0, "content_index": 0}
            self._emit(_sse("response.content_part.added", {
                "type": "response.content_part.added", "sequence_number": next(seq), **ids,
                "part": {"type": "output_text", "text": "", "annotations": []}}))
            self._emit(_sse("response.output_text.delta", {
                "type": "response.output_text.delta", "sequence_number": next(seq), **ids, "delta": text}))
            self._emit(_sse("response.output_text.done", {
                "type": "response.output_text.done", "sequence_number": next(seq), **ids, "text": text}))
            self._emit(_sse("response.content_part.done", {
                "type": "response.content_part.done", "sequence_number": next(seq), **ids,
                "part": item["content"][0]}))
        self._emit(_sse("response.output_item.done", {"type": "response.output_item.done",
                                                      "sequence_number": next(seq), "output_index": 0,
                                                      "item": item}))
        self._emit(_sse("response.completed", {"type": "response.completed", "sequence_number": next(seq),
                                               "response": {**response, "status": "completed",
                                                            "output": [item], "usage": usage}}))

    @staticmethod
    def _responses_item(body: Json, ex: Exchange) -> Json:
        """The single output item: a shell function call for ``BASH:``, else an assistant message."""
        if ex.bash is not None:
            names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
            call_id = _new_id("call")
            if "exec_command" in names:
                args: Json = {"cmd": ex.bash}
                name = "exec_command"
            else:
                args = {"command": ["bash", "-lc", ex.bash]}
                name = "shell"
            return {"type": "function_call", "id": _new_id("fc"), "call_id": call_id, "name": name,
                    "arguments": json.dumps(args), "status": "completed"}
        return {"type": "message", "id": _new_id("msg"), "role": "assistant", "status": "completed",
                "content": [{"type": "output_text", "text": ex.reply(), "annotations": []}]}


class Outage:
    """A time when the API refuses every turn: a rate limit (429), an overload (529), a server
    error (500). Like the real API, each answer says when to try again (``retry-after``, the
    seconds left) and that a retry may help; a client that retries inside the window is refused
    again. ``rejected`` counts the refused requests."""

    def __init__(self, status: int, seconds: float, retry_after: bool = True,
                 start_on: str = "turn") -> None:
        self.status, self.seconds, self.retry_after = status, seconds, retry_after
        self.start_on = start_on
        self.start: float | None = None
        self.rejected = 0

    def left(self) -> float:
        return 0.0 if self.start is None else self.start + self.seconds - time.monotonic()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: FakeModelServer


class FakeModelServer:
    """The fake model server; start it in a background thread (or use it as a context manager)."""

    def __init__(self, port: int = 0, log_path: str | os.PathLike[str] | None = None, delay: float = 0.5,
                 host: str = "127.0.0.1", dump_dir: str | os.PathLike[str] | None = None) -> None:
        self.delay = delay
        self.log_path = Path(log_path) if log_path is not None else None
        self.dump_dir = Path(dump_dir) if dump_dir is not None else None
        self._records: list[Json] = []
        self._lock = threading.Lock()
        self._counter = itertools.count(1)
        self._stopping = threading.Event()
        self._httpd = _Server((host, port), Handler)
        self._httpd.owner = self
        self._thread: threading.Thread | None = None
        self._outage: Outage | None = None

    def outage(self, status: int, seconds: float, *, retry_after: bool = True,
               start_on: str = "turn") -> Outage:
        """From the next user turn on (``start_on="tool_result"``: the next tool result), answer
        every turn and tool result with ``status`` for ``seconds`` (see :class:`Outage`);
        returns it, to count what was rejected."""
        self._outage = Outage(status, seconds, retry_after, start_on)
        return self._outage

    def end_outage(self) -> None:
        self._outage = None

    def rejecting(self, ex: Exchange) -> Outage | None:
        """The outage that rejects ``ex`` now, if one does (it starts at the first turn it sees)."""
        outage = self._outage
        if outage is None or ex.kind == "side":
            return None
        with self._lock:
            if outage.start is None:
                if ex.kind != outage.start_on:
                    return None
                outage.start = time.monotonic()
            if outage.left() <= 0:
                return None
            outage.rejected += 1
        return outage

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL without ``/v1`` (for ``ANTHROPIC_BASE_URL``; Codex's ``base_url`` adds ``/v1``)."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> int:
        """Serve in a daemon thread; return the port."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1},
                                        name="fakemodel", daemon=True)
        self._thread.start()
        return self.port

    def serve_forever(self) -> None:
        self._httpd.serve_forever(poll_interval=0.1)

    def stop(self) -> None:
        """Stop serving; turns still sleeping are cut short."""
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeModelServer:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- used by the handler ------------------------------------------------------------------
    def wait(self, seconds: float) -> None:
        self._stopping.wait(seconds)

    def ticks(self, seconds: float, every: float) -> Iterator[None]:
        """Sleep ``seconds`` in slices of ``every``, yielding between slices (to send pings)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0 and not self._stopping.is_set():
            self._stopping.wait(min(every, left))
            if deadline - time.monotonic() > 0:
                yield

    def record(self, path: str, api: str, model: Any = None, exchange: Exchange | None = None,
               **extra: Any) -> None:
        """Append one JSON line to the log (one ``os.write`` on an ``O_APPEND`` fd) and keep it in memory."""
        rec: Json = {"time": round(time.time(), 3), "path": path, "api": api, "model": model}
        if exchange is not None:
            rec.update(kind=exchange.kind, side=exchange.kind != "turn", first_line=exchange.first_line[:200],
                       lines=exchange.n_lines, delay=exchange.delay, tool=exchange.bash is not None)
            if exchange.fail is not None:
                rec["fail"] = exchange.fail
        rec.update(extra)
        line = (json.dumps(rec) + "\n").encode()
        with self._lock:
            self._records.append(rec)
            if self.log_path is not None:
                fd = os.open(self.log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
                try:
                    os.write(fd, line)
                finally:
                    os.close(fd)

    def dump(self, path: str, body: Json) -> None:
        if self.dump_dir is None:
            return
        self.dump_dir.mkdir(parents=True, exist_ok=True)
        name = f"{next(self._counter):04d}-{path.strip('/').replace('/', '_')}.json"
        (self.dump_dir / name).write_text(json.dumps(body, indent=1))

    def records(self) -> list[Json]:
        """The requests seen so far by this process (the same records as the log file)."""
        with self._lock:
            return list(self._records)

    def turns(self) -> list[Json]:
        """Only the real user turns."""
        return [r for r in self.records() if r.get("kind") == "turn"]


def read_log(path: str | os.PathLike[str]) -> list[Json]:
    """Parse a log file written by a server (e.g. one running as a subprocess)."""
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return []
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 = pick a free port (printed on stdout)")
    ap.add_argument("--log", help="append one JSON line per request to this file")
    ap.add_argument("--delay", type=float, default=0.5, help="seconds before a turn is answered")
    ap.add_argument("--dump", help="write each request body into this directory")
    args = ap.parse_args(argv)
    server = FakeModelServer(port=args.port, log_path=args.log, delay=args.delay, host=args.host,
                             dump_dir=args.dump)

    def _stop(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _stop)
    print(server.port, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server._httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

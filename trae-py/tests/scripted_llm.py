"""A scripted OpenAI-compatible server for the language-model tests: a real HTTP server on
127.0.0.1 that answers ``POST /v1/chat/completions`` with the replies queued on it, whole or
as server-sent events (as the request's ``"stream": true`` asks), and records what it was
sent. It imitates ``trae_agents::testing::ScriptedLlm``, which Rust tests use.

::

    with ScriptedLlm() as server:
        server.push(text("Hello"))                 # the next request gets this answer
        store.apis.create(name="local", capability="llm.chat", base_url=server.base_url, ...)
        ...
        server.requests[0]["messages"]             # what trae sent
        server.wait_cut_short(1)                   # a client closed a stream before its end
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Optional, Union


@dataclasses.dataclass
class Answer:
    """An answer: one JSON body, or streamed in pieces of `piece` characters, `delay`
    seconds apart, when the request asks for a stream."""

    content: Optional[str] = None
    #: (id, name, arguments) of each tool call.
    tool_calls: list[tuple[str, str, str]] = dataclasses.field(default_factory=list)
    finish_reason: str = "stop"
    #: (prompt, completion) tokens to report; `None` reports no usage.
    usage: Optional[tuple[int, int]] = (10, 5)
    piece: int = 4
    delay: float = 0.0


@dataclasses.dataclass
class Status:
    """A status with a JSON body, and `Retry-After` seconds when set."""

    status: int
    body: str = "{}"
    retry_after: Optional[int] = None


@dataclasses.dataclass
class RawStream:
    """These bytes as a `text/event-stream` body, each piece sent as it is; with `cut` the
    body promises more than it sends and the connection closes short of it, which a client
    cannot mistake for the end."""

    pieces: list[bytes]
    cut: bool = False


Reply = Union[Answer, Status, RawStream]


def text(content: str, *, usage: Optional[tuple[int, int]] = None, piece: int = 4,
         delay: float = 0.0) -> Answer:
    """A plain text answer finished by `stop`, with usage (10 prompt tokens and one answer
    token per 4 characters unless given)."""
    if usage is None:
        usage = (10, max(1, -(-len(content) // 4)))
    return Answer(content=content, usage=usage, piece=piece, delay=delay)


def tool_call(call_id: str, name: str, arguments: str) -> Answer:
    """An answer that calls one tool."""
    return Answer(tool_calls=[(call_id, name, arguments)], finish_reason="tool_calls",
                  usage=(20, 5))


def status(code: int, body: Any = None, *, retry_after: Optional[int] = None) -> Status:
    """A status answer; `body` is sent as JSON (`{}` when left out)."""
    return Status(code, json.dumps({} if body is None else body), retry_after)


def event(delta: dict[str, Any], finish: Optional[str] = None) -> bytes:
    """One `chat.completion.chunk` server-sent event carrying `delta`."""
    return f"data: {json.dumps(_chunk(delta, finish))}\n\n".encode()


def _chunk(delta: dict[str, Any], finish: Optional[str]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def _events(answer: Answer) -> list[bytes]:
    """The answer streamed as OpenAI does: a role chunk, content and tool-call pieces, the
    finishing chunk, the usage chunk and `[DONE]`."""
    events = [_chunk({"role": "assistant", "content": ""}, None)]
    step = max(1, answer.piece)
    if answer.content is not None:
        for i in range(0, len(answer.content), step):
            events.append(_chunk({"content": answer.content[i : i + step]}, None))
    for index, (call_id, name, arguments) in enumerate(answer.tool_calls):
        events.append(_chunk({"tool_calls": [{
            "index": index, "id": call_id, "type": "function",
            "function": {"name": name, "arguments": ""},
        }]}, None))
        for i in range(0, len(arguments), step):
            events.append(_chunk({"tool_calls": [{
                "index": index, "function": {"arguments": arguments[i : i + step]},
            }]}, None))
    events.append(_chunk({}, answer.finish_reason))
    if answer.usage is not None:
        prompt, completion = answer.usage
        events.append({
            "id": "chatcmpl-scripted", "object": "chat.completion.chunk", "created": 0,
            "model": "scripted", "choices": [],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion},
        })
    return [f"data: {json.dumps(e)}\n\n".encode() for e in events] + [b"data: [DONE]\n\n"]


def _whole(answer: Answer) -> bytes:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": args}}
            for call_id, name, args in answer.tool_calls
        ]
    body: dict[str, Any] = {
        "id": "chatcmpl-scripted", "object": "chat.completion", "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": answer.finish_reason}],
    }
    if answer.usage is not None:
        prompt, completion = answer.usage
        body["usage"] = {"prompt_tokens": prompt, "completion_tokens": completion,
                         "total_tokens": prompt + completion}
    return json.dumps(body).encode()


class ScriptedLlm:
    """The server, serving from a thread until `close()` (or the end of a `with` block)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._replies: deque[Reply] = deque()
        self._requests: list[dict[str, Any]] = []
        self._headers: list[dict[str, str]] = []
        self._cut_short = 0
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: a streamed body ends when the connection closes, and every request
            # has a connection of its own, so a client that stops reading shows as a write
            # that fails.
            protocol_version = "HTTP/1.0"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    request = json.loads(raw)
                except ValueError:
                    request = None
                with scripted._lock:
                    scripted._requests.append(request)
                    scripted._headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = scripted._replies.popleft() if scripted._replies else None
                if self.path != "/v1/chat/completions":
                    self._send(404, b'{"error": {"message": "no such route"}}')
                elif reply is None:
                    self._send(500, b'{"error": {"message": "the script has no reply left"}}')
                elif isinstance(reply, Status):
                    extra = {} if reply.retry_after is None else {
                        "Retry-After": str(reply.retry_after)
                    }
                    self._send(reply.status, reply.body.encode(), extra)
                elif isinstance(reply, RawStream):
                    self._raw(reply)
                elif isinstance(request, dict) and request.get("stream") is True:
                    self._stream(reply)
                else:
                    self._send(200, _whole(reply))

            def _send(self, code: int, body: bytes, extra: Optional[dict[str, str]] = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def _stream(self, answer: Answer) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                try:
                    for event in _events(answer):
                        if answer.delay:
                            time.sleep(answer.delay)
                        self.wfile.write(event)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with scripted._lock:
                        scripted._cut_short += 1

            def _raw(self, raw: RawStream) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                if raw.cut:
                    self.send_header("Content-Length", "1000000")
                self.end_headers()
                for piece in raw.pieces:
                    self.wfile.write(piece)
                    self.wfile.flush()
                    time.sleep(0.005)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{port}/v1"
        """The base URL to register (``http://127.0.0.1:PORT/v1``)."""
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def push(self, *replies: Reply) -> None:
        """Queues replies, answered in order."""
        with self._lock:
            self._replies.extend(replies)

    @property
    def requests(self) -> list[dict[str, Any]]:
        """The request bodies received, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """The request headers received (names in lower case), oldest first (a copy)."""
        with self._lock:
            return list(self._headers)

    @property
    def cut_short(self) -> int:
        """How many streams the client closed before their end."""
        with self._lock:
            return self._cut_short

    def wait_cut_short(self, count: int, timeout: float = 5.0) -> int:
        """Waits until `count` streams were cut short (or `timeout` seconds pass) and returns
        how many were."""
        deadline = time.monotonic() + timeout
        while self.cut_short < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.cut_short

    def close(self) -> None:
        """Stops serving."""
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> ScriptedLlm:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

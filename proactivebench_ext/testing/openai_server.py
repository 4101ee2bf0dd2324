"""A loopback OpenAI-compatible chat server with a fixed latency, for throughput benchmarks and tests.

``LatencyServer(latency)`` answers ``POST /v1/chat/completions`` after ``latency`` seconds with
one option letter of the ProactiveBench prompt it was sent, picked by a hash of the request's
messages: the same request always gets the same answer, whichever runner sends it and in
whatever order, so runs can be compared sample by sample. It stands in for an API model or a
vLLM/SGLang server driven through lmms-eval's unmodified ``openai`` backend, and counts what a
throughput measurement needs: requests, the peak number in flight, and the first arrival and
last reply (the loop time as the server sees it, without process start-up).

Failure modes, for the fault tests: ``status_for(messages)`` answers chosen requests with an HTTP
error (``500`` for some, at every retry; ``400`` for all: a wrong model name), ``answer_for`` can
be replaced (e.g. a lone surrogate, sent as the JSON escape ``"\ud800"``), :meth:`heal` drops the
failures, and :func:`refused_url` is an address where nothing listens. ``seen`` lists the text of
every request received, in order (``seen_keys``: their :func:`message_key`).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ..core.matching import option_letter
from ..lmms.baselines import parse_options


@dataclass(frozen=True)
class ServerStats:
    requests: int
    peak_in_flight: int
    first_arrival: float | None  # time.monotonic() of the first request
    last_reply: float | None  # time.monotonic() of the last reply

    @property
    def loop_seconds(self) -> float:
        """First request to last reply, as the server saw it."""
        if self.first_arrival is None or self.last_reply is None:
            return 0.0
        return self.last_reply - self.first_arrival


def request_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last message (a string, or the text parts of a content list)."""
    content = messages[-1].get("content", "") if messages else ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict) and part.get("type") == "text")


def message_key(messages: list[dict[str, Any]]) -> str:
    """A request's identity: the hash of its messages (text and images)."""
    return hashlib.sha1(json.dumps(messages, sort_keys=True).encode()).hexdigest()


def answer_for(messages: list[dict[str, Any]]) -> str:
    """A deterministic option letter: the hash of the messages picks one of the prompt's options."""
    digest = bytes.fromhex(message_key(messages))
    try:
        count = len(parse_options(request_text(messages)))
    except ValueError:  # not a ProactiveBench multiple-choice prompt
        return "A"
    return option_letter(int.from_bytes(digest[:4], "big") % count)


def refused_url() -> str:
    """A loopback base URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


Messages = list[dict[str, Any]]


class LatencyServer:
    """Serves chat completions from a thread; every reply takes ``latency`` seconds."""

    def __init__(self, latency: float, host: str = "127.0.0.1", *,
                 status_for: Callable[[Messages], int | None] | None = None,
                 answer: Callable[[Messages], str] = answer_for) -> None:
        self.latency = latency
        self.status_for = status_for
        self.answer = answer
        self._lock = threading.Lock()
        self.reset()
        self.server = ThreadingHTTPServer((host, 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def reset(self) -> None:
        with self._lock:
            self._requests = self._in_flight = self._peak = 0
            self._first: float | None = None
            self._last: float | None = None
            self.seen: list[str] = []  # the text of every request received, in order
            self.seen_keys: list[str] = []  # and its message_key
            self.errors = 0  # requests answered with an HTTP error

    def heal(self) -> None:
        """Answer every request from now on."""
        self.status_for = None

    def stats(self) -> ServerStats:
        with self._lock:
            return ServerStats(self._requests, self._peak, self._first, self._last)

    def __enter__(self) -> LatencyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _arrive(self) -> float:
        now = time.monotonic()
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._peak = max(self._peak, self._in_flight)
            if self._first is None:
                self._first = now
        return now

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1
            self._last = time.monotonic()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the openai client expects

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                self._send(200, {"object": "list", "data": [{"id": "latency-server", "object": "model"}]})

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
                arrived = server._arrive()
                try:
                    messages = body.get("messages", [])
                    with server._lock:
                        server.seen.append(request_text(messages))
                        server.seen_keys.append(message_key(messages))
                    status = server.status_for(messages) if server.status_for else None
                    if status is not None:
                        with server._lock:
                            server.errors += 1
                        self._send(status, {"error": {"message": f"loopback server: HTTP {status} for this request",
                                                      "type": "invalid_request_error", "code": status}})
                        return
                    answer = server.answer(messages)
                    time.sleep(max(0.0, server.latency - (time.monotonic() - arrived)))
                    self._send(200, {
                        "id": "chatcmpl-latency", "object": "chat.completion", "created": int(time.time()),
                        "model": body.get("model", "latency-server"),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": answer}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })
                finally:
                    server._leave()

        return Handler

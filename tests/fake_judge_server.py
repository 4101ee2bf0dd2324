"""A scripted OpenAI-compatible judge on 127.0.0.1, for tests of the OEG judge path.

``FakeJudge(script)`` serves ``POST /v1/chat/completions`` and ``GET /v1/models`` from a thread.
``script(messages, attempt)`` gets the request's messages and how many times this exact request
was seen before, and returns a :class:`Reply`: text (``content``), an HTTP error (``status``), a
delay, a dropped connection, or a hang until the server stops. Every request is counted and kept.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    content: str | None = ""
    status: int = 200
    delay: float = 0.0
    drop: bool = False  # close the connection without answering
    hang: bool = False  # never answer (until the server stops)


Script = Callable[[list[dict[str, Any]], int], Reply]


def user_text(messages: list[dict[str, Any]]) -> str:
    return next(m["content"] for m in messages if m["role"] == "user")


class FakeJudge:
    def __init__(self, script: Script, model: str = "Qwen/Qwen3-8B") -> None:
        self.script, self.model = script, model
        self.requests: list[list[dict[str, Any]]] = []
        self.replies: list[tuple[list[dict[str, Any]], Reply]] = []
        self._seen: dict[str, int] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def __enter__(self) -> FakeJudge:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, n: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while self.count < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the fake judge got {self.count} requests, expected {n}")
            time.sleep(0.01)

    def _answer(self, body: dict[str, Any]) -> Reply:
        messages = body["messages"]
        key = json.dumps(messages, sort_keys=True)
        with self._lock:
            attempt = self._seen.get(key, 0)
            self._seen[key] = attempt + 1
            self.requests.append(messages)
        reply = self.script(messages, attempt)
        with self._lock:
            self.replies.append((messages, reply))
        return reply

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        judge = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path.rstrip("/").endswith("/models"):
                    self._send(200, {"object": "list", "data": [{"id": judge.model, "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if not self.path.rstrip("/").endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                reply = judge._answer(body)
                if reply.hang:
                    judge._stop.wait()
                    return
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                try:
                    if reply.status != 200:
                        self._send(reply.status, {"error": {"message": f"scripted {reply.status}"}})
                        return
                    self._send(200, {
                        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": body.get("model", judge.model),
                        "choices": [{"index": 0, "finish_reason": "stop",
                                     "message": {"role": "assistant", "content": reply.content}}],
                        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                    })
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        return Handler

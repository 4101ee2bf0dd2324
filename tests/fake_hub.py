"""A fake Hugging Face hub on a loopback port, for tests of the data download (no network is touched).

``FakeHub(files)`` serves, for the dataset repo of :mod:`proactivebench_ext.data.hub`:

- ``HEAD/GET /datasets/<repo>/resolve/<revision>/<file>`` as the hub does (X-Repo-Commit, ETag,
  Content-Length; GET with Range), so ``hf_hub_download`` works against it;
- ``GET /api/datasets/<repo>/tree/<revision>/<folder>``, the folder listing of ``list_repo_tree``.

``files`` maps repository paths (``test/QuickDraw.zip``) to bytes. Every request is recorded, and
``get_delay`` slows each GET down (so that concurrent clients overlap).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

from proactivebench_ext.data.hub import REPO_ID

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class FakeHub:
    """A loopback HTTP server speaking the hub's file-resolution and tree-listing protocol."""

    def __init__(self, files: dict[str, bytes], *, get_delay: float = 0.0):
        self.files = dict(files)
        self.get_delay = get_delay
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output quiet
                pass

            def _route(self) -> tuple[str, str] | None:
                path = unquote(urlparse(self.path).path)
                for kind, prefix in (("resolve", f"/datasets/{REPO_ID}/resolve/"),
                                     ("tree", f"/api/datasets/{REPO_ID}/tree/")):
                    if path.startswith(prefix):
                        _revision, _, rest = path[len(prefix):].partition("/")
                        return kind, rest
                return None

            def _record(self, method: str, name: str) -> None:
                with fake._lock:
                    fake.requests.append((method, name))

            def _empty(self, status: int, error_code: str | None = None) -> None:
                self.send_response(status)
                if error_code:
                    self.send_header("X-Error-Code", error_code)
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def _file_headers(self, body: bytes) -> None:
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("ETag", f'"{hashlib.sha256(body).hexdigest()}"')

            def do_HEAD(self):
                route = self._route()
                self._record("HEAD", route[1] if route else self.path)
                body = fake.files.get(route[1]) if route and route[0] == "resolve" else None
                if body is None:
                    self._empty(404, "EntryNotFound")
                    return
                self.send_response(200)
                self._file_headers(body)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()

            def do_GET(self):
                route = self._route()
                if route and route[0] == "tree":
                    self._record("LIST", route[1])
                    self._tree(route[1])
                    return
                self._record("GET", route[1] if route else self.path)
                body = fake.files.get(route[1]) if route else None
                if body is None:
                    self._empty(404, "EntryNotFound")
                    return
                if fake.get_delay:
                    time.sleep(fake.get_delay)
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0] or 0)
                self.send_response(206 if start else 200)
                self._file_headers(body)
                if start:
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                self.wfile.write(body[start:])

            def _tree(self, folder: str) -> None:
                prefix = folder.rstrip("/") + "/"
                entries = [{"type": "file", "path": path, "size": len(body), "oid": hashlib.sha1(body).hexdigest()}
                           for path, body in sorted(fake.files.items())
                           if path.startswith(prefix) and "/" not in path[len(prefix):]]
                if not entries:
                    self._empty(404, "EntryNotFound")
                    return
                data = json.dumps(entries).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def gets(self) -> list[str]:
        with self._lock:
            return [name for method, name in self.requests if method == "GET"]

    def lists(self) -> list[str]:
        with self._lock:
            return [name for method, name in self.requests if method == "LIST"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def folder_files(folder: Path, prefix: str = "test") -> dict[str, bytes]:
    """The files directly in ``folder`` as repository paths under ``prefix``."""
    return {f"{prefix}/{path.name}": path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()}


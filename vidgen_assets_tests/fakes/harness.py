"""What every provider fake shares: a threaded HTTP server, JSON helpers, the control endpoints, task
timing, a real MP4 to serve (`media.py`), and a helper that starts a fake in its own process for a test
(`control.py`); all importable from here.

A fake module defines a `FakeHandler` subclass with `routes` (method, path regex, handler method name)
and its provider's vocabulary (`throttled`, `out_of_credits`), and calls `main(Handler)`.

Control endpoints, the same on every fake:
- `POST /_fake/config` JSON, any of {"processing_s", "throttle_next", "retry_after_s", "moderate_substring",
  "stall", "drop_next", "out_of_credits", "hang_s"}: `throttle_next` answers the next n API requests with 429 and
  `Retry-After`; `drop_next` closes the next n API requests' connections without an answer (before the
  request is acted on); `stall` keeps new tasks running forever; `hang_s` holds every API request that long
  before acting on it (a provider call a worker is stuck in).
- `GET /_fake/stats` → {"creates", "creates_by_input", "creates_by_route" (path → creates), "cancels", "polls",
  "throttled", "dropped"}.
- `GET /_fake/creates` → [{"route", "body"}]: the create requests the fake accepted (the last 1000), oldest first.
- `POST /_fake/reset`: the default configuration, zeroed counters and no create log (tasks are kept), between tests.
- `POST /_fake/purge`: forget every task (a purged history, another account): polls then answer 404.
- `GET /_fake/media/<frames>x<fps>[-<width>x<height>].mp4`: a real H.264 MP4 of that many frames (64×64 unless
  sized), encoded once with PyAV.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from vidgen_assets_tests.fakes.control import FakeServer, free_port, running_fake
from vidgen_assets_tests.fakes.media import mp4_bytes

__all__ = ["FakeConfig", "FakeHandler", "FakeServer", "FakeState", "FakeTask", "free_port", "main", "mp4_bytes", "running_fake"]


@dataclass
class FakeConfig:
    processing_s: float = 0.5
    throttle_next: int = 0
    retry_after_s: float = 1.0
    moderate_substring: str = ""
    stall: bool = False
    drop_next: int = 0
    out_of_credits: bool = False
    hang_s: float = 0.0


@dataclass
class FakeTask:
    id: str
    input: dict
    created_at: float
    processing_s: float
    moderated: bool
    cancelled_at: float | None = None

    def state(self, now: float | None = None) -> str:
        """queued (first 10% of the time), running, succeeded, failed (moderated) or cancelled."""
        elapsed = (now or time.time()) - self.created_at
        if self.cancelled_at is not None:
            return "cancelled"
        if elapsed < 0.1 * self.processing_s:
            return "queued"
        if elapsed < self.processing_s:
            return "running"
        return "failed" if self.moderated else "succeeded"


def input_fingerprint(body: Any) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


class FakeState:
    """The fake's configuration, tasks and counters, shared by the server's threads."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.tasks: dict[str, FakeTask] = {}
        self.reset()

    def reset(self) -> None:
        self.config = FakeConfig()
        self.stats: dict[str, Any] = {"creates": 0, "creates_by_input": {}, "creates_by_route": {}, "cancels": 0,
                                      "polls": 0, "throttled": 0, "dropped": 0}  # fmt: skip
        self.created: list[dict] = []  # {"route", "body"} per accepted create

    def take(self, counter: str) -> bool:
        """Consume one of `throttle_next` / `drop_next`, if any are left."""
        with self.lock:
            left = getattr(self.config, counter)
            if left > 0:
                setattr(self.config, counter, left - 1)
            return left > 0

    def create(self, body: dict, text: str, route: str = "") -> FakeTask:
        """A new task for request `body` (sent to path `route`); `text` is what the moderation substring is
        matched against."""
        with self.lock:
            fingerprint = input_fingerprint(body)
            self.stats["creates"] += 1
            self.stats["creates_by_input"][fingerprint] = self.stats["creates_by_input"].get(fingerprint, 0) + 1
            self.stats["creates_by_route"][route] = self.stats["creates_by_route"].get(route, 0) + 1
            self.created.append({"route": route, "body": body})
            del self.created[:-1000]  # the newest thousand: long benchmarks stay bounded
            substring = self.config.moderate_substring
            task = FakeTask(
                id=uuid.uuid4().hex[:20], input=body, created_at=time.time(),
                processing_s=float("inf") if self.config.stall else self.config.processing_s,
                moderated=bool(substring) and substring in text,
            )  # fmt: skip
            self.tasks[task.id] = task
            return task

    def count(self, name: str) -> None:
        with self.lock:
            self.stats[name] += 1


class FakeHandler(BaseHTTPRequestHandler):
    """Routes API requests, after the control endpoints and the throttle/drop switches."""

    state: FakeState
    routes: list[tuple[str, str, str]] = []  # (method, path regex, method name on the handler)
    protocol_version = "HTTP/1.1"
    # Headers and body leave in one segment: otherwise Nagle and delayed ACKs add ~40 ms to every answer.
    disable_nagle_algorithm = True
    wbufsize = 1 << 16

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests read the stats instead
        pass

    # --- provider vocabulary, overridden by each fake ---
    def throttled(self) -> None:
        self.send_json(429, {"detail": "throttled"}, {"Retry-After": self.retry_after()})

    def out_of_credits(self) -> None:
        self.send_json(402, {"detail": "out of credits"})

    # --- helpers ---
    @property
    def base_url(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def retry_after(self) -> str:
        return str(max(1, round(self.state.config.retry_after_s)))

    def media_url(self, frames: int, fps: int, width: int = 64, height: int = 64) -> str:
        size = "" if (width, height) == (64, 64) else f"-{width}x{height}"
        return f"{self.base_url}/_fake/media/{frames}x{fps}{size}.mp4"

    def read_json(self) -> Any:
        return json.loads(self.body or b"{}")

    def send_json(self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        for name, value in {"Content-Type": content_type, **(headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_bytes(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    # --- dispatch ---
    def _dispatch(self, method: str) -> None:
        # Read the whole body first, whatever the answer: a kept-alive connection must not hold leftovers.
        self.body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        path = self.path.split("?", 1)[0]
        if path == "/_fake/config" and method == "POST":
            with self.state.lock:
                for name, value in self.read_json().items():
                    setattr(self.state.config, name, value)
                config = asdict(self.state.config)
            return self.send_json(200, config)
        if path == "/_fake/reset" and method == "POST":
            with self.state.lock:
                self.state.reset()
            return self.send_json(200, {})
        if path == "/_fake/purge" and method == "POST":
            with self.state.lock:
                self.state.tasks.clear()
            return self.send_json(200, {})
        if path == "/_fake/stats":
            with self.state.lock:
                return self.send_json(200, json.loads(json.dumps(self.state.stats)))
        if path == "/_fake/creates":
            with self.state.lock:
                return self.send_json(200, list(self.state.created))
        if media := re.fullmatch(r"/_fake/media/(\d+)x(\d+)(?:-(\d+)x(\d+))?\.mp4", path):
            size = (int(media[3]), int(media[4])) if media[3] else (64, 64)
            return self.send_bytes(mp4_bytes(int(media[1]), int(media[2]), *size), "video/mp4")
        if self.state.take("drop_next"):
            self.state.count("dropped")
            self.close_connection = True
            return  # no answer at all: the client sees the connection close
        if self.state.take("throttle_next"):
            self.state.count("throttled")
            return self.throttled()
        if self.state.config.hang_s:
            time.sleep(self.state.config.hang_s)
        self.route = path  # what a create is counted under (`creates_by_route`)
        for route_method, pattern, name in self.routes:
            if route_method == method and (match := re.fullmatch(pattern, path)):
                return getattr(self, name)(*match.groups())
        self.send_json(404, {"detail": f"no route {method} {path}"})

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")


def main(handler: type[FakeHandler]) -> None:
    """Serve `handler` on 127.0.0.1:--port until terminated."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    port = parser.parse_args().port
    handler.state = FakeState()
    mp4_bytes()  # encode the default clip before answering, so the first download is quick
    ThreadingHTTPServer.request_queue_size = 256  # the default backlog of 5 drops bursts of new connections
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    server.serve_forever()



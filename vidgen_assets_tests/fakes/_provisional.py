"""Stand-in for the shared fake-server harness (providers-core) until it is merged: tasks that finish
after `processing_s`, the /_fake control endpoints, faults, and a real MP4 as every task's output."""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np

from vidgen_assets.lib.video import ClipWriter


class Task:
    def __init__(self, fake: "FakeProvider", prompt: str, **extra):
        config = fake.config
        self.id, self.prompt, self.extra = str(uuid.uuid4()), prompt, extra
        self.created = time.time()
        self.processing_s = config["processing_s"]
        self.stall = config["stall"]
        self.moderated = bool(config["moderate_substring"]) and config["moderate_substring"] in prompt
        self.cancelled = False

    def phase(self) -> str:
        """queued, running, succeeded, failed (moderation) or cancelled, by the time since creation."""
        if self.cancelled:
            return "cancelled"
        age = time.time() - self.created
        if age < self.processing_s / 4:
            return "queued"
        if self.stall or age < self.processing_s:
            return "running"
        return "failed" if self.moderated else "succeeded"


class FakeProvider:
    """Shared state of one fake: config, counters, tasks. Subclasses answer their provider's paths."""

    def __init__(self, frames: int, size: int):
        self.lock = threading.Lock()
        self.config = {"processing_s": 0.5, "throttle_next": 0, "moderate_substring": "", "stall": False,
                       "drop_next": 0, "out_of_credits": False}  # fmt: skip
        self.stats = {"creates": 0, "creates_by_input": {}, "cancels": 0, "polls": 0}
        self.tasks: dict[str, Task] = {}
        self.video = Path(tempfile.mkdtemp()) / "output.mp4"
        with ClipWriter(self.video, fps=8, width=size, height=size) as writer:
            for index in range(frames):
                writer.write(np.full((size, size, 3), (index * 23) % 256, np.uint8))

    def new_task(self, prompt: str, **extra) -> Task:
        with self.lock:
            task = Task(self, prompt, **extra)
            self.tasks[task.id] = task
            self.stats["creates"] += 1
            self.stats["creates_by_input"][prompt] = self.stats["creates_by_input"].get(prompt, 0) + 1
            return task

    def fault(self) -> str | None:
        """"drop" or "throttle" if the next request is to get one (as configured), else None."""
        with self.lock:
            for kind in ("drop_next", "throttle_next"):
                if self.config[kind] > 0:
                    self.config[kind] -= 1
                    return kind.removesuffix("_next")
        return None

    def route(self, request: "Request", throttled: bool):  # -> (status, body, headers)
        raise NotImplementedError


class Request:
    def __init__(self, handler: BaseHTTPRequestHandler, body: bytes):
        url = urlsplit(handler.path)
        self.method, self.path, self.query = handler.command, url.path, parse_qs(url.query)
        self.headers, self.base = handler.headers, f"http://{handler.headers['Host']}"
        self.json = json.loads(body) if body else None


def serve(fake: FakeProvider, port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def _handle(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = Request(self, self.rfile.read(length))
            if request.path == "/_fake/config":
                with fake.lock:
                    fake.config.update(request.json or {})
                return self._answer(200, fake.config, {})
            if request.path == "/_fake/stats":
                with fake.lock:
                    return self._answer(200, fake.stats, {})
            if request.path.startswith("/_fake/output/"):
                return self._answer(200, fake.video.read_bytes(), {"Content-Type": "video/mp4"})
            fault = fake.fault()
            if fault == "drop":
                self.close_connection = True
                return
            self._answer(*fake.route(request, throttled=fault == "throttle"))

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def _answer(self, status: int, body, headers: dict):
            data = body if isinstance(body, bytes) else b"" if body is None else json.dumps(body).encode()
            self.send_response(status)
            if not isinstance(body, bytes) and body is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def main(fake_class) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--frames", type=int, default=9)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    serve(fake_class(args.frames, args.size), args.port)


class RunningFake:
    """A fake in its own process: `url`, `configure(**settings)`, `stats()`, `stop()`."""

    def __init__(self, module: str, frames: int = 9):
        import subprocess
        import sys

        from vidgen_assets_tests.conftest import REPO_ROOT, free_port

        self.url = f"http://127.0.0.1:{free_port()}"
        self.process = subprocess.Popen([sys.executable, "-m", module, "--port", self.url.rsplit(":", 1)[1],
                                         "--frames", str(frames)], cwd=REPO_ROOT)  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.stats()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError(f"{module} exited with {self.process.returncode}")
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{module} did not start")

    def _call(self, path: str, body: dict | None = None) -> dict:
        import urllib.request

        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode() if body is not None else None,
                                         headers={"Content-Type": "application/json"})  # fmt: skip
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(request, timeout=5) as answer:
            return json.loads(answer.read())

    def configure(self, **settings) -> dict:
        return self._call("/_fake/config", settings)

    def stats(self) -> dict:
        return self._call("/_fake/stats")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)

"""Start a fake in its own process for a test, and drive its control endpoints."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FakeServer:
    """A running fake: its base URL, and its control endpoints as methods."""

    def __init__(self, base_url: str):
        self.base_url = base_url

    def _call(self, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base_url + path, data=data, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def configure(self, **settings: Any) -> dict:
        return self._call("/_fake/config", settings)

    def stats(self) -> dict:
        return self._call("/_fake/stats")

    def creates(self) -> list[dict]:
        """Every create request the fake accepted since its last reset: [{"route", "body"}], oldest first."""
        return self._call("/_fake/creates")

    def reset(self) -> None:
        self._call("/_fake/reset", {})

    def purge(self) -> None:
        """The provider forgets every task (404 on poll from now on)."""
        self._call("/_fake/purge", {})


@contextmanager
def running_fake(module: str) -> Iterator[FakeServer]:
    """Start `python -m module --port P` in its own process, wait until it answers, stop it afterwards."""
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", module, "--port", str(port)], env=dict(os.environ))
    fake = FakeServer(f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                fake.stats()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"fake {module} did not start on port {port}") from None
                time.sleep(0.1)
        yield fake
    finally:
        process.terminate()
        process.wait(timeout=10)

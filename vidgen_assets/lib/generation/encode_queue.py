"""Decode and encode clip N on a CPU worker thread while clip N+1 denoises.

A single worker takes jobs in order; `submit` first waits for all but `depth - 1` earlier jobs, so at
most `depth` clips' latents wait or decode at once and frames never pile up (each job streams its
frames into the encoder chunk by chunk). A job's error is raised in the caller's thread, by `submit`
or `drain`, so an encoder failure fails the step like any other.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

Done = Callable[[Future], None]


class EncodeQueue:
    """A bounded, ordered queue of decode+encode jobs; `done(future)` runs in the caller's thread."""

    def __init__(self, depth: int = 1):
        if depth < 1:
            raise ValueError(f"encode queue depth must be at least 1, got {depth}")
        self.depth = depth
        self._pending: deque[tuple[Future, Done]] = deque()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clip-encode")

    def submit(self, job: Callable[[], Any], done: Done) -> None:
        while len(self._pending) >= self.depth:
            self._finish_oldest()
        self._pending.append((self._pool.submit(job), done))

    def drain(self) -> None:
        """Wait for every submitted job, handing each to its `done` in order."""
        while self._pending:
            self._finish_oldest()

    def close(self) -> None:
        """Stop the worker; jobs not yet finished are waited for but their results dropped (the step failed)."""
        self._pending.clear()
        self._pool.shutdown(wait=True)

    def _finish_oldest(self) -> None:
        future, done = self._pending.popleft()
        future.exception()  # wait
        done(future)

    def __enter__(self) -> EncodeQueue:
        return self

    def __exit__(self, *exc) -> None:
        try:
            if exc[0] is None:
                self.drain()
        finally:
            self.close()

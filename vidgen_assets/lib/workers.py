"""Calls run on a few daemon threads, whose caller can always get away: interrupt-safe waits, bounded stops.

Unlike `ThreadPoolExecutor` + `concurrent.futures.wait`, the caller shares no lock with the workers while
it waits: each finished call lands in a `queue.SimpleQueue` (C-level, so a put never blocks on a lock an
interrupted caller holds), and the caller polls it. Stopping asks the workers to take no more calls and
joins them for at most a grace period; a worker still stuck in a call after that is left behind (daemon
threads never hold up the process's exit) and named, instead of hanging the caller forever.
"""

from __future__ import annotations

import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from .interrupts import deferred_interrupts


@dataclass
class Outcome:
    """One finished call: its input, and its result or the exception it raised."""

    item: Any
    result: Any = None
    error: BaseException | None = None


class Workers:
    """Up to `concurrency` daemon threads calling `call(item)` for each of `items`, in order taken, once started."""

    def __init__(self, call: Callable[[Any], Any], items: Sequence[Any], *, concurrency: int, name: str):
        self._call = call
        self._todo = deque(items)  # popleft is atomic: workers take items without a lock
        self._finished: queue.SimpleQueue[Outcome] = queue.SimpleQueue()
        self._expected = len(items)
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._work, name=f"{name}_{index}", daemon=True)
            for index in range(min(max(1, concurrency), len(items)))
        ]

    def start(self) -> None:
        """Start the threads (call it inside the `try` whose handler stops them: an interrupt may follow)."""
        with deferred_interrupts():  # Thread.start waits on an Event the new thread sets
            for thread in self._threads:
                thread.start()

    def _work(self) -> None:
        while not self._stopping:
            try:
                item = self._todo.popleft()
            except IndexError:
                return
            try:
                outcome = Outcome(item, result=self._call(item))
            except BaseException as error:  # noqa: BLE001 (handed to the caller, which decides)
                outcome = Outcome(item, error=error)
            self._finished.put(outcome)

    def outcomes(self, poll_s: float = 0.5) -> Iterator[Outcome]:
        """Each call's outcome as it finishes, until every item's is in; an interrupt ends the wait at once."""
        left = self._expected
        while left:
            try:
                outcome = self._finished.get(timeout=poll_s)
            except queue.Empty:
                if not self.alive() and self._finished.empty():  # every worker ended (stopped): no more will come
                    return
                continue
            left -= 1
            yield outcome

    def alive(self) -> list[threading.Thread]:
        return [thread for thread in self._threads if thread.is_alive()]

    def stop(self, grace_s: float) -> list[str]:
        """Take no more items; wait at most `grace_s` for running calls to end. The threads still running."""
        self._stopping = True
        deadline = time.monotonic() + grace_s
        with deferred_interrupts():  # a second Ctrl-C waits for the grace, which is short and bounded
            for thread in self.alive():  # alive: started and not ended
                thread.join(max(0.0, deadline - time.monotonic()))
        return [thread.name for thread in self.alive()]

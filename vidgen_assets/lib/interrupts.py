"""Interrupts held back for the few statements that must not be cut in half.

Ctrl-C and Dagster's termination reach a step as SIGINT (SIGTERM on a pod), whose handler raises in the
main thread between any two bytecodes. Landing right after a lock was taken and before the `with` that
releases it (inside `Condition.__enter__`, `concurrent.futures.wait`, `Event.set`, `Thread.start`), the
exception leaves that lock held for good, and every thread needing it blocks forever. Code that touches
locks shared with worker threads runs inside `deferred_interrupts()`: a signal arriving there is noted and
handed to the previous handler when the block ends, so it still raises, just a few statements later.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_DEFAULTS = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
_deferring = False


def interrupts_deferred() -> bool:
    """Whether the main thread is inside `deferred_interrupts()` (a signal now would wait for its end)."""
    return _deferring


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold SIGINT and SIGTERM until the block ends, then deliver the first one to the handler it had.

    Only the main thread runs signal handlers, so elsewhere (and when already deferring) this does nothing.
    Keep the block short and bounded: it is how much later an interrupt takes effect.
    """
    global _deferring
    if _deferring or threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, object] = {}
    holding = True

    def hold(signum: int, _frame) -> None:
        if holding:
            received.append(signum)
        else:  # the block ended but its handler is not yet (or, cut short by a signal, never) put back
            _deliver(signum, previous.get(signum, _DEFAULTS[signum]))

    hold.held_previous = previous  # type: ignore[attr-defined]
    try:
        for signum in SIGNALS:
            # Kept before `hold` goes in (a signal may follow at once); a `hold` left behind by a block cut
            # short is looked through, so handlers never chain.
            previous[signum] = _unwrapped(signum, signal.getsignal(signum))
            if previous[signum] is not None:  # None: a handler not set from Python, left alone
                signal.signal(signum, hold)
        _deferring = True
        yield
    finally:
        # The flags first: from here a signal goes straight to its handler, wherever this is cut short.
        holding = _deferring = False
        try:
            if received:
                _deliver(received[0], previous[received[0]])
        finally:
            for signum, handler in previous.items():
                if handler is not None:
                    signal.signal(signum, handler)


def _unwrapped(signum: int, handler: object) -> object:
    while hasattr(handler, "held_previous"):
        handler = handler.held_previous.get(signum, _DEFAULTS[signum])
    return handler


def _deliver(signum: int, handler: object) -> None:
    if callable(handler):
        handler(signum, None)  # e.g. Python's KeyboardInterrupt, or Dagster's DagsterExecutionInterruptedError
    elif handler == signal.SIG_DFL:
        signal.raise_signal(signum)  # SIGTERM's default: the process ends, as it would have

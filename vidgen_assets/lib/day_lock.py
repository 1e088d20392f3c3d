"""One writer per day on this machine: an advisory file lock per partition day, whoever launches the run.

The CLI's in-process runs and the daemon's runs (through the executor) take the same lock in
`$DAGSTER_HOME/locks`, so they take turns instead of writing one day at once. The kernel drops a
`flock` when its process dies, so a killed run never leaves a day locked. The holder writes who it
is into the file, so a waiter can say what it is waiting for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path


def lock_path(lock_dir: str | os.PathLike[str], day: str) -> Path:
    return Path(lock_dir) / f"{day}.lock"


def read_holder(lock_dir: str | os.PathLike[str], day: str) -> dict:
    """Who last took the day's lock (run id, launcher, pid, since); empty when nobody has yet."""
    try:
        return json.loads(lock_path(lock_dir, day).read_text() or "{}")
    except (OSError, ValueError):
        return {}


def describe(holder: Mapping[str, object]) -> str:
    if not holder:
        return "another run"
    return f"run {holder.get('run_id') or '?'} (launched by {holder.get('launched_by') or '?'}, pid {holder.get('pid')})"


@contextmanager
def hold_day(
    lock_dir: str | os.PathLike[str],
    day: str,
    holder: Mapping[str, object],
    on_wait: Callable[[str], None] = print,
) -> Iterator[None]:
    """Hold `day`'s lock while the block runs; if someone else holds it, say who, then wait for it."""
    path = lock_path(lock_dir, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    # Opened without truncating: the current holder's note stays readable until the lock is ours.
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"another run of {day} is in progress ({describe(read_holder(lock_dir, day))}); waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({**holder, "pid": os.getpid(), "since": time.time()}))
        handle.flush()
        yield

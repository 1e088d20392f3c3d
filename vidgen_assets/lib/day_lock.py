"""One writer per day, whoever launches the run: an advisory lock per partition day.

The CLI's in-process runs and the daemon's runs (through the executor) take the same lock, so they
take turns instead of writing one day at once. Where it lives follows the warehouse:

- a PostgreSQL warehouse (shared by every host of a deployment): a session advisory lock in that
  database, so runs on different machines, each with its own `DAGSTER_HOME`, take turns too. The
  server drops it when the holder's connection ends (a killed process, a lost host after the TCP
  keepalive), and the holder names itself in its connection's `application_name`;
- otherwise a `flock` on a file in `$DAGSTER_HOME/locks`, for this machine. The kernel drops it when
  its process dies; the holder writes who it is into the file.

Either way a waiter says what it is waiting for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse.connections import CONNECT_TIMEOUT_S, WarehouseUnavailable, is_postgres, masked, scrub

_APP_PREFIX = "vidgen day "  # + the day: the holder's connection names itself so a waiter can say who holds it


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


def experiment_lock(name: str) -> str:
    """The lock an experiment's runs take: not its name alone, as an experiment named like a day is not that day."""
    return f"experiment-{name}"


def hold_run_day(day: str, holder: Mapping[str, object], on_wait: Callable[[str], None] = print):
    """The day's lock where every writer of the day sees it: in the PostgreSQL warehouse, else `$DAGSTER_HOME/locks`."""
    target = environment.warehouse_target()
    if is_postgres(target):
        return hold_day_in_postgres(target, day, holder, on_wait)
    return hold_day(environment.dagster_home() / "locks", day, holder, on_wait)


def _application_name(day: str, holder: Mapping[str, object]) -> str:
    run = str(holder.get("run_id") or "?")[:8]
    return f"{_APP_PREFIX}{day} {str(holder.get('launched_by') or '?')[:10]} run {run} pid {os.getpid()}"[:63]


def _no_session_timeouts(connection) -> None:
    """Waiting for the day and holding it idle for a whole run are this session's job: a database-wide
    `statement_timeout`/`lock_timeout` would cancel the wait, an `idle_session_timeout` would drop the held lock."""
    connection.execute("SET statement_timeout = 0")
    connection.execute("SET lock_timeout = 0")
    if connection.info.server_version >= 140000:  # the setting exists from PostgreSQL 14
        connection.execute("SET idle_session_timeout = 0")


@contextmanager
def hold_day_in_postgres(
    url: str, day: str, holder: Mapping[str, object], on_wait: Callable[[str], None] = print
) -> Iterator[None]:
    """Hold `day`'s advisory lock in the PostgreSQL database at `url` while the block runs; wait, saying for whom."""
    import psycopg

    key = f"vidgen_assets.day_lock:{day}"
    try:
        connection = psycopg.connect(
            url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, application_name=_application_name(day, holder),
            keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3,
        )  # fmt: skip
    except psycopg.Error as error:
        raise WarehouseUnavailable(f"cannot take the day lock in {masked(url)}: {scrub(str(error), url)}") from None
    with connection:
        _no_session_timeouts(connection)
        (taken,) = connection.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", [key]).fetchone()
        if not taken:
            found = connection.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted AND a.application_name LIKE %s LIMIT 1",
                [f"{_APP_PREFIX}{day} %"],
            ).fetchone()
            who = f"{found[0].removeprefix(_APP_PREFIX + day + ' ')} from {found[1] or 'this host'}" if found else "another host"
            on_wait(f"another run of {day} is in progress ({who}); waiting for it to finish")
            connection.execute("SELECT pg_advisory_lock(hashtextextended(%s, 0))", [key])
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [key])

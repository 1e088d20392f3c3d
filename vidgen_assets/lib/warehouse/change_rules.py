"""Which days a change-sensor tick should render: the change scan, moves, reconciliation, future days.

The rules, in one place so the sensor stays thin and the clock can be injected in tests:

- a day is a candidate when a row or a theme on it changed (insert, update, soft delete), when one
  moved away from it, when it is one of the last `reconcile_days` partitions (catches hard deletes and
  edits that left `updated_at` alone), or when it was a future day with changes and just became a
  partition;
- a candidate is rendered only when its live rows (and themes) differ from what its last prompts step
  read (`day_renders`): a day rendered with the same rows, or never rendered and empty, needs nothing;
- a recent day already requested for the same rows is not requested again while its run waits;
- a day counts as rendered only once its reel is published, so a day whose last run failed differs
  from its last render and is requested again, with a bound: after `max_attempts` failed runs for
  the same rows it is given up (reported once, with the last failure) until its rows change;
- a day whose last run for its current rows was cancelled by a user is given up at once, the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

from .changes import ChangeCursor, ChangeSet, find_changes
from .store import EMPTY_FINGERPRINT, Warehouse

MAX_PENDING_DAYS = 400  # future days remembered (distinct days, never rows); later ones: reconciliation
MAX_WAITING_DAYS = 400  # requested days remembered until they render (the latest ones)
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Attempts:
    """The runs that read a day's current rows (whoever launched them): failed ones, and one still going."""

    failed: int = 0
    running: bool = False
    reason: str | None = None  # the last failed run's error
    cancelled: str | None = None  # the last finished run was cancelled by a user: which one (not retried)


NO_ATTEMPTS = Attempts()


@dataclass(frozen=True)
class DayPlan:
    requests: dict[date, str]  # day -> run key
    changes: ChangeSet
    cursor: ChangeCursor  # to store after this tick
    unchanged: list[date]  # candidates whose rows equal their last render
    before_partitions: list[date]  # changed days before the first partition: never rendered
    pending: list[date]  # changed days after the last partition, kept for later
    reconciled: list[date]  # requested although no change was scanned: hard deletes, silent edits
    retried: dict[date, int] = field(default_factory=dict)  # day -> failed runs of its current rows so far
    gave_up: dict[date, str] = field(default_factory=dict)  # newly given up: day -> why (its last failure)
    running: list[date] = field(default_factory=list)  # a run reads the day's current rows now
    fingerprints: dict[date, str] = field(default_factory=dict)  # requested day -> the rows' fingerprint


def recent_days(first: date, last: date, count: int) -> list[date]:
    """The last `count` partitions up to `last`."""
    return [last - timedelta(days=n) for n in range(count) if last - timedelta(days=n) >= first]


def run_key(day: date, current: str, rendered: str | None) -> str:
    """Same rows and same last render give the same key; rows changing back after a render give a new one."""
    digest = hashlib.sha256(f"{current}|{rendered}".encode()).hexdigest()[:16]
    return f"{day.isoformat()}:{digest}"


def plan_days(
    warehouse: Warehouse,
    cursor: ChangeCursor,
    *,
    first_partition: date,
    last_partition: date,
    overlap: timedelta,
    reconcile_days: int,
    attempts: Callable[[date, str], Attempts] = lambda day, fingerprint: NO_ATTEMPTS,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
) -> DayPlan:
    """The days to request this tick; `attempts(day, fingerprint)` tells the runs that read those rows."""
    changes = find_changes(warehouse, cursor, overlap=overlap)
    before = [day for day in changes.days if day < first_partition]
    future = {day for day in changes.days if day > last_partition} | set(cursor.pending)
    released = {day for day in future if day <= last_partition}
    pending = sorted(future - released)[:MAX_PENDING_DAYS]
    changed = {day for day in changes.days if first_partition <= day <= last_partition} | released
    window = set(recent_days(first_partition, last_partition, reconcile_days))
    asked = dict(cursor.requested)
    # Days requested earlier stay candidates until their reel is published: a failed run is seen here.
    candidates = changed | window | {day for day in asked if first_partition <= day <= last_partition}
    current = warehouse.day_fingerprints(candidates)
    rendered = warehouse.last_renders(candidates)
    requests, unchanged, reconciled, waiting = {}, [], [], {}
    retried, gave_up, running = {}, {}, []
    for day in sorted(candidates):
        if current[day] == rendered.get(day, EMPTY_FINGERPRINT):
            if day in changed:
                unchanged.append(day)
            continue
        key = run_key(day, current[day], rendered.get(day))
        tried = attempts(day, current[day])
        if tried.running:
            running.append(day)
            waiting[day] = asked.get(day, key)
            continue
        if tried.cancelled:
            # A user stopped it on purpose: given up like a failing day, until the rows change.
            waiting[day] = f"{key}:cancelled"
            if asked.get(day) != waiting[day]:
                gave_up[day] = f"run {tried.cancelled} was cancelled by a user"
            continue
        if tried.failed >= max_attempts:
            # Given up until the rows change (a new fingerprint, a new key): said once, not every tick.
            waiting[day] = f"{key}:gave-up"
            if asked.get(day) != waiting[day]:
                gave_up[day] = f"{tried.failed} runs failed for the same rows; the last: {tried.reason or 'no error recorded'}"
            continue
        if tried.failed:
            key = f"{key}:retry-{tried.failed}"  # a new run key, or Dagster would skip it as already requested
            retried[day] = tried.failed
        waiting[day] = key  # remembered until the render catches up
        if asked.get(day) == key and day not in changed:
            continue
        requests[day] = key
        if day not in changed and not tried.failed:
            reconciled.append(day)
    remembered = tuple(sorted(waiting.items())[-MAX_WAITING_DAYS:])
    next_cursor = replace(changes.new_cursor, pending=frozenset(pending), requested=remembered)
    fingerprints = {day: current[day] for day in requests}
    return DayPlan(requests, changes, next_cursor, unchanged, before, pending, reconciled, retried, gave_up, running, fingerprints)

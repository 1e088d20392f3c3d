"""Which days a change-sensor tick should render: the change scan, moves, reconciliation, future days.

The rules, in one place so the sensor stays thin and the clock can be injected in tests:

- a day is a candidate when a row on it changed (insert, update, soft delete), when a row moved
  away from it, when it is one of the last `reconcile_days` partitions (catches hard deletes and
  edits that left `updated_at` alone), or when it was a future day with changes and just became a
  partition;
- a candidate is rendered only when its live rows differ from what its last prompts step read
  (`day_renders`): a day rendered with the same rows, or never rendered and empty, needs nothing;
- a recent day already requested for the same rows is not requested again while its run waits.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import date, timedelta

from .changes import ChangeCursor, ChangeSet, find_changes
from .store import EMPTY_FINGERPRINT, Warehouse

MAX_PENDING_DAYS = 400  # future days remembered (distinct days, never rows); later ones: reconciliation


@dataclass(frozen=True)
class DayPlan:
    requests: dict[date, str]  # day -> run key
    changes: ChangeSet
    cursor: ChangeCursor  # to store after this tick
    unchanged: list[date]  # candidates whose rows equal their last render
    before_partitions: list[date]  # changed days before the first partition: never rendered
    pending: list[date]  # changed days after the last partition, kept for later
    reconciled: list[date]  # requested although no change was scanned: hard deletes, silent edits


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
) -> DayPlan:
    changes = find_changes(warehouse, cursor, overlap=overlap)
    before = [day for day in changes.days if day < first_partition]
    future = {day for day in changes.days if day > last_partition} | set(cursor.pending)
    released = {day for day in future if day <= last_partition}
    pending = sorted(future - released)[:MAX_PENDING_DAYS]
    changed = {day for day in changes.days if first_partition <= day <= last_partition} | released
    window = set(recent_days(first_partition, last_partition, reconcile_days))
    candidates = changed | window
    current = warehouse.day_fingerprints(candidates)
    rendered = warehouse.last_renders(candidates)
    asked = dict(cursor.requested)
    requests, unchanged, reconciled, waiting = {}, [], [], {}
    for day in sorted(candidates):
        if current[day] == rendered.get(day, EMPTY_FINGERPRINT):
            if day in changed:
                unchanged.append(day)
            continue
        key = run_key(day, current[day], rendered.get(day))
        if day in window:
            waiting[day] = key  # reconciled every tick: remember it until the render catches up
            if asked.get(day) == key and day not in changed:
                continue
        requests[day] = key
        if day not in changed:
            reconciled.append(day)
    next_cursor = replace(changes.new_cursor, pending=frozenset(pending), requested=tuple(sorted(waiting.items())))
    return DayPlan(requests, changes, next_cursor, unchanged, before, pending, reconciled)

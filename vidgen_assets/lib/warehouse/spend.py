"""The `spend` ledger: every paid task asked for, whoever asks (a step, a run, a pod).

A row is written when a create is about to be sent: `reserved` at the task's list price, then
`billed` at the provider's bill once the task ends, or `released` when it was refused or failed
unbilled. A create a budget has no room for is written `refused` and costs nothing. What counts
against a budget: reserved rows at their reservation, billed rows at their bill.

`reserve` checks every limit and writes the reservation in one transaction, serialized across
processes (PostgreSQL: a transaction-level advisory lock; a DuckDB file: its single-process file
lock, plus a lock for this process's threads), so concurrent steps, runs and pods never hold more
than a budget: only a bill above its reservation can go over, by less than one task's price.
The ledger knows amounts and scopes, not models: prices come from the caller.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from .store import Warehouse

RESERVED, BILLED, RELEASED, REFUSED = "reserved", "billed", "released", "refused"
_LOCK = "SELECT pg_advisory_xact_lock(hashtext('vidgen_assets.spend'))"
_THREADS = threading.Lock()  # DuckDB: one process's connections share a database, and MVCC allows write skew
_EPSILON = 1e-9  # float sums of cents: an exact fit must fit
# What a row costs now: its bill once known, else what it holds.
_COUNTED = f"CASE state WHEN '{RESERVED}' THEN reserved_usd WHEN '{BILLED}' THEN billed_usd ELSE 0 END"


@dataclass(frozen=True)
class Limit:
    """One budget: `scope` "day" (the partition, all providers), "provider_day" or "month" (UTC, by reservation time)."""

    name: str  # the variable that sets it, as the user knows it
    scope: str
    usd: float


@dataclass(frozen=True)
class Task:
    """A task about to be created, as the ledger sees it."""

    day: date
    provider: str
    model: str
    clip_key: str
    prompt_id: str | None
    run_id: str | None
    usd: float  # its list price


def month_bounds(now: datetime | None = None) -> tuple[datetime, datetime]:
    """The current calendar month in UTC: [first instant, first instant of the next)."""
    now = (now or datetime.now(timezone.utc)).astimezone(timezone.utc)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return start, end


def spent(session, day: date, provider: str | None = None, now: datetime | None = None) -> dict[str, float]:
    """What counts now against the day's, the provider's day and the month's budgets."""
    start, end = month_bounds(now)
    row = session.execute(
        f"SELECT coalesce(sum(CASE WHEN partition_date = $day THEN {_COUNTED} END), 0), "
        f"coalesce(sum(CASE WHEN partition_date = $day AND provider = $provider THEN {_COUNTED} END), 0), "
        f"coalesce(sum(CASE WHEN reserved_at >= $start AND reserved_at < $end THEN {_COUNTED} END), 0) "
        "FROM spend WHERE state IN ('reserved', 'billed') AND (partition_date = $day OR reserved_at >= $start)",
        {"day": day, "provider": provider or "", "start": start, "end": end},
    ).fetchone()
    return {"day": float(row[0]), "provider_day": float(row[1]), "month": float(row[2])}


def reserve(warehouse: Warehouse, task: Task, limits: Sequence[Limit]) -> tuple[str, Limit | None, float]:
    """Hold `task.usd` against every limit, atomically: (spend id, None, 0) when reserved, else the row is
    written `refused` and (spend id, the first limit without room, what remains of it).

    Called right before a create, under the clip's claim, when the clip has no live task: a reservation of
    the clip still open then belongs to a run that ended without settling it (killed while waiting out a
    Retry-After, or inside its create), so it is released here instead of holding the budget forever."""
    spend_id = str(uuid.uuid4())
    with _THREADS, warehouse.connect() as session, session.transaction():
        if session.is_postgres:
            session.execute(_LOCK)
        session.execute(
            f"UPDATE spend SET state = '{RELEASED}', reason = ?, settled_at = current_timestamp "
            f"WHERE clip_key = ? AND state = '{RESERVED}'",
            ["superseded: a new task is asked for this clip; the run that held it ended without settling",
             task.clip_key],
        )  # fmt: skip
        used = spent(session, task.day, task.provider) if limits else {}
        short = next((limit for limit in limits if used[limit.scope] + task.usd > limit.usd + _EPSILON), None)
        remaining = max(0.0, short.usd - used[short.scope]) if short else 0.0
        session.execute(
            "INSERT INTO spend (spend_id, partition_date, provider, model, clip_key, prompt_id, run_id, state, "
            "reserved_usd, reason, settled_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, "
            f"{'current_timestamp' if short else 'NULL'})",
            [spend_id, task.day, task.provider, task.model, task.clip_key, task.prompt_id, task.run_id,
             REFUSED if short else RESERVED, task.usd, f"{short.name}: {remaining:.2f} USD left" if short else None],
        )  # fmt: skip
    return spend_id, short, remaining


def settle(warehouse: Warehouse, clip_key: str, billed_usd: float, spend_id: str | None = None, reason: str = "") -> int:
    """The task ended: its reservation becomes its bill (`billed_usd` > 0) or is released. Without
    `spend_id` (a task created by an earlier run, resumed here), the clip's open reservations are settled."""
    state = BILLED if billed_usd > 0 else RELEASED
    where = "spend_id = $id" if spend_id else "clip_key = $key"
    with _THREADS, warehouse.connect() as session:
        return session.changed(
            "UPDATE spend SET state = $state, billed_usd = $billed, reason = $reason, settled_at = current_timestamp "
            f"WHERE {where} AND state = 'reserved'",
            {"state": state, "billed": billed_usd if billed_usd > 0 else None, "reason": reason or None,
             **({"id": spend_id} if spend_id else {"key": clip_key})},
        )  # fmt: skip


def day_spend(warehouse: Warehouse, first: date, last: date) -> list[dict]:
    """Per day and provider of `first`..`last`: what counts (billed + held), billed, held, tasks, refused."""
    with warehouse.connect() as session:
        return session.rows(
            f"SELECT partition_date AS day, provider, sum({_COUNTED}) AS spent_usd, "
            f"coalesce(sum(CASE WHEN state = '{BILLED}' THEN billed_usd END), 0) AS billed_usd, "
            f"coalesce(sum(CASE WHEN state = '{RESERVED}' THEN reserved_usd END), 0) AS held_usd, "
            f"count(*) FILTER (WHERE state <> '{REFUSED}') AS tasks, count(*) FILTER (WHERE state = '{REFUSED}') AS refused "
            "FROM spend WHERE partition_date BETWEEN ? AND ? GROUP BY 1, 2 ORDER BY 1, 2",
            [first, last],
        )


def month_spent(warehouse: Warehouse, now: datetime | None = None) -> float:
    """What counts against this calendar month's budget (UTC)."""
    start, end = month_bounds(now)
    with warehouse.connect() as session:
        query = f"SELECT coalesce(sum({_COUNTED}), 0) FROM spend WHERE reserved_at >= ? AND reserved_at < ?"
        return float(session.execute(query, [start, end]).fetchone()[0])


def day_spent(warehouse: Warehouse, day: date) -> dict[str, float]:
    """What counts against the day's budgets: the day's total and each provider's."""
    with warehouse.connect() as session:
        rows = session.execute(
            f"SELECT provider, sum({_COUNTED}) FROM spend WHERE partition_date = ? GROUP BY 1", [day]
        ).fetchall()
    return {provider: float(usd or 0) for provider, usd in rows}

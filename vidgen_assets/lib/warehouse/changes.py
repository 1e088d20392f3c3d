"""Which prompt rows and themes changed since a cursor, and so which days may need rendering again.

Themes count like prompt rows (a changed theme changes its day's fingerprint). A row's change time is the later of `updated_at` and `deleted_at` (UTC): inserts, updates and
soft deletes all count, and a moved row names its previous day too. The cursor keeps a watermark
that follows the database clock, and re-reads an overlap window below it, because a transaction
that began before the last scan may commit after it with an older `updated_at` (a late commit).
Changes already handled inside that window are remembered, so each is reported once.

The cursor stays small whatever the size of past changes: only the overlap window is remembered,
by id while the ids fit in `SEEN_BUDGET` characters, and beyond that by change time (a bulk
statement stamps all its rows with one time): every row stamped at such a time counts as handled.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone

from .connections import DUCKDB, Dialect
from .store import Warehouse

DEFAULT_OVERLAP = timedelta(minutes=5)
CURSOR_VERSION = 2
FETCH_BATCH = 10_000
SEEN_BUDGET = 32_000  # characters of ids kept in the cursor; past it, whole change times are kept
MAX_STAMPS = 500  # change times kept; the oldest go first (the reconciliation covers what they held)

_CHANGE_TIME = "greatest(updated_at, coalesce(deleted_at, updated_at))"
_TABLES = (("prompts", "prompt_id"), ("themes", "theme_id"))  # table, its id column
# Two disjoint branches, each a plain range filter: the first is answered by the
# `prompts_updated_at` index (EXPLAIN: "Index Scan"), the second by row-group zone maps (DuckDB)
# and only matters for rows soft-deleted by a tool that left `updated_at` alone.
# An `OR` across the two columns would force a sequential scan of the whole table.
# Rows stamped at a change time handled as a whole (`$bulk`) are filtered out inside the engine, so
# the ticks after a bulk statement do not pull its rows into Python again.


def _columns(table: str, id_column: str) -> str:
    return f"SELECT '{table}' AS kind, {id_column}, scheduled_for, previous_scheduled_for, {_CHANGE_TIME} AS changed_at FROM {table}"


def changes_since_query(dialect: Dialect) -> str:
    not_bulk = dialect.not_in_list.format(values="CAST($bulk AS TIMESTAMPTZ[])", value=_CHANGE_TIME)
    return " UNION ALL ".join(
        f"{_columns(*table)} WHERE updated_at > $since AND {not_bulk} "
        f"UNION ALL {_columns(*table)} WHERE deleted_at > $since AND updated_at <= $since AND {not_bulk}"
        for table in _TABLES
    )


CHANGES_SINCE_QUERY = changes_since_query(DUCKDB)
_ALL_QUERY = " UNION ALL ".join(_columns(*table) for table in _TABLES)
_NOW_QUERY = "SELECT now()"


class CursorError(ValueError):
    """A stored cursor could not be read back (corrupt, hand-edited or from another format)."""


def _utc(text: str) -> datetime:
    """Version 1 cursors hold naive times, written by a UTC sensor: read them as UTC."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat()


@dataclass(frozen=True)
class ChangeCursor:
    """Watermark, what was handled in the overlap window, future days, days awaiting their run.

    `watermark=None` means "from the beginning": the next scan reads every row. `seen` holds
    (prompt_id, change time) pairs, `theme_seen` the same for themes, `bulk` change times handled as a
    whole, `pending` changed days that are not partitions yet, `requested` a run key per day requested
    and not yet rendered.
    """

    watermark: datetime | None = None
    seen: frozenset[tuple[str, str]] = frozenset()
    bulk: frozenset[str] = frozenset()
    pending: frozenset[date] = frozenset()
    requested: tuple[tuple[date, str], ...] = ()
    theme_seen: frozenset[tuple[str, str]] = frozenset()

    def handled(self, row_id: str, stamp: str, kind: str = "prompts") -> bool:
        return stamp in self.bulk or (row_id, stamp) in (self.theme_seen if kind == "themes" else self.seen)

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "watermark": None if self.watermark is None else _stamp(self.watermark),
                "seen": sorted([prompt_id, changed_at] for prompt_id, changed_at in self.seen),
                "theme_seen": sorted([theme_id, changed_at] for theme_id, changed_at in self.theme_seen),
                "bulk": sorted(self.bulk),
                "pending": sorted(day.isoformat() for day in self.pending),
                "requested": {day.isoformat(): key for day, key in sorted(self.requested)},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> ChangeCursor:
        try:
            data = json.loads(text or "")
            if not isinstance(data, dict) or data.get("version") not in (1, CURSOR_VERSION):
                raise CursorError(f"expected a version 1 or {CURSOR_VERSION} cursor object")
            watermark = data["watermark"]
            return cls(
                None if watermark is None else _utc(watermark),
                _pairs(data["seen"], "seen"),
                frozenset(_stamp(_utc(s)) for s in data.get("bulk", [])),
                frozenset(date.fromisoformat(d) for d in data.get("pending", [])),
                tuple((date.fromisoformat(d), str(k)) for d, k in dict(data.get("requested", {})).items()),
                _pairs(data.get("theme_seen", []), "theme_seen"),  # absent from cursors saved before themes
            )
        except CursorError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise CursorError(f"unreadable change cursor {str(text)[:80]!r}: {error}") from error


def _pairs(pairs: object, name: str) -> frozenset[tuple[str, str]]:
    if not isinstance(pairs, list):
        raise CursorError(f"'{name}' must be a list")
    seen = set()
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
            raise CursorError(f"bad '{name}' entry {pair!r}")
        seen.add((pair[0], _stamp(_utc(pair[1]))))
    return frozenset(seen)


@dataclass(frozen=True)
class ChangeSet:
    """The result of one scan: the changed days and the cursor for the next scan."""

    days: list[date]  # days of changed rows and themes, and the days moved ones left
    rows: int  # changed rows and themes not handled before
    new_cursor: ChangeCursor
    scanned_since: datetime | None  # rows changed after this were read; None: the whole table
    scanned: int = 0  # rows read, including those skipped as already handled
    changes_by_day: dict[date, int] = field(default_factory=dict)  # new changed rows (and themes) per day
    themes: int = 0  # of `rows`, the changed themes


def database_now(warehouse: Warehouse) -> datetime:
    """The warehouse's clock, in UTC like its `updated_at` values."""
    with warehouse.connect() as session:
        return session.execute(_NOW_QUERY).fetchone()[0]


def cursor_looking_back(warehouse: Warehouse, lookback: timedelta) -> ChangeCursor:
    """A fresh cursor whose first scan covers the changes of the last `lookback`."""
    return ChangeCursor(watermark=database_now(warehouse) - lookback)


def find_changes(warehouse: Warehouse, cursor: ChangeCursor, *, overlap: timedelta = DEFAULT_OVERLAP) -> ChangeSet:
    """Rows and themes changed after `cursor.watermark - overlap` and not yet handled, counted by day."""
    since = None if cursor.watermark is None else cursor.watermark - overlap
    changes_by_day: dict[date, int] = defaultdict(int)
    window: dict[str, list[tuple[str, str]]] = defaultdict(list)  # change time -> (kind, id), for the next cursor
    scanned = new_rows = themes = 0
    with warehouse.connect() as session:
        now = session.execute(_NOW_QUERY).fetchone()[0]
        # The watermark follows the clock, so a quiet tick reads only the overlap window.
        watermark = now if cursor.watermark is None else max(cursor.watermark, now)
        floor = watermark - overlap
        if since is None:
            batches = session.batches(_ALL_QUERY, None, FETCH_BATCH)
        else:
            bulk = sorted(datetime.fromisoformat(stamp) for stamp in cursor.bulk)
            batches = session.batches(changes_since_query(session.dialect), {"since": since, "bulk": bulk}, FETCH_BATCH)
        for batch in batches:
            scanned += len(batch)
            for kind, row_id, day, previous, changed_at in batch:
                stamp = _stamp(changed_at)
                if changed_at > floor:
                    window[stamp].append((kind, row_id))
                if cursor.handled(row_id, stamp, kind):
                    continue
                new_rows += 1
                themes += kind == "themes"
                changes_by_day[day] += 1
                if previous is not None and previous != day:
                    changes_by_day[previous] += 1
    seen, theme_seen, bulk = _bounded(window)
    bulk |= {stamp for stamp in cursor.bulk if datetime.fromisoformat(stamp) > floor}  # not read, still handled
    new_cursor = ChangeCursor(watermark, seen, bulk, cursor.pending, cursor.requested, theme_seen)
    return ChangeSet(
        days=sorted(changes_by_day),
        rows=new_rows,
        new_cursor=new_cursor,
        scanned_since=since,
        scanned=scanned,
        changes_by_day=dict(changes_by_day),
        themes=themes,
    )


def _bounded(window: dict[str, list[tuple[str, str]]]) -> tuple[frozenset, frozenset, frozenset]:
    """The overlap window's handled changes in at most ~SEEN_BUDGET characters.

    Ids are kept while they fit; past that the largest groups (bulk statements) are kept by
    change time alone, and past `MAX_STAMPS` times the oldest are dropped: a change they held
    may be reported again, which the fingerprint rule turns into no run.
    """
    stamps = sorted(window, reverse=True)[:MAX_STAMPS]
    size = sum(len(row_id) + 40 for stamp in stamps for _, row_id in window[stamp])
    bulk: set[str] = set()
    for stamp in sorted(stamps, key=lambda s: len(window[s]), reverse=True):
        if size <= SEEN_BUDGET:
            break
        bulk.add(stamp)
        size -= sum(len(row_id) + 40 for _, row_id in window[stamp])
    kept = [(kind, (row_id, stamp)) for stamp in stamps if stamp not in bulk for kind, row_id in window[stamp]]
    seen = frozenset(pair for kind, pair in kept if kind == "prompts")
    return seen, frozenset(pair for kind, pair in kept if kind == "themes"), frozenset(bulk)


def soft_delete(warehouse: Warehouse, prompt_ids: Iterable[str]) -> int:
    return len(soft_delete_ids(warehouse, prompt_ids))


def soft_delete_ids(warehouse: Warehouse, prompt_ids: Iterable[str]) -> list[str]:
    """Mark live rows deleted and return their ids; `updated_at` moves too, so the change scan's index finds them."""
    ids = sorted(set(prompt_ids))
    if not ids:
        return []
    with warehouse.connect() as session:
        rows = session.execute(
            "UPDATE prompts SET deleted_at = now(), updated_at = now() "
            "WHERE prompt_id IN (SELECT unnest(CAST($ids AS VARCHAR[]))) AND deleted_at IS NULL RETURNING prompt_id",
            {"ids": ids},
        ).fetchall()
    return sorted(row[0] for row in rows)

"""Which prompt rows changed since a cursor, and so which days need rendering again.

A row's change time is the later of `updated_at` and `deleted_at`: inserts, updates and
soft deletes all count. The cursor keeps a watermark (the latest change time handled)
and re-reads an overlap window below it, because a transaction that began before the
last tick may commit after it with an older `updated_at` (a late commit). Rows already
handled inside that window are remembered in `seen`, so each change is reported once.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from .store import Warehouse

DEFAULT_OVERLAP = timedelta(minutes=5)
CURSOR_VERSION = 1
FETCH_BATCH = 10_000

_CHANGE_TIME = "greatest(updated_at, coalesce(deleted_at, updated_at))"
_COLUMNS = f"SELECT prompt_id, scheduled_for, {_CHANGE_TIME} AS changed_at FROM prompts"
# Two disjoint branches, each a plain range filter: the first is answered by the
# `prompts_updated_at` index (EXPLAIN: "Index Scan"), the second by row-group zone maps and
# only matters for rows soft-deleted by a tool that left `updated_at` alone.
# An `OR` across the two columns would force a sequential scan of the whole table.
CHANGES_SINCE_QUERY = (
    f"{_COLUMNS} WHERE updated_at > $since "
    f"UNION ALL {_COLUMNS} WHERE deleted_at > $since AND updated_at <= $since "
    "ORDER BY changed_at, prompt_id"
)
_ALL_QUERY = f"{_COLUMNS} ORDER BY changed_at, prompt_id"
_NOW_QUERY = "SELECT CAST(now() AS TIMESTAMP)"


class CursorError(ValueError):
    """A stored cursor could not be read back (corrupt, hand-edited or from another format)."""


@dataclass(frozen=True)
class ChangeCursor:
    """Watermark plus the (prompt_id, change time ISO) pairs already handled in the overlap window.

    `watermark=None` means "from the beginning": the next scan reads every row.
    """

    watermark: datetime | None = None
    seen: frozenset[tuple[str, str]] = frozenset()

    def to_json(self) -> str:
        return json.dumps(
            {
                "version": CURSOR_VERSION,
                "watermark": None if self.watermark is None else self.watermark.isoformat(),
                "seen": sorted([prompt_id, changed_at] for prompt_id, changed_at in self.seen),
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | None) -> ChangeCursor:
        try:
            data = json.loads(text or "")
            if not isinstance(data, dict) or data.get("version") != CURSOR_VERSION:
                raise CursorError(f"expected a version {CURSOR_VERSION} cursor object")
            watermark = data["watermark"]
            pairs = data["seen"]
            if not isinstance(pairs, list):
                raise CursorError("'seen' must be a list")
            seen = set()
            for pair in pairs:
                if not (isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)):
                    raise CursorError(f"bad 'seen' entry {pair!r}")
                datetime.fromisoformat(pair[1])
                seen.add((pair[0], pair[1]))
            return cls(None if watermark is None else datetime.fromisoformat(watermark), frozenset(seen))
        except CursorError:
            raise
        except (ValueError, TypeError, KeyError) as error:
            raise CursorError(f"unreadable change cursor {str(text)[:80]!r}: {error}") from error


@dataclass(frozen=True)
class ChangeSet:
    """The result of one scan: the days to render again and the cursor for the next scan."""

    days: list[date]
    rows: int  # changed rows not handled before
    new_cursor: ChangeCursor
    scanned_since: datetime | None  # rows changed after this were read; None: the whole table
    scanned: int = 0  # rows read, including those skipped as already seen
    changes_by_day: dict[date, frozenset[tuple[str, str]]] = field(default_factory=dict)

    def fingerprint(self, day: date) -> str:
        """A short stable hash of the day's changes: the same changes give the same value."""
        payload = json.dumps(sorted(self.changes_by_day[day]))
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def database_now(warehouse: Warehouse) -> datetime:
    """The warehouse's clock, in the same terms as its `updated_at` values."""
    with warehouse.connect() as connection:
        return connection.execute(_NOW_QUERY).fetchone()[0]


def cursor_looking_back(warehouse: Warehouse, lookback: timedelta) -> ChangeCursor:
    """A fresh cursor whose first scan covers the changes of the last `lookback`."""
    return ChangeCursor(watermark=database_now(warehouse) - lookback)


def find_changes(
    warehouse: Warehouse,
    cursor: ChangeCursor,
    *,
    overlap: timedelta = DEFAULT_OVERLAP,
    limit: int | None = None,
) -> ChangeSet:
    """Rows changed after `cursor.watermark - overlap` and not yet seen, grouped by `scheduled_for`.

    With `limit`, stops after that many new rows; the next scan resumes where this one ended.
    """
    since = None if cursor.watermark is None else cursor.watermark - overlap
    changes_by_day: dict[date, set[tuple[str, str]]] = defaultdict(set)
    latest, scanned, new_rows = cursor.watermark, 0, 0
    with warehouse.connect() as connection:
        now = connection.execute(_NOW_QUERY).fetchone()[0]
        if since is None:
            result = connection.execute(_ALL_QUERY)
        else:
            result = connection.execute(CHANGES_SINCE_QUERY, {"since": since})
        while (limit is None or new_rows < limit) and (batch := result.fetchmany(FETCH_BATCH)):
            for prompt_id, day, changed_at in batch:
                scanned += 1
                latest = changed_at if latest is None else max(latest, changed_at)
                pair = (prompt_id, changed_at.isoformat())
                if pair in cursor.seen:
                    continue
                changes_by_day[day].add(pair)
                new_rows += 1
                if limit is not None and new_rows >= limit:
                    break
    if latest is not None:
        # A row stamped in the future must not push the watermark past the clock, or rows
        # changed before that future time would fall out of every later scan.
        latest = min(latest, now) if cursor.watermark is None else max(cursor.watermark, min(latest, now))
    handled = set(cursor.seen).union(*changes_by_day.values())
    return ChangeSet(
        days=sorted(changes_by_day),
        rows=new_rows,
        new_cursor=ChangeCursor(latest, _inside_window(handled, latest, overlap)),
        scanned_since=since,
        scanned=scanned,
        changes_by_day={day: frozenset(pairs) for day, pairs in changes_by_day.items()},
    )


def _inside_window(pairs: Iterable[tuple[str, str]], watermark: datetime | None, overlap: timedelta) -> frozenset:
    """Only pairs a later scan can read again need remembering; older ones are dropped."""
    if watermark is None:
        return frozenset(pairs)
    floor = watermark - overlap
    return frozenset(pair for pair in pairs if datetime.fromisoformat(pair[1]) > floor)


def soft_delete(warehouse: Warehouse, prompt_ids: Iterable[str]) -> int:
    """Mark rows deleted; `updated_at` moves too, so the change sensor's index finds them."""
    ids = sorted(set(prompt_ids))
    if not ids:
        return 0
    with warehouse.connect() as connection:
        (count,) = connection.execute(
            "UPDATE prompts SET deleted_at = now(), updated_at = now() "
            "WHERE prompt_id IN (SELECT unnest($ids)) AND deleted_at IS NULL",
            {"ids": ids},
        ).fetchone()
    return count

"""DuckDB-backed warehouse: migrations, prompt upserts, day reads, rejections, lineage.

The target is a file path (the embedded default) or any DuckDB connection string, such
as `md:vidgen` for MotherDuck; an attached Postgres works through DuckDB's postgres
extension. Every query is parameterized: prompt text is data, never SQL.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import duckdb

from .schema import MIGRATIONS
from .validation import PromptSpec, Rejection
from .writes import PROMPT_COLUMNS, printable, stage, write_staged

LOCK_RETRY_SECONDS = 30.0  # far above the longest write window (one import chunk, ~1 s)
LOCK_POLL_SECONDS = 0.05
# Order-independent digest of a day's live rows: equal digests mean the day would render the same.
FINGERPRINT_SQL = f"count(*) || ':' || coalesce(bit_xor(hash({', '.join(PROMPT_COLUMNS)})), 0)"
EMPTY_FINGERPRINT = "0:0"


def _when_unlocked(open_file):
    """`open_file()` once the file's lock is free: (when it was opened, by `perf_counter`, its result).

    DuckDB files take one process at a time; readers and import chunks queue here, retrying for
    LOCK_RETRY_SECONDS, far longer than any write window.
    """
    deadline = time.monotonic() + LOCK_RETRY_SECONDS
    while True:
        opened = time.perf_counter()
        try:
            return opened, open_file()
        except duckdb.IOException as error:
            if "lock" not in str(error).lower() or time.monotonic() > deadline:
                raise
            time.sleep(LOCK_POLL_SECONDS)


class Warehouse:
    def __init__(self, target: str | Path):
        self.target = str(target)
        self._migrated = False
        self.last_hold_s = 0.0  # how long the last connection held the file (its write lock)

    @property
    def is_file(self) -> bool:
        return not (self.target.startswith(("md:", "motherduck:")) or self.target == ":memory:")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived UTC connection; waits while another process holds the file's lock."""
        if self.is_file:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        opened, connection = _when_unlocked(lambda: duckdb.connect(self.target))
        try:
            # Stored and compared in UTC whatever the zone of the writer, the sensor or the daemon.
            connection.execute("SET TimeZone = 'UTC'")
            if not self._migrated:
                self._migrate(connection)
            yield connection
        finally:
            connection.close()
            self.last_hold_s = time.perf_counter() - opened

    def _migrate(self, connection: duckdb.DuckDBPyConnection) -> None:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        applied = {v for (v,) in connection.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in MIGRATIONS:
            if version in applied:
                continue
            connection.execute("BEGIN")
            connection.execute(sql)
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
            connection.execute("COMMIT")
        self._migrated = True

    def schema_version(self) -> int:
        with self.connect() as connection:
            return connection.execute("SELECT max(version) FROM schema_migrations").fetchone()[0]

    def upsert_prompts(self, specs: Iterable[PromptSpec], parts: dict[str, dict[str, str]] | None = None) -> int:
        """Insert or update rows by `prompt_id`; returns how many rows were given."""
        specs = list(specs)
        self.write_prompts(specs, parts)
        return len(specs)

    def write_prompts(
        self,
        specs: Sequence[PromptSpec],
        parts: dict[str, dict[str, str]] | None = None,
        rejections: Sequence[Rejection] = (),
    ) -> int:
        """One short transaction: upsert the rows set-based, and replace their ids' import rejections.

        An update bumps `updated_at` and clears `deleted_at` only when a value changes (re-importing
        an unchanged row is not a change); a move keeps the old day in `previous_scheduled_for`.
        Returns the rows inserted or changed.
        """
        with duckdb.connect() as staging:
            staging.execute("SET TimeZone = 'UTC'")
            stage(staging, specs, parts, rejections)
            with self.attached(staging) as schema:
                return write_staged(staging, schema)

    @contextmanager
    def attached(self, connection: duckdb.DuckDBPyConnection) -> Iterator[str]:
        """The warehouse attached to another (in-memory) connection as schema `warehouse`, briefly."""
        if not self._migrated:
            with self.connect():
                pass
        target = self.target.replace("'", "''")
        opened, _ = _when_unlocked(lambda: connection.execute(f"ATTACH '{target}' AS warehouse"))
        try:
            yield "warehouse"
        finally:
            connection.execute("DETACH warehouse")
            self.last_hold_s = time.perf_counter() - opened

    @staticmethod
    def _insert_rejections(connection, rejections: Sequence[Rejection], source: str) -> None:
        if rejections:
            connection.execute(
                "INSERT INTO prompt_rejections (prompt_id, scheduled_for, reason, source) "
                "SELECT unnest($ids), unnest($days), unnest($reasons), $source",
                {
                    "ids": [printable(r.prompt_id) for r in rejections],
                    "days": [printable(r.scheduled_for) for r in rejections],
                    "reasons": [printable(r.reason) for r in rejections],
                    "source": source,
                },
            )

    def day_rows(self, day: date, extra: Sequence[str] = ()) -> list[dict]:
        """The day's live (not soft-deleted) rows in a stable order."""
        return self.day_snapshot(day, extra)[0]

    def day_snapshot(self, day: date, extra: Sequence[str] = ()) -> tuple[list[dict], str]:
        """The day's live rows and their fingerprint, read in one transaction so they agree."""
        with self.connect() as connection:
            connection.execute("BEGIN")
            cursor = connection.execute(
                f"SELECT {', '.join((*PROMPT_COLUMNS, *extra))} FROM prompts "
                "WHERE scheduled_for = ? AND deleted_at IS NULL ORDER BY prompt_id",
                [day],
            )
            names = [d[0] for d in cursor.description]
            rows = [dict(zip(names, row)) for row in cursor.fetchall()]
            query = f"SELECT {FINGERPRINT_SQL} FROM prompts WHERE scheduled_for = ? AND deleted_at IS NULL"
            (fingerprint,) = connection.execute(query, [day]).fetchone()
            connection.execute("COMMIT")
        return rows, fingerprint

    def day_count(self, day: date) -> int:
        with self.connect() as connection:
            query = "SELECT count(*) FROM prompts WHERE scheduled_for = ? AND deleted_at IS NULL"
            return connection.execute(query, [day]).fetchone()[0]

    def day_fingerprints(self, days: Collection[date]) -> dict[date, str]:
        """Current fingerprint of each day's live rows ("0:0" for none); cost follows those days' rows."""
        if not days:
            return {}
        with self.connect() as connection:
            found = dict(
                connection.execute(
                    f"SELECT scheduled_for, {FINGERPRINT_SQL} FROM prompts WHERE deleted_at IS NULL "
                    "AND scheduled_for BETWEEN $low AND $high AND scheduled_for IN (SELECT unnest($days)) GROUP BY 1",
                    {"days": sorted(days), "low": min(days), "high": max(days)},
                ).fetchall()
            )
        return {day: found.get(day, EMPTY_FINGERPRINT) for day in days}

    def record_render(self, day: date, fingerprint: str, run_id: str | None) -> None:
        """What the day's prompts step last read: the reconciliation compares against it."""
        with self.connect() as connection:
            connection.execute(
                "INSERT INTO day_renders (scheduled_for, fingerprint, run_id) VALUES (?, ?, ?) "
                "ON CONFLICT (scheduled_for) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "run_id = excluded.run_id, rendered_at = now()",
                [day, fingerprint, run_id],
            )

    def last_renders(self, days: Collection[date]) -> dict[date, str]:
        """The recorded fingerprint of each of these days that was ever rendered."""
        if not days:
            return {}
        with self.connect() as connection:
            query = "SELECT scheduled_for, fingerprint FROM day_renders WHERE scheduled_for IN (SELECT unnest($days))"
            return dict(connection.execute(query, {"days": sorted(days)}).fetchall())

    def replace_rejections(self, day: date, prompt_ids: Sequence[str], rejections: Sequence[Rejection]) -> int:
        """The prompts step's latest verdict on these rows; import-time rejections are left alone."""
        with self.connect() as connection:
            connection.execute("BEGIN")
            connection.execute(
                "DELETE FROM prompt_rejections WHERE scheduled_for = ? AND list_contains(?, prompt_id) "
                "AND source IS DISTINCT FROM 'import'",
                [day.isoformat(), list(prompt_ids)],
            )
            self._insert_rejections(connection, rejections, "prompts")
            connection.execute("COMMIT")
        return len(rejections)

    def import_rejections(self, day: date) -> list[Rejection]:
        """Rows of this day that an import turned away, oldest first."""
        with self.connect() as connection:
            rows = connection.execute(
                "SELECT prompt_id, scheduled_for, reason FROM prompt_rejections "
                "WHERE source = 'import' AND scheduled_for = ? ORDER BY rejected_at, prompt_id",
                [day.isoformat()],
            ).fetchall()
        return [Rejection(*row) for row in rows]

    def rejections(self, day: date | None = None) -> list[dict]:
        query = "SELECT prompt_id, scheduled_for, reason, rejected_at, source FROM prompt_rejections"
        params: list = []
        if day is not None:
            query += " WHERE scheduled_for = ?"
            params.append(day.isoformat())
        with self.connect() as connection:
            cursor = connection.execute(query + " ORDER BY rejected_at, prompt_id", params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

"""The warehouse: migrations, prompt upserts, day reads, rejections, day renders.

The target is a DuckDB file path (the embedded default), a DuckDB connection string such as
`md:vidgen` for MotherDuck, or a PostgreSQL URL `postgresql://user:pass@host:port/db` for a
cluster, where every pod must reach the same warehouse. `connections.Session` runs the same SQL on
either engine. Every query is parameterized: prompt text is data, never SQL.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date
from pathlib import Path

from .connections import DUCKDB, POSTGRES, Dialect, Session, is_local_file, is_postgres, open_session, when_unlocked
from .schema import MIGRATIONS, for_postgres
from .themes import theme_fingerprints, with_themes
from .validation import PromptSpec, Rejection
from .writes import PROMPT_COLUMNS, WriteCounts, classify_staged, printable, stage, upsert_staged

EMPTY_FINGERPRINT = "0:0"
# Concurrent first connections of several processes migrate one at a time (PostgreSQL).
_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(hashtext('vidgen_assets.warehouse.migrations'))"
_IDS = "CAST(? AS VARCHAR[])"


def fingerprint_sql(dialect: Dialect) -> str:
    """Order-independent digest of a day's live rows: equal digests mean the day would render the same.

    A row count and the XOR of each row's 64-bit hash. Digests compare within one engine only:
    DuckDB's `hash` and PostgreSQL's `hashtextextended` differ, and each warehouse keeps its own.
    """
    return f"count(*) || ':' || coalesce(bit_xor({dialect.row_hash.format(columns=', '.join(PROMPT_COLUMNS))}), 0)"


FINGERPRINT_SQL = fingerprint_sql(DUCKDB)


class Warehouse:
    def __init__(self, target: str | Path):
        self.target = str(target)
        self._migrated = False
        self.last_hold_s = 0.0  # how long the last connection (or write transaction) held the warehouse

    @property
    def is_file(self) -> bool:
        return is_local_file(self.target)

    @property
    def dialect(self) -> Dialect:
        return POSTGRES if is_postgres(self.target) else DUCKDB

    @contextmanager
    def connect(self) -> Iterator[Session]:
        """A short-lived UTC session; on a DuckDB file, waits while another process holds its lock."""
        opened, session = open_session(self.target)
        try:
            if not self._migrated:
                self._migrate(session)
            yield session
        finally:
            session.close()
            self.last_hold_s = time.perf_counter() - opened

    def _migrate(self, session: Session) -> None:
        """Apply pending migrations, each in its own transaction (PostgreSQL: all in one, under a lock)."""
        create = (
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP DEFAULT current_timestamp)"
        )
        if session.is_postgres:
            with session.transaction():
                session.execute(_MIGRATION_LOCK)
                session.execute(create)
                self._apply(session, for_postgres)
        else:
            session.execute(create)
            self._apply(session, lambda version, sql: sql)
        self._migrated = True

    @staticmethod
    def _apply(session: Session, text) -> None:
        applied = {v for (v,) in session.execute("SELECT version FROM schema_migrations").fetchall()}
        for version, name, sql in MIGRATIONS:
            if version not in applied:
                with session.transaction():
                    session.execute(text(version, sql))
                    session.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])

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
        if_exists: str = "replace",
        source: str | None = None,
    ) -> WriteCounts:
        """One short transaction: upsert the rows set-based, and replace their ids' import rejections.

        An update bumps `updated_at` and clears `deleted_at` only when a value changes (re-importing
        an unchanged row is not a change); a move keeps the old day in `previous_scheduled_for`.
        `if_exists` says what a live id gets: `replace`, `skip` (left as it is) or `error` (`ExistingIds`,
        nothing written). The rows written get `source` as their owner (`writes.stage`). Returns the
        new, changed, moved and skipped rows.
        """
        if self.dialect is POSTGRES:
            with self.connect() as session:
                started = time.perf_counter()
                with session.transaction():
                    stage(session, specs, parts, rejections, source)
                    counts = classify_staged(session, if_exists=if_exists)
                    upsert_staged(session)
                self.last_hold_s = time.perf_counter() - started
                return counts
        import duckdb

        with duckdb.connect() as staging:
            staging.execute("SET TimeZone = 'UTC'")
            session = Session(staging, DUCKDB)
            stage(session, specs, parts, rejections, source)
            with self.attached(staging) as schema, session.transaction():
                counts = classify_staged(session, f"{schema}.", if_exists)
                upsert_staged(session, f"{schema}.")
                return counts

    @contextmanager
    def attached(self, connection) -> Iterator[str]:
        """A DuckDB warehouse attached to another (in-memory) DuckDB connection as schema `warehouse`, briefly."""
        if not self._migrated:
            with self.connect():
                pass
        target = self.target.replace("'", "''")
        opened, _ = when_unlocked(lambda: connection.execute(f"ATTACH '{target}' AS warehouse"))
        try:
            yield "warehouse"
        finally:
            connection.execute("DETACH warehouse")
            self.last_hold_s = time.perf_counter() - opened

    @staticmethod
    def _insert_rejections(session: Session, rejections: Sequence[Rejection], source: str) -> None:
        if rejections:
            session.execute(
                "INSERT INTO prompt_rejections (prompt_id, scheduled_for, reason, source) "
                "SELECT unnest(CAST($ids AS VARCHAR[])), unnest(CAST($days AS VARCHAR[])), "
                "unnest(CAST($reasons AS VARCHAR[])), CAST($source AS VARCHAR)",
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
        """The day's live rows and their fingerprint (with its live themes'), read from one snapshot so they agree."""
        with self.connect() as session, session.transaction(snapshot=True):
            rows = session.rows(
                f"SELECT {', '.join((*PROMPT_COLUMNS, *extra))} FROM prompts "
                "WHERE scheduled_for = ? AND deleted_at IS NULL ORDER BY prompt_id",
                [day],
            )
            query = f"SELECT {fingerprint_sql(session.dialect)} FROM prompts WHERE scheduled_for = ? AND deleted_at IS NULL"
            (fingerprint,) = session.execute(query, [day]).fetchone()
            fingerprint = with_themes(fingerprint, theme_fingerprints(session, [day]).get(day))
        return rows, fingerprint

    def days_of(self, prompt_ids: Collection[str]) -> dict[str, date]:
        """The day each live row among `prompt_ids` is scheduled for (ids not found are left out)."""
        if not prompt_ids:
            return {}
        marks = ", ".join("?" for _ in prompt_ids)
        with self.connect() as session:
            query = f"SELECT prompt_id, scheduled_for FROM prompts WHERE deleted_at IS NULL AND prompt_id IN ({marks})"
            return {prompt_id: day for prompt_id, day in session.execute(query, list(prompt_ids)).fetchall()}

    def day_count(self, day: date) -> int:
        with self.connect() as session:
            query = "SELECT count(*) FROM prompts WHERE scheduled_for = ? AND deleted_at IS NULL"
            return session.execute(query, [day]).fetchone()[0]

    def day_fingerprints(self, days: Collection[date]) -> dict[date, str]:
        """Current fingerprint of each day's live rows and themes ("0:0" for none); cost follows those days' rows."""
        if not days:
            return {}
        with self.connect() as session:
            found = dict(
                session.execute(
                    f"SELECT scheduled_for, {fingerprint_sql(session.dialect)} FROM prompts WHERE deleted_at IS NULL "
                    "AND scheduled_for BETWEEN $low AND $high "
                    "AND scheduled_for IN (SELECT unnest(CAST($days AS DATE[]))) GROUP BY 1",
                    {"days": sorted(days), "low": min(days), "high": max(days)},
                ).fetchall()
            )
            themes = theme_fingerprints(session, days)
        return {day: with_themes(found.get(day, EMPTY_FINGERPRINT), themes.get(day)) for day in days}

    def record_render(self, day: date, fingerprint: str, run_id: str | None) -> None:
        """What the day's prompts step last read: the reconciliation compares against it."""
        with self.connect() as session:
            session.execute(
                "INSERT INTO day_renders (scheduled_for, fingerprint, run_id) VALUES (?, ?, ?) "
                "ON CONFLICT (scheduled_for) DO UPDATE SET fingerprint = excluded.fingerprint, "
                "run_id = excluded.run_id, rendered_at = now()",
                [day, fingerprint, run_id],
            )

    def last_renders(self, days: Collection[date]) -> dict[date, str]:
        """The recorded fingerprint of each of these days that was ever rendered."""
        if not days:
            return {}
        with self.connect() as session:
            query = "SELECT scheduled_for, fingerprint FROM day_renders WHERE scheduled_for IN (SELECT unnest(CAST(? AS DATE[])))"
            return dict(session.execute(query, [sorted(days)]).fetchall())

    def replace_rejections(self, day: date, prompt_ids: Sequence[str], rejections: Sequence[Rejection]) -> int:
        """The prompts step's latest verdict on these rows; import-time rejections are left alone."""
        with self.connect() as session, session.transaction():
            session.execute(
                f"DELETE FROM prompt_rejections WHERE scheduled_for = ? AND prompt_id IN (SELECT unnest({_IDS})) "
                "AND source IS DISTINCT FROM 'import'",
                [day.isoformat(), list(prompt_ids)],
            )
            self._insert_rejections(session, rejections, "prompts")
        return len(rejections)

    def import_rejections(self, day: date) -> list[Rejection]:
        """Rows of this day that an import turned away, oldest first."""
        with self.connect() as session:
            rows = session.execute(
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
        with self.connect() as session:
            return session.rows(query + " ORDER BY rejected_at, prompt_id", params)

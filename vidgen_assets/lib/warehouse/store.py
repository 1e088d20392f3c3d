"""DuckDB-backed warehouse: migrations, prompt upserts, day reads, rejections, lineage.

The target is a file path (the embedded default) or any DuckDB connection string, such
as `md:vidgen` for MotherDuck; an attached Postgres works through DuckDB's postgres
extension. Every query is parameterized: prompt text is data, never SQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from datetime import date
from pathlib import Path

import duckdb

from .schema import MIGRATIONS
from .validation import PromptSpec, Rejection

PROMPT_COLUMNS = (
    "prompt_id", "scheduled_for", "prompt", "subject", "action", "location", "style", "camera",
    "lighting", "negative_prompt", "seed", "keyframe_model", "video_model", "motion_bucket_ids",
    "num_frames", "fps", "noise_aug_strength", "num_inference_steps", "min_guidance_scale",
    "max_guidance_scale", "decode_chunk_size", "width", "height",
)  # fmt: skip
LOCK_RETRY_SECONDS = 30.0


def _printable(text: str | None) -> str | None:
    """Rejected values may hold lone surrogates that no database accepts; keep them readable."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


class Warehouse:
    def __init__(self, target: str | Path):
        self.target = str(target)
        self._migrated = False

    @property
    def is_file(self) -> bool:
        return not (self.target.startswith(("md:", "motherduck:")) or self.target == ":memory:")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A short-lived connection; waits while another process holds the file's write lock."""
        if self.is_file:
            Path(self.target).parent.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        while True:
            try:
                connection = duckdb.connect(self.target)
                break
            except duckdb.IOException as error:
                # DuckDB files take one writer process at a time; steps of parallel runs queue here.
                if "lock" not in str(error).lower() or time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        try:
            if not self._migrated:
                self._migrate(connection)
            yield connection
        finally:
            connection.close()

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
        """Insert or update rows by `prompt_id`; an update bumps `updated_at` and clears `deleted_at`."""
        rows = []
        for spec in specs:
            values = asdict(spec)
            values.update((parts or {}).get(spec.prompt_id, {}))
            buckets = values["motion_bucket_ids"]
            values["motion_bucket_ids"] = None if buckets is None else ";".join(map(str, buckets))
            rows.append([values.get(column) for column in PROMPT_COLUMNS])
        if not rows:
            return 0
        columns = ", ".join(PROMPT_COLUMNS)
        updates = ", ".join(f"{c} = excluded.{c}" for c in PROMPT_COLUMNS[1:])
        # Re-importing an unchanged row is not a change: updated_at moves only when a value does.
        changed = " OR ".join(f"prompts.{c} IS DISTINCT FROM excluded.{c}" for c in PROMPT_COLUMNS[1:])
        with self.connect() as connection:
            connection.executemany(
                f"INSERT INTO prompts ({columns}) VALUES ({', '.join('?' * len(PROMPT_COLUMNS))}) "
                f"ON CONFLICT (prompt_id) DO UPDATE SET {updates}, updated_at = now(), deleted_at = NULL "
                f"WHERE {changed} OR prompts.deleted_at IS NOT NULL",
                rows,
            )
        return len(rows)

    def day_rows(self, day: date) -> list[dict]:
        """The day's live (not soft-deleted) rows in a stable order."""
        with self.connect() as connection:
            cursor = connection.execute(
                f"SELECT {', '.join(PROMPT_COLUMNS)} FROM prompts "
                "WHERE scheduled_for = ? AND deleted_at IS NULL ORDER BY prompt_id",
                [day],
            )
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def record_rejections(self, rejections: Sequence[Rejection]) -> int:
        if rejections:
            with self.connect() as connection:
                connection.executemany(
                    "INSERT INTO prompt_rejections (prompt_id, scheduled_for, reason) VALUES (?, ?, ?)",
                    [[_printable(r.prompt_id), _printable(r.scheduled_for), _printable(r.reason)] for r in rejections],
                )
        return len(rejections)

    def replace_rejections(self, day: date, prompt_ids: Sequence[str], rejections: Sequence[Rejection]) -> int:
        """The day's latest verdict on these rows: earlier rejections of the same ids are replaced."""
        with self.connect() as connection:
            connection.execute("BEGIN")
            connection.execute(
                "DELETE FROM prompt_rejections WHERE scheduled_for = ? AND list_contains(?, prompt_id)",
                [day.isoformat(), list(prompt_ids)],
            )
            if rejections:
                connection.executemany(
                    "INSERT INTO prompt_rejections (prompt_id, scheduled_for, reason) VALUES (?, ?, ?)",
                    [[_printable(r.prompt_id), _printable(r.scheduled_for), _printable(r.reason)] for r in rejections],
                )
            connection.execute("COMMIT")
        return len(rejections)

    def rejections(self, day: date | None = None) -> list[dict]:
        query = "SELECT prompt_id, scheduled_for, reason, rejected_at FROM prompt_rejections"
        params: list = []
        if day is not None:
            query += " WHERE scheduled_for = ?"
            params.append(day.isoformat())
        with self.connect() as connection:
            cursor = connection.execute(query + " ORDER BY rejected_at, prompt_id", params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]


"""Set-based prompt writes: a chunk is staged in memory, then written while the file is attached.

Turning Python values into DuckDB columns is the slow half of a write; it happens in a private
in-memory database, so the warehouse file (and its single-process lock) is held only for the
`INSERT … SELECT … ON CONFLICT` itself, about a third of a second per 50,000 rows.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

from .validation import PromptSpec, Rejection

PROMPT_COLUMNS = (
    "prompt_id", "scheduled_for", "prompt", "subject", "action", "location", "style", "camera",
    "lighting", "negative_prompt", "seed", "keyframe_model", "video_model", "motion_bucket_ids",
    "num_frames", "fps", "noise_aug_strength", "num_inference_steps", "min_guidance_scale",
    "max_guidance_scale", "decode_chunk_size", "width", "height", "takes", "take_crossfade_frames",
)  # fmt: skip
TYPES = {"scheduled_for": "DATE", "seed": "BIGINT", "num_frames": "INTEGER", "fps": "INTEGER",
         "noise_aug_strength": "DOUBLE", "num_inference_steps": "INTEGER", "min_guidance_scale": "DOUBLE",
         "max_guidance_scale": "DOUBLE", "decode_chunk_size": "INTEGER", "width": "INTEGER", "height": "INTEGER", "takes": "INTEGER",
         "take_crossfade_frames": "INTEGER"}  # fmt: skip
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in PROMPT_COLUMNS[1:])
# Re-importing an unchanged row is not a change: updated_at moves only when a value does.
_CHANGED = " OR ".join(f"prompts.{c} IS DISTINCT FROM excluded.{c}" for c in PROMPT_COLUMNS[1:])
_MOVED = (
    "previous_scheduled_for = CASE WHEN prompts.scheduled_for <> excluded.scheduled_for "
    "THEN prompts.scheduled_for ELSE prompts.previous_scheduled_for END"
)


def printable(text: str | None) -> str | None:
    """Rejected values may hold lone surrogates that no database accepts; keep them readable."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def _columns(specs: Sequence[PromptSpec], parts: dict[str, dict[str, str]] | None) -> dict[str, list]:
    columns: dict[str, list] = {c: [] for c in PROMPT_COLUMNS}
    for spec in specs:
        values = {**vars(spec), **(parts or {}).get(spec.prompt_id, {})}  # asdict deep-copies: 20x slower
        buckets = values["motion_bucket_ids"]
        values["motion_bucket_ids"] = None if buckets is None else ";".join(map(str, buckets))
        for column, items in columns.items():
            items.append(values.get(column))
    return columns


def stage(staging: duckdb.DuckDBPyConnection, specs, parts, rejections: Sequence[Rejection]) -> None:
    """Tables `chunk` and `rejected` in the in-memory staging database."""
    values = _columns(specs, parts)
    # A column that is empty in the whole chunk is a NULL literal, not a list to convert.
    given = {c: v for c, v in values.items() if c == "prompt_id" or any(x is not None for x in v)}
    selects = ", ".join(
        f"CAST({f'unnest(${c})' if c in given else 'NULL'} AS {TYPES.get(c, 'VARCHAR')}) AS {c}" for c in PROMPT_COLUMNS
    )
    staging.execute(f"CREATE OR REPLACE TABLE chunk AS SELECT {selects}", given)
    staging.execute(
        "CREATE OR REPLACE TABLE rejected AS SELECT unnest($ids) AS prompt_id, unnest($days) AS scheduled_for, "
        "unnest($reasons) AS reason",
        {
            "ids": [printable(r.prompt_id) for r in rejections] or [None],
            "days": [printable(r.scheduled_for) for r in rejections] or [None],
            "reasons": [printable(r.reason) for r in rejections] or [None],
        },
    )
    staging.execute("DELETE FROM rejected WHERE reason IS NULL")


def write_staged(connection: duckdb.DuckDBPyConnection, schema: str) -> int:
    """Upsert `chunk` into `<schema>.prompts` and replace those ids' import rejections; one transaction.

    An update bumps `updated_at` and clears `deleted_at` only when a value changes; a move keeps the
    old day in `previous_scheduled_for`. Returns the rows inserted or changed.
    """
    connection.execute("BEGIN")
    try:
        written = _upsert(connection, schema)
    except BaseException:
        connection.execute("ROLLBACK")  # so the warehouse can be detached (and its lock released) at once
        raise
    connection.execute("COMMIT")
    return written


def _upsert(connection: duckdb.DuckDBPyConnection, schema: str) -> int:
    columns = ", ".join(PROMPT_COLUMNS)
    (written,) = connection.execute(
        f"INSERT INTO {schema}.prompts ({columns}) SELECT {columns} FROM chunk "
        f"ON CONFLICT (prompt_id) DO UPDATE SET {_MOVED}, {_UPDATES}, updated_at = now(), deleted_at = NULL "
        f"WHERE {_CHANGED} OR prompts.deleted_at IS NOT NULL"
    ).fetchone()
    # The latest import is the verdict on an id: a valid re-import clears its old rejection.
    connection.execute(
        f"DELETE FROM {schema}.prompt_rejections WHERE source = 'import' AND prompt_id IN "
        "(SELECT prompt_id FROM chunk UNION ALL SELECT prompt_id FROM rejected)"
    )
    connection.execute(
        f"INSERT INTO {schema}.prompt_rejections (prompt_id, scheduled_for, reason, source) "
        "SELECT prompt_id, scheduled_for, reason, 'import' FROM rejected"
    )
    return written

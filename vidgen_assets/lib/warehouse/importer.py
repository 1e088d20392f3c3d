"""Prompt rows from CSV, Parquet or JSON-lines files, streamed in chunks; and the demo prompt set.

An import never holds the warehouse for long: each chunk is read and validated with the file
closed, then written in one short set-based transaction, so the prompts step and the change
sensor of other processes get in between chunks. Memory follows the chunk size, not the file.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

DEMO_SUBJECTS = ("a red fox", "a lighthouse keeper", "a paper boat")
DEMO_ACTIONS = ("walking slowly", "turning around")
DEMO_LOCATIONS = ("in fresh snow", "on a windy cliff")
DEMO_STYLES = ("cinematic, golden hour", "watercolor")
from .row_files import RowFile, read_row_chunks
from .validation import normal_id
from .writes import WriteCounts

CHUNK_ROWS = 50_000  # ~0.3 s of writing per chunk at 1M rows; readers wait through one window
KEPT_REJECTIONS = 1_000  # listed in the result; every one is in `prompt_rejections`
HEADER = "prompt_id,scheduled_for,prompt,negative_prompt,seed"


@dataclass
class ImportResult:
    """Totals of one import; `rejections` keeps the first `KEPT_REJECTIONS`."""

    rows: int = 0
    stored: int = 0  # valid rows the warehouse now holds as given: new, changed, moved or unchanged (not skipped)
    changed: int = 0  # rows inserted, changed or moved
    rejected: int = 0
    chunks: int = 0
    max_hold_s: float = 0.0  # the longest time one chunk held the warehouse file
    rejections: list = field(default_factory=list)
    writes: WriteCounts = field(default_factory=WriteCounts)  # new / changed / moved / skipped, with ids

    @property
    def unchanged(self) -> int:
        return self.stored - self.changed


def read_chunks(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict]]:
    """Raw prompt rows as they are in the file, `chunk_rows` at a time; validation decides what is usable.

    A file that cannot be read at all raises `ValueError` before the first chunk; a record that
    cannot be read (a malformed JSON line, a broken CSV record) becomes a row holding `READ_ERROR`.
    """
    return read_row_chunks(path, chunk_rows, RowFile("prompt_id", f"start with {HEADER}"))


def demo_rows(day: date, count: int = 6) -> list[dict]:
    """`count` rows composed from subjects × actions × locations × styles, seeded from their ids."""
    # The subject varies fastest, so even a short demo shows different scenes.
    combos = itertools.islice(itertools.product(DEMO_STYLES, DEMO_LOCATIONS, DEMO_ACTIONS, DEMO_SUBJECTS), count)
    rows = []
    for number, (style, location, action, subject) in enumerate(combos, start=1):
        prompt_id = f"demo-{day.isoformat()}-{number:03d}"
        rows.append(
            {
                "prompt_id": prompt_id,
                "scheduled_for": day.isoformat(),
                "subject": subject,
                "action": action,
                "location": location,
                "style": style,
                "negative_prompt": "blurry, low quality",
                "seed": int(hashlib.sha256(prompt_id.encode()).hexdigest()[:8], 16),
            }
        )
    return rows


def import_chunks(
    warehouse,
    chunks: Iterable[list[dict]],
    keyframe_models,
    video_models,
    default_video_model: str | None = None,
    progress: Callable[[ImportResult], None] | None = None,
    *,
    first_day: date | None = None,
    if_exists: str = "replace",
) -> ImportResult:
    """Validate and write each chunk in its own short transaction; rejections are recorded, never raised.

    `first_day` (the first daily partition) turns away earlier days; `if_exists` is what an id the
    warehouse already holds gets: `replace`, `skip`, or `error` (`writes.ExistingIds`).
    """
    from ..generation.params import apply_preset_limits
    from .validation import validate_rows

    video_model = default_video_model or os.getenv("VIDGEN_VIDEO_MODEL", "tiny")
    result, seen = ImportResult(), set()
    for chunk in chunks:
        parts: dict[str, dict[str, str]] = {}  # those of the copy that was kept, whichever row it was
        specs, rejections = validate_rows(chunk, keyframe_models, video_models, first_row=result.rows + 1,
                                          seen=seen, first_day=first_day, parts=parts)  # fmt: skip
        specs, over_limits = apply_preset_limits(specs, video_model)
        rejections += over_limits
        counts = warehouse.write_prompts(specs, parts, rejections, if_exists=if_exists)
        result.writes.add(counts)
        result.changed += counts.written
        result.max_hold_s = max(result.max_hold_s, warehouse.last_hold_s)
        result.rows += len(chunk)
        result.stored += len(specs) - counts.skipped  # a skipped row was valid but left as the warehouse had it
        result.rejected += len(rejections)
        result.chunks += 1
        result.rejections += rejections[: KEPT_REJECTIONS - len(result.rejections)]
        if progress:
            progress(result)
    return result


def import_file(warehouse, path: str | Path, keyframe_models, video_models, chunk_rows: int = CHUNK_ROWS,
                progress: Callable[[ImportResult], None] | None = None, *, first_day: date | None = None,
                if_exists: str = "replace") -> ImportResult:  # fmt: skip
    """The public import path: stream the file, write chunk by chunk.

    Under `if_exists="error"` the file's ids are looked up first, so a clash stops it before any write.
    """
    if if_exists == "error":
        from .writes import ExistingIds, printable

        for chunk in read_chunks(path, chunk_rows):
            ids = {normal_id(row["prompt_id"]) for row in chunk if row.get("prompt_id") is not None}
            ids = sorted(i for i in ids if printable(i) == i)  # others are rejected anyway; NUL breaks the query
            if live := live_ids(warehouse, ids):
                raise ExistingIds(live, len(live))
    return import_chunks(warehouse, read_chunks(path, chunk_rows), keyframe_models, video_models, progress=progress,
                         first_day=first_day, if_exists=if_exists)  # fmt: skip


def live_ids(warehouse, ids: list[str]) -> list[str]:
    """Which of these ids the warehouse holds as live (not soft-deleted) rows."""
    with warehouse.connect() as session:
        query = ("SELECT prompt_id FROM prompts WHERE deleted_at IS NULL "
                 "AND prompt_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY prompt_id")  # fmt: skip
        return [prompt_id for (prompt_id,) in session.execute(query, [ids]).fetchall()]


def import_rows(
    warehouse, rows: list[dict], keyframe_models, video_models, default_video_model: str | None = None
) -> tuple[int, list]:
    """Validate and upsert rows held in memory. Returns (stored, rejections)."""
    result = import_chunks(
        warehouse, (rows[i : i + CHUNK_ROWS] for i in range(0, len(rows), CHUNK_ROWS)),
        keyframe_models, video_models, default_video_model,
    )  # fmt: skip
    return result.stored, result.rejections

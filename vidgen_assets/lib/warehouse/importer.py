"""Prompt rows from CSV, Parquet or JSON-lines files, streamed in chunks; and the demo prompt set.

An import never holds the warehouse for long: each chunk is read and validated with the file
closed, then written in one short set-based transaction, so the prompts step and the change
sensor of other processes get in between chunks. Memory follows the chunk size, not the file.
"""

from __future__ import annotations

import csv
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
CHUNK_ROWS = 50_000  # ~0.3 s of writing per chunk at 1M rows; readers wait through one window
KEPT_REJECTIONS = 1_000  # listed in the result; every one is in `prompt_rejections`
_DUCKDB_READERS = {".parquet": "read_parquet(?)", ".jsonl": "read_json(?, format='newline_delimited')",
                   ".ndjson": "read_json(?, format='newline_delimited')"}  # fmt: skip


@dataclass
class ImportResult:
    """Totals of one import; `rejections` keeps the first `KEPT_REJECTIONS`."""

    rows: int = 0
    stored: int = 0  # valid rows written (inserted, changed or unchanged)
    changed: int = 0  # rows inserted or changed
    rejected: int = 0
    chunks: int = 0
    max_hold_s: float = 0.0  # the longest time one chunk held the warehouse file
    rejections: list = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.stored - self.changed


def read_chunks(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict]]:
    """Raw rows as they are in the file, `chunk_rows` at a time; validation decides what is usable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    reader = _DUCKDB_READERS.get(path.suffix.lower())
    if reader:
        import duckdb

        # An in-memory database of its own: the warehouse file is not touched while reading.
        with duckdb.connect() as connection:
            result = connection.execute(f"SELECT * FROM {reader}", [str(path)])
            names = [d[0] for d in result.description]
            while batch := result.fetchmany(chunk_rows):
                yield [dict(zip(names, row)) for row in batch]
        return
    # errors="surrogateescape" keeps undecodable bytes so the row is rejected, not the file.
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        rows = csv.DictReader(handle)
        if not rows.fieldnames or "prompt_id" not in rows.fieldnames:
            raise ValueError(f"{path}: the header must start with prompt_id,scheduled_for,prompt,negative_prompt,seed")
        while batch := list(itertools.islice(rows, chunk_rows)):
            yield batch


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
) -> ImportResult:
    """Validate and write each chunk in its own short transaction; rejections are recorded, never raised."""
    from ..generation.params import apply_preset_limits
    from .validation import PROMPT_PARTS, validate_rows

    video_model = default_video_model or os.getenv("VIDGEN_VIDEO_MODEL", "tiny")
    result, seen = ImportResult(), set()
    for chunk in chunks:
        specs, rejections = validate_rows(chunk, keyframe_models, video_models, first_row=result.rows + 1, seen=seen)
        specs, over_limits = apply_preset_limits(specs, video_model)
        rejections += over_limits
        valid = {spec.prompt_id for spec in specs}
        parts = {}
        for row in chunk:
            prompt_id = str(row.get("prompt_id") or "").strip()
            if prompt_id in valid and prompt_id not in parts:  # a later duplicate was rejected
                parts[prompt_id] = {p: str(row[p]).strip() for p in PROMPT_PARTS if row.get(p)}
        result.changed += warehouse.write_prompts(specs, parts, rejections)
        result.max_hold_s = max(result.max_hold_s, warehouse.last_hold_s)
        result.rows += len(chunk)
        result.stored += len(specs)
        result.rejected += len(rejections)
        result.chunks += 1
        result.rejections += rejections[: KEPT_REJECTIONS - len(result.rejections)]
        if progress:
            progress(result)
    return result


def import_file(warehouse, path: str | Path, keyframe_models, video_models, chunk_rows: int = CHUNK_ROWS,
                progress: Callable[[ImportResult], None] | None = None) -> ImportResult:  # fmt: skip
    """The public import path: stream the file, write chunk by chunk."""
    return import_chunks(warehouse, read_chunks(path, chunk_rows), keyframe_models, video_models, progress=progress)


def import_rows(
    warehouse, rows: list[dict], keyframe_models, video_models, default_video_model: str | None = None
) -> tuple[int, list]:
    """Validate and upsert rows held in memory. Returns (stored, rejections)."""
    result = import_chunks(
        warehouse, (rows[i : i + CHUNK_ROWS] for i in range(0, len(rows), CHUNK_ROWS)),
        keyframe_models, video_models, default_video_model,
    )  # fmt: skip
    return result.stored, result.rejections

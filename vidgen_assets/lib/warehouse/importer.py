"""Prompt rows from CSV or Parquet files, and the demo prompt set."""

from __future__ import annotations

import csv
import hashlib
import itertools
from datetime import date
from pathlib import Path

DEMO_SUBJECTS = ("a red fox", "a lighthouse keeper", "a paper boat")
DEMO_ACTIONS = ("walking slowly", "turning around")
DEMO_LOCATIONS = ("in fresh snow", "on a windy cliff")
DEMO_STYLES = ("cinematic, golden hour", "watercolor")


def read_rows(path: str | Path) -> list[dict]:
    """Raw rows as they are in the file; validation decides what is usable."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    if path.suffix.lower() == ".parquet":
        import duckdb

        with duckdb.connect() as connection:
            cursor = connection.execute("SELECT * FROM read_parquet(?)", [str(path)])
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]
    # errors="surrogateescape" keeps undecodable bytes so the row is rejected, not the file.
    with path.open(newline="", encoding="utf-8", errors="surrogateescape") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or "prompt_id" not in reader.fieldnames:
            raise ValueError(f"{path}: the header must start with prompt_id,scheduled_for,prompt,negative_prompt,seed")
        return [dict(row) for row in reader]


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


def import_rows(
    warehouse, rows: list[dict], keyframe_models, video_models, default_video_model: str | None = None
) -> tuple[int, list]:
    """Validate and upsert rows; rejections are recorded, never raised. Returns (stored, rejections)."""
    import os

    from ..generation.params import apply_preset_limits
    from .validation import PROMPT_PARTS, validate_rows

    specs, rejections = validate_rows(rows, keyframe_models, video_models)
    specs, over_limits = apply_preset_limits(specs, default_video_model or os.getenv("VIDGEN_VIDEO_MODEL", "tiny"))
    rejections += over_limits
    parts = {
        str(row["prompt_id"]).strip(): {p: str(row[p]).strip() for p in PROMPT_PARTS if row.get(p)}
        for row in rows
        if row.get("prompt_id")
    }
    stored = warehouse.upsert_prompts(specs, parts)
    warehouse.record_rejections(rejections)
    return stored, rejections

"""Turn raw prompt rows (CSV strings, Parquet values, warehouse rows) into validated specs.

A bad row never raises: it becomes a `Rejection` whose reason a person can act on, and the
rest of the day goes on.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

PROMPT_PARTS = ("subject", "action", "location", "style", "camera", "lighting")
MAX_PROMPT_CHARS = 2000
MAX_ID_CHARS = 128
MAX_SEED = 2**63 - 1  # BIGINT; torch generators take any non-negative 64-bit seed
MAX_MOTION_BUCKETS = 8
MAX_NUM_FRAMES = 128
MAX_TAKES = 64  # the video model's own `max_takes` is checked after validation
MAX_FPS = 60
MIN_SIDE, MAX_SIDE = 32, 2048
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode Cc, less tab and newline


@dataclass(frozen=True)
class PromptSpec:
    """One valid prompt row; optional fields left `None` take the preset's defaults."""

    prompt_id: str
    scheduled_for: date
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    keyframe_model: str | None = None
    video_model: str | None = None
    motion_bucket_ids: tuple[int, ...] | None = None
    num_frames: int | None = None
    fps: int | None = None
    subject: str | None = None
    style: str | None = None
    noise_aug_strength: float | None = None
    num_inference_steps: int | None = None
    min_guidance_scale: float | None = None
    max_guidance_scale: float | None = None
    decode_chunk_size: int | None = None
    width: int | None = None
    height: int | None = None
    takes: int | None = None
    take_crossfade_frames: int | None = None


@dataclass(frozen=True)
class Rejection:
    prompt_id: str | None
    scheduled_for: str | None
    reason: str


class RowError(ValueError):
    """A field of one row is unusable; the message names the field."""


def _blank(value: object) -> bool:
    """Missing: None or whitespace. NaN is not missing but junk, and is rejected where it appears."""
    return value is None or (isinstance(value, str) and not value.strip())


def _text(value: object, field: str, *, limit: int = MAX_PROMPT_CHARS) -> str:
    text = str(value).strip()
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{field} is not valid Unicode (lone surrogate)") from None
    if len(text) > limit:
        raise RowError(f"{field} has {len(text)} characters; the limit is {limit}")
    # Category Cc is exactly these ranges; one regex search is ~50x faster than a per-character loop.
    control = _CONTROLS.search(text)
    if control:
        raise RowError(f"{field} contains control character {control.group()!r}")
    return text


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise RowError(f"{field} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError(f"{field} must be an integer, got {value!r}")
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RowError(f"{field} must be an integer, got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise RowError(f"{field} must be between {low} and {high}, got {number}")
    return number


def _number(value: object, field: str, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise RowError(f"{field} must be a number, got {str(value)[:40]!r}") from None
    if not low <= number <= high:  # also false for NaN
        raise RowError(f"{field} must be between {low} and {high}, got {number}")
    return number


def _even_size(value: object, field: str) -> int:
    size = _integer(value, field, MIN_SIDE, MAX_SIDE)
    if size % 2:
        # yuv420p halves both sides; local models further need multiples of 8 (params.preset_limit_error).
        raise RowError(f"{field} must be even, got {size}")
    return size


# Optional per-row generation knobs: field -> parser. Absent fields take the preset's defaults.
KNOBS = {
    "num_frames": lambda v: _integer(v, "num_frames", 1, MAX_NUM_FRAMES),
    "fps": lambda v: _integer(v, "fps", 1, MAX_FPS),
    "noise_aug_strength": lambda v: _number(v, "noise_aug_strength", 0.0, 1.0),
    "num_inference_steps": lambda v: _integer(v, "num_inference_steps", 1, 200),
    "min_guidance_scale": lambda v: _number(v, "min_guidance_scale", 0.0, 30.0),
    "max_guidance_scale": lambda v: _number(v, "max_guidance_scale", 0.0, 30.0),
    "decode_chunk_size": lambda v: _integer(v, "decode_chunk_size", 1, 64),
    "takes": lambda v: _integer(v, "takes", 1, MAX_TAKES),
    "take_crossfade_frames": lambda v: _integer(v, "take_crossfade_frames", 0, MAX_NUM_FRAMES),
    "width": lambda v: _even_size(v, "width"),
    "height": lambda v: _even_size(v, "height"),
}


def parse_day(value: object) -> date:
    if isinstance(value, date):
        day = value
    else:
        try:
            day = date.fromisoformat(str(value).strip()[:10])
        except ValueError:
            raise RowError(f"scheduled_for must be a date YYYY-MM-DD, got {str(value)[:40]!r}") from None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise RowError(f"scheduled_for {day} is outside {EARLIEST_DAY}..{LATEST_DAY}")
    return day


def parse_motion_buckets(value: object) -> tuple[int, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    buckets = tuple(_integer(item, "motion_bucket_ids", 0, 255) for item in items if not _blank(item))
    if not buckets:
        raise RowError("motion_bucket_ids is given but holds no bucket")
    if len(buckets) > MAX_MOTION_BUCKETS:
        raise RowError(f"motion_bucket_ids has {len(buckets)} buckets; the limit is {MAX_MOTION_BUCKETS}")
    return buckets


def compose_prompt(row: Mapping[str, object]) -> str:
    """`subject action location, style, camera, lighting` from whichever parts are given."""
    head = " ".join(str(row[p]).strip() for p in ("subject", "action", "location") if not _blank(row.get(p)))
    tail = [str(row[p]).strip() for p in ("style", "camera", "lighting") if not _blank(row.get(p))]
    return ", ".join([head, *tail] if head else tail)


def validate_row(
    row: Mapping[str, object],
    keyframe_models: Collection[str],
    video_models: Collection[str],
) -> PromptSpec:
    """One row to a `PromptSpec`, or `RowError` naming the field that is wrong."""
    if _blank(row.get("prompt_id")):
        raise RowError("prompt_id is empty")
    prompt_id = _text(row["prompt_id"], "prompt_id", limit=MAX_ID_CHARS)
    if _blank(row.get("scheduled_for")):
        raise RowError("scheduled_for is empty")
    scheduled_for = parse_day(row["scheduled_for"])
    raw_prompt = row.get("prompt")
    prompt = _text(compose_prompt(row) if _blank(raw_prompt) else raw_prompt, "prompt")
    if not prompt:
        raise RowError("prompt is empty and no prompt parts (subject, action, ...) are given")
    optional = {}
    for field, models in (("keyframe_model", keyframe_models), ("video_model", video_models)):
        if not _blank(row.get(field)):
            name = _text(row[field], field, limit=200)
            if name not in models:
                raise RowError(f"{field} {name!r} is unknown; known: {', '.join(sorted(models))}")
            optional[field] = name
    if not _blank(row.get("motion_bucket_ids")):
        optional["motion_bucket_ids"] = parse_motion_buckets(row["motion_bucket_ids"])
    for field, parse in KNOBS.items():
        if not _blank(row.get(field)):
            optional[field] = parse(row[field])
    if optional.get("min_guidance_scale", 0) > optional.get("max_guidance_scale", float("inf")):
        raise RowError("min_guidance_scale is greater than max_guidance_scale")
    for part in ("subject", "style"):
        if not _blank(row.get(part)):
            optional[part] = _text(row[part], part, limit=200)
    return PromptSpec(
        prompt_id=prompt_id,
        scheduled_for=scheduled_for,
        prompt=prompt,
        negative_prompt="" if _blank(row.get("negative_prompt")) else _text(row["negative_prompt"], "negative_prompt"),
        seed=0 if _blank(row.get("seed")) else _integer(row["seed"], "seed", 0, MAX_SEED),
        **optional,
    )


def validate_rows(
    rows: Iterable[Mapping[str, object]],
    keyframe_models: Collection[str],
    video_models: Collection[str],
    *,
    first_row: int = 1,
    seen: set[str] | None = None,
) -> tuple[list[PromptSpec], list[Rejection]]:
    """Split rows into valid specs and rejections; a repeated `prompt_id` keeps the first.

    A chunked import passes its row offset and one `seen` set, so both hold across chunks.
    """
    valid: list[PromptSpec] = []
    rejected: list[Rejection] = []
    seen = set() if seen is None else seen
    for number, row in enumerate(rows, start=first_row):
        raw_id = None if _blank(row.get("prompt_id")) else str(row["prompt_id"])[:MAX_ID_CHARS]
        raw_day = None if _blank(row.get("scheduled_for")) else str(row["scheduled_for"])[:40]
        try:
            spec = validate_row(row, keyframe_models, video_models)
        except RowError as error:
            rejected.append(Rejection(raw_id, raw_day, f"row {number}: {error}"))
            continue
        if spec.prompt_id in seen:
            rejected.append(Rejection(raw_id, raw_day, f"row {number}: duplicate prompt_id {spec.prompt_id!r}"))
            continue
        seen.add(spec.prompt_id)
        valid.append(spec)
    return valid, rejected

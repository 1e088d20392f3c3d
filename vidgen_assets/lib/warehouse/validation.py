"""Turn raw prompt rows (CSV strings, Parquet values, warehouse rows) into validated specs.

A bad row never raises: it becomes a `Rejection` whose reason a person can act on, and the
rest of the day goes on.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from .fields import (
    KNOBS, MAX_ID_CHARS, MAX_SEED, READ_ERROR, RowError, checked_int, checked_text, is_blank, normal_id, parse_day,
    parse_motion_buckets, row_parts, SHOT_FIELDS, shot_errors,
)  # fmt: skip


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
    scene: str | None = None
    scene_order: int | None = None
    start_from: str | None = None  # "keyframe" (the default) or "previous"
    end_prompt: str | None = None
    restyle_of: str | None = None
    source_uri: str | None = None
    strength: float | None = None


@dataclass(frozen=True)
class Rejection:
    prompt_id: str | None
    scheduled_for: str | None
    reason: str



def compose_prompt(row: Mapping[str, object]) -> str:
    """`subject action location, style, camera, lighting` from whichever parts are given."""
    head = " ".join(str(row[p]).strip() for p in ("subject", "action", "location") if not is_blank(row.get(p)))
    tail = [str(row[p]).strip() for p in ("style", "camera", "lighting") if not is_blank(row.get(p))]
    return ", ".join([head, *tail] if head else tail)


def validate_row(
    row: Mapping[str, object],
    keyframe_models: Collection[str],
    video_models: Collection[str],
    first_day: date | None = None,
) -> PromptSpec:
    """One row to a `PromptSpec`, or `RowError` naming the field that is wrong."""
    if row.get(READ_ERROR):
        raise RowError(row[READ_ERROR])
    if is_blank(row.get("prompt_id")):
        raise RowError("prompt_id is empty")
    prompt_id = normal_id(checked_text(row["prompt_id"], "prompt_id", limit=MAX_ID_CHARS))
    if is_blank(row.get("scheduled_for")):
        raise RowError("scheduled_for is empty")
    scheduled_for = parse_day(row["scheduled_for"], first_day)
    parts = row_parts(row)
    raw_prompt = row.get("prompt")
    prompt = checked_text(compose_prompt(parts) if is_blank(raw_prompt) else raw_prompt, "prompt")
    if not prompt:
        raise RowError("prompt is empty and no prompt parts (subject, action, ...) are given")
    optional = {}
    for field, models in (("keyframe_model", keyframe_models), ("video_model", video_models)):
        if not is_blank(row.get(field)):
            name = checked_text(row[field], field, limit=200)
            if name not in models:
                raise RowError(f"{field} {name!r} is unknown; known: {', '.join(sorted(models))}")
            optional[field] = name
    if not is_blank(row.get("motion_bucket_ids")):
        optional["motion_bucket_ids"] = parse_motion_buckets(row["motion_bucket_ids"])
    for field, parse in KNOBS.items():
        if not is_blank(row.get(field)):
            optional[field] = parse(row[field])
    shot = {field: parse(row[field]) for field, parse in SHOT_FIELDS.items() if not is_blank(row.get(field))}
    shot_errors(prompt_id, shot)
    optional.update(shot)
    if optional.get("min_guidance_scale", 0) > optional.get("max_guidance_scale", float("inf")):
        raise RowError("min_guidance_scale is greater than max_guidance_scale")
    optional.update({part: parts[part] for part in ("subject", "style") if part in parts})
    return PromptSpec(
        prompt_id=prompt_id,
        scheduled_for=scheduled_for,
        prompt=prompt,
        negative_prompt="" if is_blank(row.get("negative_prompt")) else checked_text(row["negative_prompt"], "negative_prompt"),
        seed=0 if is_blank(row.get("seed")) else checked_int(row["seed"], "seed", 0, MAX_SEED),
        **optional,
    )


def validate_rows(
    rows: Iterable[Mapping[str, object]],
    keyframe_models: Collection[str],
    video_models: Collection[str],
    *,
    first_row: int = 1,
    seen: set[str] | None = None,
    first_day: date | None = None,
    parts: dict[str, dict[str, str]] | None = None,
) -> tuple[list[PromptSpec], list[Rejection]]:
    """Split rows into valid specs and rejections; a repeated `prompt_id` keeps the first valid copy.

    A chunked import passes its row offset and one `seen` set, so both hold across chunks. Given a
    `parts` dict, each valid row's composition parts go into it by id: those of that very row.
    """
    valid: list[PromptSpec] = []
    rejected: list[Rejection] = []
    seen = set() if seen is None else seen
    for number, row in enumerate(rows, start=first_row):
        raw_id = None if is_blank(row.get("prompt_id")) else normal_id(row["prompt_id"])[:MAX_ID_CHARS]
        raw_day = None if is_blank(row.get("scheduled_for")) else str(row["scheduled_for"])[:40]
        try:
            spec = validate_row(row, keyframe_models, video_models, first_day)
        except RowError as error:
            rejected.append(Rejection(raw_id, raw_day, f"row {number}: {error}"))
            continue
        if spec.prompt_id in seen:
            rejected.append(Rejection(raw_id, raw_day, f"row {number}: duplicate prompt_id {spec.prompt_id!r}"))
            continue
        seen.add(spec.prompt_id)
        valid.append(spec)
        if parts is not None:
            parts[spec.prompt_id] = row_parts(row)
    return valid, rejected

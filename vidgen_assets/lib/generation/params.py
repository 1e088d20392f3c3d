"""Per-row generation settings: preset defaults, overridden by what the prompt row says."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, fields
from typing import Any

from ..warehouse.validation import Rejection
from .presets import VIDEO_TASKS, ModelPreset, get_preset
from .videos import ClipParams

KEYFRAME_FIELDS = ("width", "height", "num_inference_steps", "guidance_scale")


def keyframe_settings(preset: ModelPreset) -> dict[str, Any]:
    return {field: preset.defaults[field] for field in KEYFRAME_FIELDS}


def motion_buckets(row: Mapping[str, Any], preset: ModelPreset) -> tuple[int, ...]:
    """One clip per bucket; text-to-video models have no motion buckets and make one clip."""
    if preset.task == "text-to-video":
        return (0,)
    return tuple(row.get("motion_bucket_ids") or preset.defaults["motion_bucket_ids"])


def clip_params(row: Mapping[str, Any], preset: ModelPreset, motion_bucket_id: int) -> ClipParams:
    """The clip's full parameter set (row value, else preset default); all of it goes into the clip's key."""
    values: dict[str, Any] = {"motion_bucket_id": motion_bucket_id, "seed": row.get("seed") or 0}
    for field in fields(ClipParams):
        if field.name in values:
            continue
        if row.get(field.name) is not None:
            values[field.name] = row[field.name]
        elif field.name in preset.defaults:
            values[field.name] = preset.defaults[field.name]
    if preset.task != "image-to-video":
        values["takes"] = 1  # no image to continue from; import rejects takes here, a later default model may not
    return ClipParams(**values)


def clip_param_values(row: Mapping[str, Any], preset: ModelPreset, motion_bucket_id: int) -> dict[str, Any]:
    """The clip's parameters as stored on its item: all of them locally; for a hosted model only those it
    reads (and `takes`), so the quality check compares only what the provider was asked for."""
    values = asdict(clip_params(row, preset, motion_bucket_id))
    if preset.hosted:
        return {name: values[name] for name in (*preset.hosted.params_read(), "takes")}
    return values


def preset_limit_error(row: Mapping[str, Any], preset: ModelPreset) -> str | None:
    """Why the row asks for more than the video model can do, or None."""
    if preset.hosted:
        if problem := preset.hosted.limit_error(row, preset.name):
            return problem
    else:
        for side in ("width", "height"):
            if (row.get(side) or 0) % 8:
                latents = "its latents are 1/8 of the image, so sides are multiples of 8"
                return f"{side} {row[side]} does not fit {preset.name!r}: {latents}"
            if (row.get(side) or 0) > preset.max_side:
                return f"{side} {row[side]} exceeds {preset.max_side}, the largest side video model {preset.name!r} makes"
    frames = row.get("num_frames")
    if frames and frames > preset.max_frames:
        return f"num_frames {frames} exceeds {preset.max_frames}, the most video model {preset.name!r} makes"
    takes = row.get("takes")
    if takes and takes > 1 and preset.task != "image-to-video":
        return f"takes {takes} needs an image-to-video model; {preset.name!r} renders from text"
    if takes and takes > preset.max_takes:
        return f"takes {takes} exceeds {preset.max_takes}, the most video model {preset.name!r} extends"
    fade, length = row.get("take_crossfade_frames") or 0, frames or preset.defaults.get("num_frames", 0)
    if fade and fade > length - 2:
        return f"take_crossfade_frames {fade} needs takes longer than {fade + 1} frames; they have {length}"
    if preset.pipeline_class == "WanPipeline" and frames and (frames - 1) % 4:
        return f"num_frames {frames} does not fit {preset.name!r}: it makes 4k+1 frames (e.g. 9, 17, 33)"
    return None


def apply_preset_limits(specs: Sequence, default_video_model: str) -> tuple[list, list[Rejection]]:
    """Split validated rows into those the video model can render and rejections saying why not."""
    accepted, rejected = [], []
    for spec in specs:
        preset = get_preset(spec.video_model or default_video_model, *VIDEO_TASKS)
        problem = preset_limit_error(vars(spec), preset)  # asdict deep-copies every field: slow at 1M rows
        if problem:
            rejected.append(Rejection(spec.prompt_id, spec.scheduled_for.isoformat(), problem))
        else:
            accepted.append(spec)
    return accepted, rejected

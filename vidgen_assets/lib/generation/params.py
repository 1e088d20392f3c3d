"""Per-row generation settings: preset defaults, overridden by what the prompt row says."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .presets import ModelPreset
from .videos import ClipParams

KEYFRAME_FIELDS = ("width", "height", "num_inference_steps", "guidance_scale")


def keyframe_settings(preset: ModelPreset) -> dict[str, Any]:
    return {field: preset.defaults[field] for field in KEYFRAME_FIELDS}


def motion_buckets(row: Mapping[str, Any], preset: ModelPreset) -> tuple[int, ...]:
    return tuple(row.get("motion_bucket_ids") or preset.defaults["motion_bucket_ids"])


def clip_params(row: Mapping[str, Any], preset: ModelPreset, motion_bucket_id: int) -> ClipParams:
    """The clip's full parameter set; every field is part of the clip's content key."""
    defaults = preset.defaults
    return ClipParams(
        num_frames=row.get("num_frames") or defaults["num_frames"],
        fps=row.get("fps") or defaults["fps"],
        motion_bucket_id=motion_bucket_id,
        noise_aug_strength=defaults["noise_aug_strength"],
        num_inference_steps=defaults["num_inference_steps"],
        min_guidance_scale=defaults["min_guidance_scale"],
        max_guidance_scale=defaults["max_guidance_scale"],
        decode_chunk_size=defaults["decode_chunk_size"],
        width=defaults["width"],
        height=defaults["height"],
        seed=row.get("seed") or 0,
    )


def preset_limit_error(row: Mapping[str, Any], preset: ModelPreset) -> str | None:
    """Why the row asks for more than the video model can do, or None."""
    frames = row.get("num_frames")
    if frames and frames > preset.max_frames:
        return f"num_frames {frames} exceeds {preset.max_frames}, the most video model {preset.name!r} makes"
    return None

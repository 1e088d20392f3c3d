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
        return f"takes {takes} needs an image-to-video model; {preset.name!r} is {preset.task}"
    if takes and takes > preset.max_takes:
        return f"takes {takes} exceeds {preset.max_takes}, the most video model {preset.name!r} extends"
    fade, length = row.get("take_crossfade_frames") or 0, frames or preset.defaults.get("num_frames", 0)
    if fade and fade > length - 2:
        return f"take_crossfade_frames {fade} needs takes longer than {fade + 1} frames; they have {length}"
    # Wan's causal VAE makes a first frame plus groups of 4 frames, LTX's plus groups of 8.
    wan = preset.pipeline_class in ("WanPipeline", "WanImageToVideoPipeline", "WanVideoToVideoPipeline")
    if wan and frames and (frames - 1) % 4:
        return f"num_frames {frames} does not fit {preset.name!r}: it makes 4k+1 frames (e.g. 9, 17, 33)"
    if preset.pipeline_class == "LTXConditionPipeline" and frames and (frames - 1) % 8:
        return f"num_frames {frames} does not fit {preset.name!r}: it makes 8k+1 frames (e.g. 25, 121, 257)"
    multiple = {"WanImageToVideoPipeline": 16, "WanVideoToVideoPipeline": 16, "LTXConditionPipeline": 32}
    for side in ("width", "height"):
        if (row.get(side) or 0) % multiple.get(preset.pipeline_class, 1):
            sides = multiple[preset.pipeline_class]
            return f"{side} {row[side]} does not fit {preset.name!r}: its sides are multiples of {sides}"
    if preset.pipeline_class == "WanVideoToVideoPipeline":  # it runs int(steps x strength) steps
        from .conditioned import strength_error

        steps = row.get("num_inference_steps") or preset.defaults["num_inference_steps"]
        if problem := strength_error(steps, row.get("strength") or preset.defaults.get("strength", 1.0)):
            return f"{problem} ({preset.name!r})"
    return None


def apply_preset_limits(specs: Sequence, default_video_model: str) -> tuple[list, list[Rejection]]:
    """Split validated rows into those the video model can render and rejections saying why not."""
    accepted, rejected = [], []
    for spec in specs:
        preset = get_preset(spec.video_model or default_video_model, *VIDEO_TASKS)
        row = vars(spec)  # asdict deep-copies every field: slow at 1M rows
        problem = preset_limit_error(row, preset) or mode_error(row, preset)
        if problem:
            rejected.append(Rejection(spec.prompt_id, spec.scheduled_for.isoformat(), problem))
        else:
            accepted.append(spec)
    return accepted, rejected


def needed_modes(row: Mapping) -> dict[str, str]:
    """What the row's shot gives its video model (mode -> the column that asks for it)."""
    needs = {}
    if row.get("restyle_of") or row.get("source_uri"):
        needs["video"] = "restyle_of" if row.get("restyle_of") else "source_uri"
    if row.get("start_from") == "previous":
        needs["image"] = "start_from previous"
    if row.get("end_prompt"):
        needs["last_image"] = "end_prompt"
    return needs


def mode_error(row: Mapping, preset: ModelPreset) -> str | None:
    """Why the row's video model cannot make the shot the row asks for, or None."""
    takes = ", ".join(preset.modes)
    for mode, column in needed_modes(row).items():
        if mode not in preset.modes:
            return f"{column} needs a video model that takes {_MODE_WORDS[mode]}; {preset.name!r} takes {takes}"
    if "last_image" in preset.required_modes and not row.get("end_prompt"):
        return f"video model {preset.name!r} ends every shot on a last frame: give end_prompt"
    if "video" in preset.modes and "video" not in needed_modes(row):
        return f"video model {preset.name!r} restyles a clip: give restyle_of (a row of the day) or source_uri"
    if (row.get("takes") or 1) > 1 and needed_modes(row):
        return "takes > 1 extends a shot from its keyframe; continuations, end_prompt and restyles are single takes"
    return None


_MODE_WORDS = {"image": "a start image", "last_image": "a last frame", "video": "a source video", "text": "text alone"}

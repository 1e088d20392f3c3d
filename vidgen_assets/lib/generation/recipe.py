"""Content-key recipes: everything that changes an output's bytes, and nothing that doesn't.

The full recipe per kind is in `lib/storage/README.md`; change both together.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..storage import content_key
from ..video.encode import ENCODER_SETTINGS
from .loader import pick_device, pick_dtype
from .presets import ModelPreset, get_preset

# Bump a stage's version, with a test, whenever its rendering or encoding code changes the bytes it writes:
# every output made by the old code gets a new key and is rendered again; other stages keep theirs.
RENDER_VERSIONS = {"keyframe": 1, "clip": 1, "reel": 1}

KEYFRAME_INPUTS = ("prompt", "negative_prompt", "seed", "model", "revision", "width", "height",
                   "num_inference_steps", "guidance_scale")  # fmt: skip
# ClipParams fields each task's renderer reads. Text-to-video decodes in one pass (the chunk only splits
# encoder writes) and has no motion bucket or image guidance; image-to-video has no text guidance.
CLIP_PARAMS = {
    "image-to-video": ("num_frames", "fps", "motion_bucket_id", "noise_aug_strength", "num_inference_steps",
                       "min_guidance_scale", "max_guidance_scale", "decode_chunk_size", "width", "height", "seed"),
    "text-to-video": ("num_frames", "fps", "num_inference_steps", "guidance_scale", "width", "height", "seed"),
    "video-to-video": ("num_frames", "fps", "num_inference_steps", "guidance_scale", "width", "height", "seed",
                       "strength"),
}  # fmt: skip
# Pipelines whose knobs are not their task's: Wan's and LTX's image-conditioned pipelines are text-guided
# transformers (no motion bucket or image guidance), LTX's conditioning also takes a strength.
PIPELINE_PARAMS = {
    "WanImageToVideoPipeline": CLIP_PARAMS["text-to-video"],
    "LTXConditionPipeline": CLIP_PARAMS["video-to-video"],
}


def resolved_dtype(preset: ModelPreset, device: str = "auto", requested: str = "auto") -> str:
    """The torch dtype the loader uses for `preset` on `device`, e.g. "float32"; "hosted" for hosted models."""
    if preset.hosted:
        return preset.dtype
    return str(pick_dtype(pick_device(device), preset.dtype if requested == "auto" else requested)).removeprefix("torch.")


def negative_prompt_for(row: Mapping[str, Any], preset: ModelPreset) -> str:
    """The row's negative prompt if the model reads it (guidance > 1), else "" so edits don't re-render."""
    return (row.get("negative_prompt") or "") if preset.uses_negative_prompt else ""


def keyframe_key(item: Mapping[str, Any], dtype: str) -> str:
    inputs = {name: item[name] for name in KEYFRAME_INPUTS}
    return content_key("keyframe", {**inputs, "dtype": dtype, "render_version": RENDER_VERSIONS["keyframe"]})


def clip_key(item: Mapping[str, Any], params: Mapping[str, Any], dtype: str) -> str:
    """`params` are the ones actually rendered with (an out-of-memory retry lowers the decode chunk)."""
    # The keyframe, and the text where the model reads it (plan._text); then the shots it is made from.
    # `step_cache` (plan_clips) is on an item only while the lever is on: keys without it are unchanged.
    source = {name: item[name] for name in ("keyframe", "prompt", "negative_prompt", "step_cache") if item.get(name) is not None}
    source.update(input_keys(item))
    return content_key("clip", {
        **source, "model": item["model"], "revision": item["revision"], "dtype": dtype,
        "params": {name: params[name] for name in params_read(item)},
        "encoder": ENCODER_SETTINGS, "render_version": RENDER_VERSIONS["clip"],
    })  # fmt: skip


def input_keys(item: Mapping[str, Any]) -> dict:
    """What a shot's inputs from other shots add to its key: the clip it continues (from its last frame,
    which it starts on exactly), its end keyframe, the clip it restyles. Nothing for a plain shot."""
    keys = {}
    if item.get("start_clip"):
        keys["start_clip"] = {"key": item["start_clip"]["key"], "frame": "last", "anchored": True}
    if item.get("end_keyframe"):
        keys["end_keyframe"] = item["end_keyframe"]
    if item.get("source"):
        keys["source_video"] = item["source"]["key"]
    return keys


def params_read(item: Mapping[str, Any]) -> tuple[str, ...]:
    """The clip params that change the item's output (a hosted model reads fewer): they go into its keys."""
    preset = get_preset(item["preset"], item["task"])
    if preset.hosted:
        return preset.hosted.params_read()
    return PIPELINE_PARAMS.get(preset.pipeline_class) or CLIP_PARAMS[item["task"]]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def reel_key(clip_keys: list[str], settings, audio_sha256: str | None, *, soundtrack_key: str | None = None,
             cut_plan: Mapping[str, Any] | None = None) -> str:
    """`clip_keys` in the reel's effective order; `settings` a ReelSettings (its order and audio path
    are replaced by that order and the audio's content). A generated soundtrack stands in for the audio by
    its key, with the cut plan made from its beats."""
    chosen = {k: v for k, v in asdict(settings).items() if k not in ("order", "audio_path")}
    recipe = {
        "clips": clip_keys, "settings": chosen, "audio_sha256": audio_sha256,
        "encoder": ENCODER_SETTINGS, "render_version": RENDER_VERSIONS["reel"],
    }  # fmt: skip
    if soundtrack_key is not None:  # only then: a reel without a soundtrack keeps the key it always had
        recipe |= {"soundtrack": soundtrack_key, "cut_plan": dict(cut_plan or {})}
    return content_key("reel", recipe)

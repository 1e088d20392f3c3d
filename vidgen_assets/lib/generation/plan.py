"""Plan a day's keyframes and clips as content-addressed items, and render shards of them.

An item is a small JSON-able dict: what to render, its content key, where it goes. Items
whose file already exists in the media store are cache hits and are not rendered again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

from PIL import Image

from ..storage import MediaStore, content_key
from .keyframes import KeyframeRequest, render_keyframes
from .params import clip_params, keyframe_settings, motion_buckets
from .presets import get_preset
from .profile import StepProfile
from .videos import ClipParams, render_clip, render_text_to_video
from .loader import model_revision

GetPipeline = Callable[[str, str], Any]  # (preset name, task) -> loaded pipeline
Report = Callable[[str], None]  # receives one progress line per rendered item


def video_preset_for(row: Mapping[str, Any], default_video_model: str):
    return get_preset(row.get("video_model") or default_video_model, "image-to-video", "text-to-video")


def plan_keyframes(rows: Iterable[Mapping[str, Any]], default_model: str, default_video_model: str) -> list[dict]:
    """One keyframe per row, except rows whose video model renders straight from text."""
    items = []
    for row in rows:
        if video_preset_for(row, default_video_model).task == "text-to-video":
            continue
        preset = get_preset(row.get("keyframe_model") or default_model, "text-to-image")
        inputs = {
            "prompt": row["prompt"], "negative_prompt": row.get("negative_prompt") or "", "seed": row.get("seed") or 0,
            "model": preset.model_id, "revision": model_revision(preset), **keyframe_settings(preset),
        }  # fmt: skip
        key = content_key("keyframe", inputs)
        items.append({"prompt_id": row["prompt_id"], "key": key, "media_key": f"keyframes/{key}.png",
                      "preset": preset.name, **inputs})  # fmt: skip
    return items


def plan_clips(rows: Iterable[Mapping[str, Any]], keyframes: Sequence[Mapping[str, Any]], default_video_model: str) -> list[dict]:
    """One clip per keyframe and motion bucket; one clip per text-to-video row."""
    keyframe_by_prompt = {k["prompt_id"]: k for k in keyframes}
    items = []
    for row in rows:
        preset = video_preset_for(row, default_video_model)
        keyframe = keyframe_by_prompt.get(row["prompt_id"])
        if keyframe is None and preset.task != "text-to-video":
            continue  # its keyframe was not made; the keyframes manifest says why
        for bucket in motion_buckets(row, preset):
            params = asdict(clip_params(row, preset, bucket))
            source = {"keyframe": keyframe["key"]} if keyframe else {"prompt": row["prompt"],
                                                                      "negative_prompt": row.get("negative_prompt") or ""}
            inputs = {**source, "model": preset.model_id, "revision": model_revision(preset), "params": params}
            key = content_key("clip", inputs)
            items.append({
                "prompt_id": row["prompt_id"], "key": key, "media_key": f"clips/{key}.mp4", "preset": preset.name,
                "task": preset.task, "keyframe_media_key": keyframe["media_key"] if keyframe else None,
                "motion_bucket_id": bucket, **inputs,
            })  # fmt: skip
    return items


def shards(items: Sequence[dict], size: int) -> list[list[dict]]:
    """Items in consecutive shards of at most `size`; always at least one, so an empty day still completes."""
    if size < 1:
        raise ValueError(f"shard size must be at least 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]


def _mark_cached(store: MediaStore, items: Sequence[dict]) -> list[dict]:
    for item in items:
        item["cache_hit"] = store.exists(item["media_key"])
        item["uri"] = store.uri(item["media_key"])
    return [item for item in items if not item["cache_hit"]]


def render_keyframe_shard(
    items: Sequence[dict],
    store: MediaStore,
    get_pipeline: GetPipeline,
    profile: StepProfile,
    *,
    batch_size: int = 4,
    report: Report = print,
) -> list[dict]:
    """Render the shard's missing keyframes in batches per model; returns the items with results."""
    by_preset: dict[str, list[dict]] = defaultdict(list)
    for item in _mark_cached(store, items):
        by_preset[item["preset"]].append(item)
    for preset_name, pending in by_preset.items():
        preset = get_preset(preset_name, "text-to-image")
        requests = [KeyframeRequest(i["prompt"], i["negative_prompt"], i["seed"]) for i in pending]
        images = render_keyframes(
            get_pipeline(preset_name, "text-to-image"), requests, batch_size=batch_size, **keyframe_settings(preset)
        )
        started = time.perf_counter()
        for item, (_, image) in zip(pending, images):
            with store.writing(item["media_key"]) as path:
                image.save(path, format="PNG")
            # Batches finish together: charge each image its share of the time since the last one.
            item["seconds"] = round(time.perf_counter() - started, 4)
            report(f"keyframe {item['prompt_id']}: {profile.add(item['seconds'])}")
            started = time.perf_counter()
    return list(items)


def render_clip_shard(
    items: Sequence[dict], store: MediaStore, get_pipeline: GetPipeline, profile: StepProfile, *, report: Report = print
) -> list[dict]:
    """Render the shard's missing clips one by one, each straight into the media store."""
    for item in _mark_cached(store, items):
        params = ClipParams(**item["params"])
        pipeline = get_pipeline(item["preset"], item["task"])
        started = time.perf_counter()
        with store.writing(item["media_key"]) as path:
            if item["task"] == "text-to-video":
                result = render_text_to_video(pipeline, item["prompt"], item["negative_prompt"], path, params)
            else:
                with store.local_path(item["keyframe_media_key"]) as keyframe_path:
                    image = Image.open(keyframe_path).convert("RGB")
                result = render_clip(pipeline, image, path, params)
        item.update(seconds=round(time.perf_counter() - started, 4), frames=result.frames,
                    timings={"denoise_s": round(result.denoise_s, 4), "decode_encode_s": round(result.decode_encode_s, 4)})  # fmt: skip
        progress = profile.add(item["seconds"], denoise_steps=params.num_inference_steps, denoise_seconds=result.denoise_s)
        report(f"clip {item['prompt_id']} bucket {item['motion_bucket_id']}: {progress}")
    return list(items)

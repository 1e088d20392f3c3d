"""Plan a day's keyframes and clips as content-addressed items, and render shards of them.

An item is a small JSON-able dict: what to render, its content key, where it goes. Items
whose file already exists in the media store are cache hits and are not rendered again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from itertools import islice
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

from PIL import Image

from ..storage import MediaStore
from .keyframes import KeyframeRequest, render_keyframes
from .params import clip_param_values, keyframe_settings, motion_buckets
from .presets import VIDEO_TASKS, ModelPreset, get_preset
from .recipe import clip_key, keyframe_key, negative_prompt_for, resolved_dtype
from .profile import StepProfile
from .takes import key_takes, render_takes
from .videos import ClipParams, render_clip, render_text_to_video
from .loader import is_out_of_memory, model_revision, release_memory

GetPipeline = Callable[[str, str], Any]  # (preset name, task) -> loaded pipeline
Report = Callable[[str], None]  # receives progress lines (at most ~20 per shard) and retries
DtypeOf = Callable[[ModelPreset], str]  # the dtype a preset renders in on this step's device


def video_preset_for(row: Mapping[str, Any], default_video_model: str):
    return get_preset(row.get("video_model") or default_video_model, *VIDEO_TASKS)


def plan_keyframes(
    rows: Iterable[Mapping[str, Any]], default_model: str, default_video_model: str, dtype_of: DtypeOf = resolved_dtype
) -> list[dict]:
    """One keyframe per row, except rows whose video model renders straight from text.

    Keys use `dtype_of` here; the rendering step settles them for the dtype it really uses.
    """
    items = []
    for row in rows:
        if video_preset_for(row, default_video_model).task == "text-to-video":
            continue
        preset = get_preset(row.get("keyframe_model") or default_model, "text-to-image")
        item = {
            "prompt_id": row["prompt_id"], "preset": preset.name, "prompt": row["prompt"],
            "negative_prompt": negative_prompt_for(row, preset), "seed": row.get("seed") or 0,
            "model": preset.model_id, "revision": model_revision(preset), **keyframe_settings(preset),
        }  # fmt: skip
        items.append(_keyed_keyframe(item, dtype_of(preset)))
    return items


def plan_clips(
    rows: Iterable[Mapping[str, Any]],
    keyframes: Sequence[Mapping[str, Any]],
    default_video_model: str,
    dtype_of: DtypeOf = resolved_dtype,
) -> list[dict]:
    """One clip per keyframe and motion bucket; one clip per text-to-video row."""
    keyframe_by_prompt = {k["prompt_id"]: k for k in keyframes}
    items = []
    for row in rows:
        preset = video_preset_for(row, default_video_model)
        keyframe = keyframe_by_prompt.get(row["prompt_id"])
        if keyframe is None and preset.task != "text-to-video":
            continue  # its keyframe was not made; the keyframes output says why
        for bucket in motion_buckets(row, preset):
            source = {"keyframe": keyframe["key"]} if keyframe else {
                "prompt": row["prompt"], "negative_prompt": negative_prompt_for(row, preset)}  # fmt: skip
            if keyframe and preset.hosted and preset.hosted.reads_prompt:
                source["prompt"] = row["prompt"]  # the provider reads it beside the keyframe: part of the key
            item = {
                "prompt_id": row["prompt_id"], "preset": preset.name, "task": preset.task,
                "keyframe_media_key": keyframe["media_key"] if keyframe else None, "motion_bucket_id": bucket,
                **source, "model": preset.model_id, "revision": model_revision(preset),
                "params": clip_param_values(row, preset, bucket),
                **({"provider": preset.hosted.provider} if preset.hosted else {}),
            }  # fmt: skip
            items.append(_keyed_clip(item, item["params"], dtype_of(preset)))
    return items


def _keyed_keyframe(item: dict, dtype: str) -> dict:
    key = keyframe_key(item, dtype)
    item.update(dtype=dtype, key=key, media_key=f"keyframes/{key}.png")
    return item


def _keyed_clip(item: dict, params: Mapping[str, Any], dtype: str) -> dict:
    if params.get("takes", 1) > 1:
        key_takes(item, params, dtype)
        return item
    key = clip_key(item, params, dtype)
    item.update(dtype=dtype, key=key, media_key=f"clips/{key}.mp4")
    return item


def shards(items: Sequence[dict], rows_per_shard: int) -> list[list[dict]]:
    """Items split into shards of at most `rows_per_shard` prompt rows (a row's clips stay together).

    Always at least one shard, so an empty day still completes with an (empty) output.
    """
    if rows_per_shard < 1:
        raise ValueError(f"shard size must be at least 1 row, got {rows_per_shard}")
    by_row: dict[str, list[dict]] = {}
    for item in items:
        by_row.setdefault(item["prompt_id"], []).append(item)
    groups = list(by_row.values())
    return [
        [item for group in groups[i : i + rows_per_shard] for item in group]
        for i in range(0, len(groups), rows_per_shard)
    ] or [[]]


def mark_cached(store: MediaStore, items: Sequence[dict]) -> list[dict]:
    """Flag items whose file exists (one batched lookup); returns the ones to render. Rows sharing a
    content key render once: the first is rendered, the others reuse it, as a later shard would."""
    existing = store.existing(item["media_key"] for item in items)
    pending, planned = [], set(existing)
    for item in items:
        item["cache_hit"] = item["media_key"] in planned
        item["uri"] = store.uri(item["media_key"])
        for take in item.get("takes", ()):
            take["uri"] = store.uri(take["media_key"])
        if not item["cache_hit"]:
            pending.append(item)
            planned.add(item["media_key"])
    return pending


def _settle_keys(items: Sequence[dict], dtype_of: DtypeOf) -> None:
    """Re-key items for the dtype this step renders in (the planning step may run on another device)."""
    for item in items:
        dtype = dtype_of(get_preset(item["preset"], item.get("task", "text-to-image")))
        if dtype == item["dtype"]:
            continue
        if "task" in item:
            _keyed_clip(item, item["params"], dtype)
        else:
            _keyed_keyframe(item, dtype)


def render_keyframe_shard(
    items: Sequence[dict],
    store: MediaStore,
    get_pipeline: GetPipeline,
    profile: StepProfile,
    *,
    batch_size: int = 4,
    report: Report = print,
    dtype_of: DtypeOf = resolved_dtype,
) -> list[dict]:
    """Render the shard's missing keyframes in batches per model; returns the items with results.

    Rows with and without a negative prompt never share a batch: guided pipelines treat "no negative
    prompt" differently when any neighbour has one, so mixing would make pixels depend on the batch.
    """
    _settle_keys(items, dtype_of)
    by_batch: dict[tuple[str, bool], list[dict]] = defaultdict(list)
    pending = mark_cached(store, items)
    profile.total = len(pending)  # progress and ETA count what this step renders
    for item in pending:
        by_batch[item["preset"], bool(item["negative_prompt"])].append(item)
    for (preset_name, _), pending in by_batch.items():
        preset = get_preset(preset_name, "text-to-image")
        pipeline = get_pipeline(preset_name, "text-to-image")
        done, size = 0, batch_size
        while done < len(pending):
            started = time.perf_counter()
            try:
                requests = [KeyframeRequest(i["prompt"], i["negative_prompt"], i["seed"]) for i in pending[done:]]
                rendered = zip(pending[done:], render_keyframes(pipeline, requests, batch_size=size, **keyframe_settings(preset)))
                # One pipeline call makes a whole batch: the first image arrives after all of the batch's work,
                # the others at once. Each image is charged an equal share of its batch's time (saves included).
                while batch := list(islice(rendered, size)):
                    for item, (_, image) in batch:
                        with store.writing(item["media_key"]) as path:
                            image.save(path, format="PNG")
                    share = round((time.perf_counter() - started) / len(batch), 4)
                    for item, _ in batch:
                        item.update(seconds=share, device=profile.device)
                        if progress := profile.add(share):
                            report(f"keyframe {item['prompt_id']}: {progress}")
                    started, done = time.perf_counter(), done + len(batch)
            except Exception as error:
                if not is_out_of_memory(error) or size == 1:
                    raise
                # Seeds are per row, so a smaller batch renders the same images.
                size = max(1, size // 2)
                release_memory()
                report(f"out of memory: retrying the remaining {len(pending) - done} keyframes in batches of {size}")
    return list(items)


def render_clip_shard(
    items: Sequence[dict],
    store: MediaStore,
    get_pipeline: GetPipeline,
    profile: StepProfile,
    *,
    report: Report = print,
    dtype_of: DtypeOf = resolved_dtype,
) -> list[dict]:
    """Render the shard's missing clips one by one, each straight into the media store.

    An out-of-memory retry decodes in smaller chunks, which changes SVD's pixels: the clip is stored
    under the key of the chunk it was rendered with, and the item carries that key.
    """
    _settle_keys(items, dtype_of)
    pending = mark_cached(store, items)
    profile.total = len(pending)  # progress and ETA count what this step renders
    for item in pending:
        params = ClipParams(**item["params"])
        pipeline = get_pipeline(item["preset"], item["task"])
        started = time.perf_counter()
        while True:
            try:
                result = _render_one_clip(pipeline, item, store, params)
                break
            except Exception as error:
                if not is_out_of_memory(error) or params.decode_chunk_size == 1:
                    raise
                params = replace(params, decode_chunk_size=max(1, params.decode_chunk_size // 2))
                _keyed_clip(item, asdict(params), item["dtype"])
                release_memory()
                report(f"out of memory on {item['prompt_id']}: retrying with decode chunk {params.decode_chunk_size}")
                if store.exists(item["media_key"]):  # an earlier run's retry already rendered this chunk size
                    result = None
                    break
        item.update(uri=store.uri(item["media_key"]), cache_hit=result is None, params=asdict(params))
        if result is None:
            continue
        item.update(seconds=round(time.perf_counter() - started, 4), frames=result.frames, device=profile.device,
                    decode_chunk_size_used=params.decode_chunk_size,
                    timings={"denoise_s": round(result.denoise_s, 4), "decode_encode_s": round(result.decode_encode_s, 4)})  # fmt: skip
        progress = profile.add(item["seconds"], denoise_steps=params.num_inference_steps, denoise_seconds=result.denoise_s)
        if progress:
            report(f"clip {item['prompt_id']} bucket {item['motion_bucket_id']}: {progress}")
    return list(items)


def _render_one_clip(pipeline, item: dict, store: MediaStore, params: ClipParams):
    if item.get("takes"):
        return render_takes(pipeline, item, store, params)  # writes each take, then the joined clip
    with store.writing(item["media_key"]) as path:
        if item["task"] == "text-to-video":
            return render_text_to_video(pipeline, item["prompt"], item["negative_prompt"], path, params)
        with store.local_path(item["keyframe_media_key"]) as keyframe_path:
            image = Image.open(keyframe_path).convert("RGB")
        return render_clip(pipeline, image, path, params)

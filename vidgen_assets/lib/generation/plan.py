"""Plan a day's keyframes and clips as content-addressed items, and split them into shards.

An item is a small JSON-able dict: what to render, its content key, where it goes. Items
whose file already exists in the media store are cache hits and are not rendered again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ..storage import MediaStore
from .levers import caches_steps
from .loader import model_revision
from .params import clip_param_values, keyframe_settings, motion_buckets
from .presets import VIDEO_TASKS, ModelPreset, get_preset
from .recipe import clip_key, keyframe_key, negative_prompt_for, resolved_dtype
from .scenes import components, dependencies, previous_shots, render_order
from .shot_plan import SourceKey, attach_inputs, note_played
from .takes import key_takes

GetPipeline = Callable[[str, str], Any]  # (preset name, task) -> loaded pipeline
Report = Callable[[str], None]  # receives progress lines (at most ~20 per shard) and retries
DtypeOf = Callable[[ModelPreset], str]  # the dtype a preset renders in on this step's device


# Local pipelines that read no text beside their image (SVD): the prompt is not part of their clips' keys.
IMAGE_ONLY_PIPELINES = ("StableVideoDiffusionPipeline",)


def video_preset_for(row: Mapping[str, Any], default_video_model: str):
    return get_preset(row.get("video_model") or default_video_model, *VIDEO_TASKS)


def plan_keyframes(
    rows: Iterable[Mapping[str, Any]], default_model: str, default_video_model: str, dtype_of: DtypeOf = resolved_dtype
) -> list[dict]:
    """A keyframe per row that starts from one, and an end keyframe per `end_prompt` (`role` "end").

    Rows rendered from text, continuing the previous shot or restyling a clip start from no keyframe.
    Keys use `dtype_of` here; the rendering step settles them for the dtype it really uses.
    """
    items = []
    for row in rows:
        video = video_preset_for(row, default_video_model)
        preset = get_preset(row.get("keyframe_model") or default_model, "text-to-image")
        starts = "image" in video.modes and row.get("start_from") != "previous" and not _restyles(row)
        prompts = ([(row["prompt"], {})] if starts else []) + (
            [(row["end_prompt"], {"role": "end"})] if row.get("end_prompt") else [])  # fmt: skip
        for prompt, role in prompts:
            item = {
                "prompt_id": row["prompt_id"], "preset": preset.name, "prompt": prompt,
                "negative_prompt": negative_prompt_for(row, preset), "seed": row.get("seed") or 0,
                "model": preset.model_id, "revision": model_revision(preset), **keyframe_settings(preset), **role,
            }  # fmt: skip
            items.append(key_keyframe(item, dtype_of(preset)))
    return items


def _restyles(row: Mapping[str, Any]) -> bool:
    return bool(row.get("restyle_of") or row.get("source_uri"))


def plan_clips(
    rows: Sequence[Mapping[str, Any]],
    keyframes: Sequence[Mapping[str, Any]],
    default_video_model: str,
    dtype_of: DtypeOf = resolved_dtype,
    source_key: SourceKey | None = None,
    *,
    step_cache: float = 0.0,
    decode_chunk_size: int = 0,
) -> list[dict]:
    """One clip per keyframe and motion bucket; one per text-to-video, continuation or restyle row.

    Items come in dependency order (a shot after the shots it starts from or restyles), each keyed with its
    inputs' keys. `source_key` brings a `source_uri` into the media store (`shot_plan.import_source`).
    Generation options that change pixels enter the clips they apply to, and so their keys: `step_cache`
    (first-block cache threshold; transformer models) and `decode_chunk_size` (the default of rows that
    set none; 0 keeps the preset's).
    """
    start_by_prompt = {k["prompt_id"]: k for k in keyframes if k.get("role") != "end"}
    end_by_prompt = {k["prompt_id"]: k for k in keyframes if k.get("role") == "end"}
    by_id = {row["prompt_id"]: row for row in rows}
    deps = dependencies(rows)
    order, _ = render_order(list(by_id), deps)  # validation rejected rows on cycles
    previous = previous_shots(rows)
    items, played = [], {}
    for prompt_id in order:
        row, dep_ids = by_id[prompt_id], deps.get(prompt_id, {}).values()
        preset = video_preset_for(row, default_video_model)
        keyframe = start_by_prompt.get(prompt_id)
        if "image" in preset.modes and not (keyframe or previous.get(prompt_id) or _restyles(row)):
            continue  # its keyframe was not made; the keyframes output says why
        if (row.get("end_prompt") and prompt_id not in end_by_prompt) or any(d not in played for d in dep_ids):
            continue  # an end keyframe or an input shot was not made: the keyframes output (or that shot's) says why
        if decode_chunk_size and row.get("decode_chunk_size") is None:
            row = {**row, "decode_chunk_size": decode_chunk_size}
        for bucket in motion_buckets(row, preset):
            item = {
                "prompt_id": prompt_id, "preset": preset.name, "task": preset.task,
                "keyframe_media_key": keyframe["media_key"] if keyframe else None, "motion_bucket_id": bucket,
                **({"keyframe": keyframe["key"]} if keyframe else {}), **_text(row, preset, keyframe),
                "model": preset.model_id, "revision": model_revision(preset),
                "params": clip_param_values(row, preset, bucket),
                **({"scene": row["scene"], "scene_order": row.get("scene_order")} if row.get("scene") else {}),
                **({"provider": preset.hosted.provider} if preset.hosted else {}),
                **({"step_cache": step_cache} if step_cache and caches_steps(preset) else {}),
            }  # fmt: skip
            try:
                attach_inputs(item, row, previous.get(prompt_id), played, end_by_prompt.get(prompt_id), source_key)
            except (OSError, ValueError) as error:  # a source_uri that is missing or not a video
                item.update(key=f"unreadable-{prompt_id}", media_key="", uri="", dtype=dtype_of(preset), cache_hit=False,
                            failure={"code": "source_unavailable", "reason": f"source_uri {row['source_uri']!r}: {str(error)[:250]}"},
                            timings={"cost_usd": 0.0})  # fmt: skip
                items.append(item)
                break
            if preset.hosted and preset.task == "video-to-video":
                # A hosted restyle is as long as its source, and billed by that length: its price says so.
                item["params"].update(num_frames=item["source"]["frames"], fps=item["source"]["fps"])
            items.append(key_clip(item, item["params"], dtype_of(preset)))
            note_played(played, item)
    return items


def _text(row: Mapping[str, Any], preset: ModelPreset, keyframe: Mapping | None) -> dict:
    """The text the model reads beside its inputs (part of the clip's key); none for SVD-like models."""
    both = {"prompt": row["prompt"], "negative_prompt": negative_prompt_for(row, preset)}
    if preset.hosted:
        if not preset.hosted.reads_prompt:
            return {}
        return {"prompt": row["prompt"]} if keyframe else both
    return {} if preset.pipeline_class in IMAGE_ONLY_PIPELINES else both


def key_keyframe(item: dict, dtype: str) -> dict:
    key = keyframe_key(item, dtype)
    item.update(dtype=dtype, key=key, media_key=f"keyframes/{key}.png")
    return item


def key_clip(item: dict, params: Mapping[str, Any], dtype: str) -> dict:
    if params.get("takes", 1) > 1:
        key_takes(item, params, dtype)
        return item
    key = clip_key(item, params, dtype)
    item.update(dtype=dtype, key=key, media_key=f"clips/{key}.mp4")
    return item


def shards(items: Sequence[dict], rows_per_shard: int) -> list[list[dict]]:
    """Items split into shards of about `rows_per_shard` prompt rows. A row's clips stay together, and so do
    shots tied by their inputs (a scene's continuations, a restyle and its source), in dependency order:
    one step renders them one after another. Always at least one shard, so an empty day still completes.
    """
    if rows_per_shard < 1:
        raise ValueError(f"shard size must be at least 1 row, got {rows_per_shard}")
    by_row: dict[str, list[dict]] = {}
    for item in items:
        by_row.setdefault(item["prompt_id"], []).append(item)
    deps = {pid: {str(i): dep for i, dep in enumerate(group[0].get("after", ()))} for pid, group in by_row.items()}
    planned, shard, rows = [], [], 0
    for tied in components(list(by_row), deps):
        if shard and rows + len(tied) > rows_per_shard:
            planned.append(shard)
            shard, rows = [], 0
        shard += [item for prompt_id in tied for item in by_row[prompt_id]]
        rows += len(tied)
    return planned + [shard] if shard or not planned else planned


def mark_cached(store: MediaStore, items: Sequence[dict]) -> list[dict]:
    """Flag items whose file exists (one batched lookup); returns the ones to render. Rows sharing a
    content key render once: the first is rendered, the others reuse it, as a later shard would."""
    items = [item for item in items if "failure" not in item]  # refused at planning (an unreadable source)
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



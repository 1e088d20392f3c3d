"""Render shards of planned items: keyframes in batches per model, clips one by one in dependency order.

Every item goes straight into the media store under its content key; items whose file exists are
cache hits (`plan.mark_cached`) and are not rendered again.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, replace
from functools import partial
from itertools import islice

from ..storage import MediaStore
from .batching import BatchedDenoise
from .encode_queue import EncodeQueue
from .keyframes import KeyframeRequest, render_keyframes
from .latents import drop_leftover_latents, latents_key
from .loader import is_out_of_memory, release_memory
from .params import keyframe_settings
from .plan import DtypeOf, GetPipeline, Report, key_clip, key_keyframe, mark_cached
from .presets import get_preset
from .profile import StepProfile
from .recipe import resolved_dtype
from .renderers import Decode, denoise_shot, render_shot
from .shot_plan import note_played, prepare_inputs, refresh_inputs, shot_inputs
from .takes import render_takes
from .videos import ClipParams, ClipResult


def _settle_keys(items: Sequence[dict], dtype_of: DtypeOf) -> None:
    """Re-key items for the dtype this step renders in (the planning step may run on another device), in
    order, so a shot made from another is keyed with that shot's settled key."""
    played: dict[str, dict] = {}
    for item in items:
        if "failure" in item:
            continue
        dtype = dtype_of(get_preset(item["preset"], item.get("task", "text-to-image")))
        if "task" not in item:
            if dtype != item["dtype"]:
                key_keyframe(item, dtype)
            continue
        if (item.get("after") and refresh_inputs(item, played)) or dtype != item["dtype"]:
            key_clip(item, item["params"], dtype)
        note_played(played, item)


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
    overlap_encode: bool = False,
    denoise_batch: int = 1,
) -> list[dict]:
    """Render the shard's missing clips one by one, each straight into the media store.

    An out-of-memory retry decodes in smaller chunks, which changes SVD's pixels: the clip is stored
    under the key of the chunk it was rendered with, and the item carries that key. SVD's and Wan
    text-to-video's latents are stashed before the decode (lib/generation/latents.py), so a retry or a resumed step
    decodes them without denoising again. With `overlap_encode`, a clip's decode and H.264 encode run
    on a CPU worker while the next clip denoises (the same bytes out). With `denoise_batch` > 1, clips that
    share all but keyframe and seed denoise that many at a time (lib/generation/batching.py).
    """
    _settle_keys(items, dtype_of)
    pending = mark_cached(store, items)
    drop_leftover_latents(store, [item["media_key"] for item in items if item.get("cache_hit")])
    to_render = {id(item) for item in pending}
    profile.total = len(pending)  # progress and ETA count what this step renders
    played: dict[str, dict] = {}
    clock = {"last_done": time.perf_counter()}  # an overlapped clip is charged the time since the previous one finished
    batches = BatchedDenoise(pending, store, get_pipeline, denoise_batch, report)
    with EncodeQueue(depth=1) as encoder:
        for item in items:  # in dependency order: a shot's inputs are made before it
            if "failure" in item:
                continue
            if item.get("after"):
                encoder.drain()  # its inputs are earlier clips: they must be stored, under their final keys
            note_played(played, item)
            if item.get("after") and refresh_inputs(item, played):  # an input was re-keyed by an out-of-memory retry
                key_clip(item, item["params"], item["dtype"])
                item.update(cache_hit=store.exists(item["media_key"]), uri=store.uri(item["media_key"]))
                if not item["cache_hit"]:
                    to_render.add(id(item))
            if id(item) not in to_render:
                continue
            if problem := prepare_inputs(item, store):
                item.update(cache_hit=False, uri="", failure={"code": "input_missing", "reason": problem})
                continue
            params = ClipParams(**item["params"])
            pipeline = get_pipeline(item["preset"], item["task"])
            if store.exists(latents_key(item["media_key"])):  # an earlier attempt stopped during its decode
                report(f"clip {item['prompt_id']}: decoding the latents an earlier attempt stored (no denoising)")
            stash = batches.stash_for(item)  # denoises the item's batch, if it is in one and first
            started = time.perf_counter()
            finish = partial(_finish_clip, item, store, pipeline, stash, profile, report, started, clock, batches.share(item))
            if overlap_encode and not item.get("takes"):
                try:
                    preset = get_preset(item["preset"], item["task"])
                    decode = denoise_shot(pipeline, preset, shot_inputs(item, store), params, stash)
                except Exception as error:  # an out-of-memory error is retried like a serial render's
                    finish(params, partial(_reraise, error))
                    continue
                if decode is not None:
                    job = partial(_write_clip, store, item["media_key"], decode)
                    # `finish` and `params` are bound now: the loop rebinds them before the job is done.
                    encoder.submit(job, lambda future, f=finish, p=params: f(p, future.result))
                    continue
            finish(params, None)
    return list(items)


def _finish_clip(item, store, pipeline, stash, profile, report, started, clock, share, params: ClipParams, attempt) -> None:
    """Render (or take `attempt`'s result) with out-of-memory retries in smaller decode chunks, and record it."""
    while True:
        try:
            result = attempt() if attempt else _render_one_clip(pipeline, item, store, params, stash)
            break
        except Exception as error:
            attempt = None
            if not is_out_of_memory(error) or params.decode_chunk_size == 1:
                raise
            params = replace(params, decode_chunk_size=max(1, params.decode_chunk_size // 2))
            key_clip(item, asdict(params), item["dtype"])
            release_memory()
            report(f"out of memory on {item['prompt_id']}: retrying with decode chunk {params.decode_chunk_size}")
            if store.exists(item["media_key"]):  # an earlier run's retry already rendered this chunk size
                result = None
                break
    stash.drop()  # the clip exists: its latents are no longer needed
    done = time.perf_counter()
    # `share`: a batched clip's part of its batch's denoising, spent before `started`.
    seconds, clock["last_done"] = done - max(started, clock["last_done"]) + share, done
    item.update(uri=store.uri(item["media_key"]), cache_hit=result is None, params=asdict(params))
    if result is None:
        return
    item.update(seconds=round(seconds, 4), frames=result.frames, device=profile.device,
                decode_chunk_size_used=params.decode_chunk_size,
                timings={"denoise_s": round(result.denoise_s + share, 4), "decode_encode_s": round(result.decode_encode_s, 4)})  # fmt: skip
    progress = profile.add(item["seconds"], denoise_steps=params.num_inference_steps, denoise_seconds=result.denoise_s + share)
    if progress:
        report(f"clip {item['prompt_id']} bucket {item['motion_bucket_id']}: {progress}")


def _reraise(error: BaseException):
    raise error


def _write_clip(store: MediaStore, media_key: str, decode: Decode) -> ClipResult:
    with store.writing(media_key) as path:
        return decode(path)


def _render_one_clip(pipeline, item: dict, store: MediaStore, params: ClipParams, stash):
    if item.get("takes"):
        return render_takes(pipeline, item, store, params)  # writes each take, then the joined clip
    shot = shot_inputs(item, store)
    with store.writing(item["media_key"]) as path:
        return render_shot(pipeline, get_preset(item["preset"], item["task"]), shot, path, params, stash)

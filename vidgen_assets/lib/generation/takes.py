"""Long takes: a clip extended take by take, each continuing from the previous take's last frame.

Take 1 is the clip the row would make with one take (same key, so it is shared); take k's key
includes take k-1's key. The clip joins the takes, dropping each continuation's first frame
(a copy of the frame it was conditioned on), and is keyed by the ordered take keys.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from PIL import Image

from ..storage import MediaStore, content_key
from ..video import ClipWriter
from ..video.encode import ENCODER_SETTINGS
from ..video.probe import iter_frames
from ..warehouse.lineage import lineage_row
from .recipe import RENDER_VERSIONS, clip_key, params_read
from .videos import ClipParams, ClipResult, render_clip


def join_settings(params: Mapping[str, Any]) -> dict:
    """How takes are joined; part of the clip's key. Each continuation's first frame repeats the last one."""
    return {"drop_first_frame": True, "crossfade_frames": params.get("take_crossfade_frames") or 0}


def take_seed(seed: int, index: int) -> int:
    """Each take gets its own noise, derived from the row's seed (take 1 keeps the row's seed)."""
    return seed + index


def key_takes(item: dict, params: Mapping[str, Any], dtype: str) -> None:
    """Set the item's `takes` (key and media key of each, in order) and its clip key from them."""
    keys = [clip_key(item, params, dtype)]
    take_params = {name: params[name] for name in params_read(item)}
    for index in range(1, params["takes"]):
        keys.append(content_key("take", {
            "previous": keys[-1], "model": item["model"], "revision": item["revision"], "dtype": dtype,
            "params": {**take_params, "seed": take_seed(params["seed"], index)},
            "encoder": ENCODER_SETTINGS, "render_version": RENDER_VERSIONS["clip"],
        }))  # fmt: skip
    key = content_key("clip", {"takes": keys, "join": join_settings(params), "encoder": ENCODER_SETTINGS,
                               "render_version": RENDER_VERSIONS["clip"]})  # fmt: skip
    item.update(dtype=dtype, key=key, media_key=f"clips/{key}.mp4",
                takes=[{"key": k, "media_key": f"clips/{k}.mp4"} for k in keys])  # fmt: skip


def last_frame(store: MediaStore, media_key: str) -> Image.Image:
    """The take's last frame, decoded as a stream (only one frame is kept)."""
    last = None
    with store.local_path(media_key) as path:
        for last in iter_frames(path):
            pass
    return Image.fromarray(last)


def render_takes(pipeline, item: dict, store: MediaStore, params: ClipParams) -> ClipResult:
    """Render the item's missing takes in order (finished ones are reused), then join them into its clip."""
    denoise_s = encode_s = 0.0
    for index, take in enumerate(item["takes"]):
        take["cache_hit"] = store.exists(take["media_key"])
        if take["cache_hit"]:
            continue
        started = time.perf_counter()
        if index == 0:
            with store.local_path(item["keyframe_media_key"]) as path:
                image = Image.open(path).convert("RGB")
        else:
            image = last_frame(store, item["takes"][index - 1]["media_key"])
        with store.writing(take["media_key"]) as path:
            result = render_clip(pipeline, image, path, replace(params, seed=take_seed(params.seed, index)))
        denoise_s, encode_s = denoise_s + result.denoise_s, encode_s + result.decode_encode_s
        take.update(frames=result.frames, seconds=round(time.perf_counter() - started, 4))
    started = time.perf_counter()
    frames = join_takes(store, [t["media_key"] for t in item["takes"]], item["media_key"], params)
    return ClipResult(frames, denoise_s, encode_s + time.perf_counter() - started)


def join_takes(store: MediaStore, take_keys: Sequence[str], media_key: str, params: ClipParams) -> int:
    """Stream the takes' frames into one clip, dropping each continuation's first frame.

    With `take_crossfade_frames` N, each take's last N frames are held back and blended into the next
    take's first N (after the dropped one): only N frames are ever held.
    """
    fade = params.take_crossfade_frames
    held: deque[np.ndarray] = deque()
    with store.writing(media_key) as out, ClipWriter(out, fps=params.fps, width=params.width, height=params.height) as writer:
        for index, take_key in enumerate(take_keys):
            with store.local_path(take_key) as path:
                frames = iter_frames(path)
                if index:
                    next(frames)  # the copy of the frame this take was conditioned on
                    mixed = [
                        (held.popleft() * (1 - step / (fade + 1)) + next(frames) * step / (fade + 1)).round().astype(np.uint8)
                        for step in range(1, len(held) + 1)
                    ]
                    frames = itertools.chain(mixed, frames)  # blended frames may be held for the next join
                for frame in frames:
                    held.append(frame)
                    if len(held) > fade:
                        writer.write(held.popleft()[None])
        for frame in held:
            writer.write(frame[None])
        return writer.frames_written


def take_keys(item: Mapping[str, Any]) -> dict:
    """What a long take's clip row lists of its takes, in order (nothing for a one-take clip)."""
    return {"take_keys": [t["key"] for t in item["takes"]]} if item.get("takes") else {}


def take_lineage(item: Mapping[str, Any], day, run_id: str) -> list[dict]:
    """A row per take of a long take, each pointing at the take before it (take 1 at the keyframe)."""
    rows, parent = [], item.get("keyframe")
    video = {"preset": item["preset"], "model": item["model"], "revision": item["revision"]}
    for index, take in enumerate(item.get("takes") or ()):
        hosted = take.get("hosted") or {}  # a hosted take's own task: provider, task id, times
        models = {"video": {**video, **{k: hosted[k] for k in ("provider", "task_id") if hosted.get(k)}}}
        rows.append(lineage_row(
            key=take["key"], kind="take", day=day, uri=take.get("uri", ""),
            prompt_id=item["prompt_id"], parents=[parent] if parent else [], models=models,
            params={**item["params"], "take": index + 1, "seed": take_seed(item["params"]["seed"], index),
                    "dtype": item["dtype"]},
            timings={"render_s": take.get("seconds", 0.0), **take.get("timings", {})},
            device=item.get("device") if "frames" in take else None,
            cache_hit=take.get("cache_hit", True), run_id=run_id,
        ))  # fmt: skip
        parent = take["key"]
    return rows

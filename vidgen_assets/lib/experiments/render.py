"""Render one variant's rows through the daily run's plan and render functions, into the same media store.

Keys come from the same planning code with the same defaults, so whatever production (or an earlier
variant) already made is a cache hit. Nothing here writes lineage, `day_renders` or the daily outputs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from ..generation.loader import pick_device
from ..generation.plan import plan_clips, plan_keyframes
from ..generation.profile import StepProfile, peak_memory_gb
from ..generation.render import render_clip_shard, render_keyframe_shard
from ..generation.settings import RenderSettings
from ..generation.shot_plan import import_source
from ..storage import MediaStore
from .spec import ExperimentError, Variant, variant_rows

# (provider, that provider's clip items) -> the items rendered: the defs layer builds it with claims and the ledger.
HostedRender = Callable[[str, list[dict]], list[dict]]


def render_variant(
    rows: Sequence[Mapping[str, Any]],
    variant: Variant,
    settings: RenderSettings,
    store: MediaStore,
    *,
    hosted: HostedRender | None = None,
    report: Callable[[str], None] = print,
) -> dict:
    """The variant's keyframe and clip items (each with `cache_hit`, timings when rendered), its wall seconds
    and peak memory. Local clips render one by one; hosted ones through `hosted`, per provider."""
    settings = replace(settings, **variant.options())
    device = pick_device(settings.device)
    if device == "cuda":
        import torch

        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    rows = variant_rows(rows, variant)
    keyframes = plan_keyframes(rows, settings.keyframe_model, settings.video_model, settings.dtype_of)
    render_keyframe_shard(
        keyframes, store, settings.pipeline, StepProfile(total=len(keyframes), device=device),
        batch_size=settings.keyframe_batch_size, report=report, dtype_of=settings.dtype_of,
    )  # fmt: skip
    clips = plan_clips(rows, keyframes, settings.video_model, settings.dtype_of,
                       source_key=lambda uri: import_source(store, uri), **settings.plan_options())  # fmt: skip
    local = [item for item in clips if "provider" not in item]
    render_clip_shard(local, store, settings.pipeline, StepProfile(total=len(local), device=device),
                      report=report, dtype_of=settings.dtype_of, overlap_encode=settings.overlap_encode,
                      denoise_batch=settings.denoise_batch)  # fmt: skip
    rendered = list(local)
    for provider in sorted({item["provider"] for item in clips if "provider" in item}):
        if hosted is None:
            raise ExperimentError(f"variant {variant.label!r} renders on {provider}: run it through the experiment asset")
        rendered += hosted(provider, [item for item in clips if item.get("provider") == provider])
    memory_key, memory = peak_memory_gb(device)
    return {
        "variant": variant.label, "keyframes": keyframes, "clips": rendered, "device": device,
        "wall_s": round(time.perf_counter() - started, 4), memory_key: round(memory, 4),
    }  # fmt: skip


def timing_key(clip_key: str) -> str:
    return f"experiments/renders/{clip_key}.json"


def remember_timings(store: MediaStore, clips: Sequence[dict]) -> None:
    """Keep each clip the experiment rendered's timings, so a later cache hit still reports what it cost."""
    for item in clips:
        if not item.get("cache_hit") and "failure" not in item and "seconds" in item:
            store.put_json(timing_key(item["key"]), {"seconds": item["seconds"], "timings": item.get("timings", {})})


def fill_timings(store: MediaStore, warehouse, clips: Sequence[dict]) -> None:
    """Give cache hits the timings of the render that made them: an experiment's record, else the daily
    run's lineage (read only). Clips found in neither keep none and count as untimed."""
    wanted = [item for item in clips if item.get("cache_hit") and "seconds" not in item]
    found = store.existing(timing_key(item["key"]) for item in wanted)
    lineage = _lineage_timings(warehouse, [i["key"] for i in wanted if timing_key(i["key"]) not in found])
    for item in wanted:
        record = store.get_json(timing_key(item["key"])) if timing_key(item["key"]) in found else lineage.get(item["key"])
        if record:
            item.update(seconds=record["seconds"], timings={**record.get("timings", {}), **item.get("timings", {})})


def _lineage_timings(warehouse, keys: Sequence[str]) -> dict[str, dict]:
    if warehouse is None or not keys:
        return {}
    with warehouse.connect() as session:
        found = session.rows(
            "SELECT key, timings FROM clips WHERE kind = 'clip' AND NOT cache_hit AND key IN "
            "(SELECT unnest(CAST(? AS VARCHAR[])))", [list(keys)],
        )  # fmt: skip
    records = {}
    for row in found:
        timings = json.loads(row["timings"]) if isinstance(row["timings"], str) else dict(row["timings"] or {})
        records[row["key"]] = {"seconds": timings.pop("render_s", 0.0), "timings": timings}
    return records

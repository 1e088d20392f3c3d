"""A day's render statistics per kind and model, from lineage records and the run's timings.

Which records count (see the stats README):
- counts and cache hits: the day's latest run, i.e. what the day consists of now and how much was reused;
- seconds per item: for each of those outputs, the latest record that rendered it that day, so a
  re-run that reuses everything still shows what the outputs took to make;
- cost: every rendering record of the day, in any run: the money the day has cost so far.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd

from ..video.metrics import CLIP_SCORE, METRICS

MODEL_SLOT = {"keyframe": "keyframe", "clip": "video", "soundtrack": "music"}  # where each kind names its model in `models`
CLIP_METRICS = (*METRICS, CLIP_SCORE)  # each clip's measures, in its lineage params' `metrics`
METRIC_COLUMNS = tuple(f"{name}_p50" for name in CLIP_METRICS)  # their medians per day × model


@dataclass
class RunTimings:
    """Where a run's time went before work started, read from the orchestrator by the caller."""

    run_id: str | None = None
    queue_s: float = 0.0  # run created → run started
    wall_s: float = 0.0  # run started → ended (or now, for the run still in progress)
    pool_waits: Sequence[tuple[str, float]] = field(default_factory=list)  # (kind, seconds a GPU step waited)


def flatten(records: pd.DataFrame) -> pd.DataFrame:
    """One row per keyframe/clip record with its model, timings and steps as columns."""
    frame = records[records["kind"].isin(list(MODEL_SLOT))].copy()
    models = [json.loads(m or "{}").get(MODEL_SLOT[k], {}) for m, k in zip(frame["models"], frame["kind"])]
    timings = [json.loads(t or "{}") for t in frame["timings"]]
    params = [json.loads(p or "{}") for p in frame["params"]]
    frame["model"] = [m.get("preset") or m.get("model") or "unknown" for m in models]
    frame["model_id"] = [m.get("model") for m in models]
    for phase in ("render_s", "denoise_s", "decode_encode_s", "cost_usd"):
        frame[phase] = [t.get(phase) for t in timings]
    frame["steps"] = [p.get("num_inference_steps") or 0 for p in params]
    for name in CLIP_METRICS:
        frame[name] = [(p.get("metrics") or {}).get(name) for p in params]
    frame["cache_hit"] = frame["cache_hit"].astype(bool)
    frame["failed"] = ["failure" in m for m in models]  # refused or not delivered: a record, not a clip
    return frame


def item_cost(rendered: pd.DataFrame, price_per_gpu_hour: float) -> pd.Series:
    """A hosted clip's billed price (`cost_usd` in its timings), else its local render time at the hourly price."""
    local = rendered["render_s"].fillna(0.0).astype(float) / 3600 * price_per_gpu_hour
    return rendered["cost_usd"].astype(float).fillna(local)


def _quantile(values: pd.Series, q: float) -> float | None:
    values = values.dropna().astype(float)
    return round(float(values.quantile(q)), 4) if len(values) else None


def _current_and_timed(frame: pd.DataFrame, run: RunTimings) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    """The run described (the given one if it recorded the day, else the latest), its outputs, and their timed renderings."""
    run_id = run.run_id if run.run_id in set(frame["run_id"]) else frame["run_id"].iloc[-1]
    current = frame[frame["run_id"] == run_id]
    # The latest rendering of each current output that day, in whichever run it happened.
    timed = frame[~frame["cache_hit"] & ~frame["failed"]].drop_duplicates(["key", "prompt_id"], keep="last").merge(
        current[["key", "prompt_id"]].drop_duplicates(), on=["key", "prompt_id"]
    )
    return run_id, current, timed


def day_stats(
    records: pd.DataFrame,
    run: RunTimings,
    *,
    price_per_gpu_hour: float,
    peak_memory_gb: Mapping[str, float] | None = None,
) -> pd.DataFrame:
    """One row per kind × model for the day the records belong to (columns as in the `render_stats` table)."""
    frame = flatten(records)
    if frame.empty:
        return pd.DataFrame()
    run_id, current, timed = _current_and_timed(frame, run)
    rendering = frame[~frame["cache_hit"]].assign(cost=lambda f: item_cost(f, price_per_gpu_hour))
    all_waits = pd.Series([run.queue_s + wait for _, wait in run.pool_waits], dtype=float)
    rows = []
    for (kind, model), outputs in current.groupby(["kind", "model"], sort=True):
        times = timed[(timed["kind"] == kind) & (timed["model"] == model)]
        spent = rendering[(rendering["kind"] == kind) & (rendering["model"] == model)]
        waits = pd.Series([wait for k, wait in run.pool_waits if k == kind], dtype=float)
        denoise = times["denoise_s"].dropna().astype(float)
        busy = denoise.sum() if len(denoise) else times["render_s"].astype(float).sum()
        # A refused clip was asked for (an item) but not made: not rendered, and no share of the cost per item.
        rendered, cost_day = int((~outputs["cache_hit"] & ~outputs["failed"]).sum()), float(spent["cost"].sum())
        made = int((~spent["failed"]).sum())
        rows.append({
            "day": outputs["partition_date"].iloc[0], "kind": kind, "model": model,
            "model_id": outputs["model_id"].dropna().iloc[0] if outputs["model_id"].notna().any() else None,
            "device": ",".join(sorted(set(spent["device"].dropna()))) or None, "run_id": run_id,
            "items": len(outputs), "rendered": rendered, "cache_hits": int(outputs["cache_hit"].sum()),
            "cache_hit_rate": round(float(outputs["cache_hit"].mean()), 4),
            "s_per_item_mean": round(float(times["render_s"].astype(float).mean()), 4) if len(times) else None,
            "s_per_item_p50": _quantile(times["render_s"], 0.5), "s_per_item_p95": _quantile(times["render_s"], 0.95),
            "denoise_s_p50": _quantile(times["denoise_s"], 0.5), "denoise_s_p95": _quantile(times["denoise_s"], 0.95),
            "decode_encode_s_p50": _quantile(times["decode_encode_s"], 0.5),
            "decode_encode_s_p95": _quantile(times["decode_encode_s"], 0.95),
            "steps_per_s": round(float(times["steps"].sum()) / busy, 3) if busy else None,
            "peak_memory_gb": (peak_memory_gb or {}).get(kind),
            "render_s_total": round(float(spent["render_s"].astype(float).sum()), 4),
            "cost_per_item_usd": round(cost_day / made, 6) if made else 0.0,
            "cost_day_usd": round(cost_day, 6),
            "run_queue_s": round(run.queue_s, 3),
            "pool_wait_p50_s": _quantile(waits, 0.5), "pool_wait_p95_s": _quantile(waits, 0.95),
            "queue_wait_p95_s": _quantile(all_waits, 0.95) if len(all_waits) else round(run.queue_s, 3),
            "run_wall_s": round(run.wall_s, 3),
            # The medians of the day's clips as they are now (reused ones too): what a drift check compares.
            **{f"{name}_p50": _quantile(outputs.loc[~outputs["failed"], name], 0.5) for name in CLIP_METRICS},
        })  # fmt: skip
    return pd.DataFrame(rows)


def phase_seconds(records: pd.DataFrame, run: RunTimings) -> dict[str, float]:
    """Seconds by phase for the day's current outputs: keyframes, denoising, decode + encode, other clip work, queueing."""
    frame = flatten(records)
    timed = _current_and_timed(frame, run)[2] if len(frame) else frame
    clips = timed[timed["kind"] == "clip"]
    denoise = float(clips["denoise_s"].astype(float).sum())
    decode = float(clips["decode_encode_s"].astype(float).sum())
    return {
        "keyframes": float(timed.loc[timed["kind"] == "keyframe", "render_s"].astype(float).sum()),
        "denoise": denoise,
        "decode+encode": decode,
        "other clip work": max(0.0, float(clips["render_s"].astype(float).sum()) - denoise - decode),
        "queued": run.queue_s + sum(wait for _, wait in run.pool_waits),
    }

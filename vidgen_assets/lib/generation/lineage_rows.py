"""Lineage rows for planned and rendered keyframe and clip items (a long take's clip adds a row per take)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..warehouse.lineage import lineage_row
from .takes import take_keys, take_lineage

IMAGE_PARAMS = ("prompt", "negative_prompt", "seed", "width", "height", "num_inference_steps", "guidance_scale")


def keyframe_lineage(items: Sequence[dict], day, run_id: str) -> list[dict]:
    """Lineage rows for rendered keyframe items; `device` is where each was rendered (None: a cache hit)."""
    return [
        lineage_row(
            key=i["key"], kind="keyframe", day=day, uri=i["uri"], prompt_id=i["prompt_id"],
            models={"keyframe": {"preset": i["preset"], "model": i["model"], "revision": i["revision"]}},
            params={**{p: i[p] for p in IMAGE_PARAMS}, "dtype": i["dtype"]}, timings={"render_s": i.get("seconds", 0.0)},
            device=i.get("device"), cache_hit=i["cache_hit"], run_id=run_id,
        )
        for i in items
    ]  # fmt: skip


def clip_lineage(items: Sequence[dict], day, run_id: str, quality: Mapping[str, Mapping] | None = None) -> list[dict]:
    """Lineage rows for clip items, each pointing at its keyframe (none for text-to-video), then their takes.

    `quality` (by clip key, from `check_day_clips`) adds each clip's measured `metrics` to its params.
    """
    takes = [row for i in items for row in take_lineage(i, day, run_id)]
    return [
        lineage_row(
            key=i["key"], kind="clip", day=day, uri=i["uri"], prompt_id=i["prompt_id"],
            parents=shot_parents(i),
            models={"video": {"preset": i["preset"], "model": i["model"], "revision": i["revision"], **_hosted(i)}},
            # The params it was rendered with: an out-of-memory retry's smaller decode chunk shows here.
            params={**i["params"], "dtype": i["dtype"], **take_keys(i), **_shot(i), **_metrics(quality, i["key"])},
            timings={"render_s": i.get("seconds", 0.0), **i.get("timings", {}), **_task_times(i)},
            device=i.get("device"), cache_hit=i["cache_hit"], run_id=run_id,
        )
        for i in items
    ] + takes + _sources(items, day, run_id)  # fmt: skip


def shot_parents(item: dict) -> list[str]:
    """What the clip was made from: its keyframe, the clip it continues, its end keyframe, the clip it restyles."""
    inputs = (item.get("keyframe"), (item.get("start_clip") or {}).get("key"), item.get("end_keyframe"),
              (item.get("source") or {}).get("key"))  # fmt: skip
    return [key for key in inputs if key]


def _shot(item: dict) -> dict:
    """The clip's place in its scene and what it was made from, by row: for `vidgen lineage` and the UI."""
    fields = {name: item[name] for name in ("scene", "scene_order") if item.get(name) is not None}
    if item.get("start_clip"):
        fields["continues"] = item["start_clip"]["prompt_id"]
    if item.get("end_keyframe"):
        fields["ends_on"] = item["end_keyframe"]
    if item.get("source"):
        fields["restyles"] = item["source"].get("prompt_id") or item["source"]["uri"]
    return fields


def _sources(items: Sequence[dict], day, run_id: str) -> list[dict]:
    """A row per source video a restyle read from a source_uri (copied into the store under its content)."""
    sources = {i["source"]["key"]: i for i in items if (i.get("source") or {}).get("uri") and "failure" not in i}
    return [
        lineage_row(key=key, kind="source", day=day, uri=i["source"]["media_key"], prompt_id=i["prompt_id"],
                    params={"source_uri": i["source"]["uri"]}, cache_hit=True, run_id=run_id)
        for key, i in sources.items()
    ]  # fmt: skip


def _metrics(quality: Mapping[str, Mapping] | None, key: str) -> dict:
    """The clip's measured metrics, when it was checked (a refused clip has none)."""
    found = (quality or {}).get(key) or {}
    return {"metrics": found["metrics"]} if found.get("metrics") else {}


def _hosted(item: dict) -> dict:
    """A hosted clip's provider, task id, create calls and earlier tasks given up on (e.g. gone: 404), and
    when refused, the provider's code and reason."""
    if "provider" not in item:  # a local shot left out before rendering (its source or input shot missing)
        return {"failure": item["failure"]} if "failure" in item else {}
    task = item.get("hosted_task", {})
    fields = {"provider": item["provider"], "provider_model": task.get("model"), "task_id": task.get("task_id")}
    if task.get("creates"):
        fields["creates"] = task["creates"]
    if task.get("previous_tasks"):
        fields["previous_tasks"] = task["previous_tasks"]
    return {**fields, **({"failure": item["failure"]} if "failure" in item else {})}


def _task_times(item: dict) -> dict:
    task = item.get("hosted_task", {})
    return {name: task[name] for name in ("submitted_at", "finished_at") if task.get(name) is not None}

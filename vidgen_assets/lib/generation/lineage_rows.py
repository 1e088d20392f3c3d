"""Lineage rows for planned and rendered keyframe and clip items (a long take's clip adds a row per take)."""

from __future__ import annotations

from collections.abc import Sequence

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


def clip_lineage(items: Sequence[dict], day, run_id: str) -> list[dict]:
    """Lineage rows for clip items, each pointing at its keyframe (none for text-to-video), then their takes."""
    takes = [row for i in items for row in take_lineage(i, day, run_id)]
    return [
        lineage_row(
            key=i["key"], kind="clip", day=day, uri=i["uri"], prompt_id=i["prompt_id"],
            parents=[i["keyframe"]] if i.get("keyframe") else [],
            models={"video": {"preset": i["preset"], "model": i["model"], "revision": i["revision"], **_hosted(i)}},
            # The params it was rendered with: an out-of-memory retry's smaller decode chunk shows here.
            params={**i["params"], "dtype": i["dtype"], **take_keys(i)},
            timings={"render_s": i.get("seconds", 0.0), **i.get("timings", {}), **_task_times(i)},
            device=i.get("device"), cache_hit=i["cache_hit"], run_id=run_id,
        )
        for i in items
    ] + takes  # fmt: skip


def _hosted(item: dict) -> dict:
    """A hosted clip's provider, task id, create calls and earlier tasks given up on (e.g. gone: 404), and
    when refused, the provider's code and reason."""
    if "provider" not in item:
        return {}
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

"""What a day's soundtrack is made for: the reel's length, and its lineage record."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from ..video.quality import clip_frames
from ..warehouse.lineage import lineage_row


def reel_seconds(videos: Mapping[str, Any]) -> float:
    """How long the day's reel plays: its passing clips, each content key once, frames over fps."""
    quality, seen, total = videos.get("quality") or {}, set(), 0.0
    for item in videos.get("items") or []:
        key, params = item.get("key"), item.get("params") or {}
        if key in seen or not (quality.get(key) or {}).get("passed"):
            continue
        seen.add(key)
        frames, fps = clip_frames(params), params.get("fps")
        if frames and fps:
            total += frames / float(fps)
    return round(total, 6)


def music_themes(theme_prompts: Mapping[str, Any] | None) -> list[str]:
    """The ids of the day's themes that carry a music prompt (what the soundtrack was asked for by)."""
    return [t["theme_id"] for t in (theme_prompts or {}).get("themes") or [] if t.get("music_prompt")]


def soundtrack_lineage(track: Mapping[str, Any], *, day: date, preset: str, prompt: str, themes: list[str],
                       run_id: str) -> dict[str, Any]:  # fmt: skip
    """The `clips` lineage row (kind "soundtrack") of a rendered or reused soundtrack."""
    inputs = track["inputs"]
    is_hosted = inputs["dtype"] == "hosted"
    task = {"provider_task_id": track["provider_task_id"]} if is_hosted else {}
    return lineage_row(
        key=track["key"], kind="soundtrack", day=day, uri=track["uri"],
        models={"music": {"preset": preset, "model": inputs["model"], "revision": inputs["revision"], **task}},
        params={
            "prompt": prompt, "preset": preset, "seconds": inputs["seconds"], "seed": inputs["seed"],
            "steps": inputs["steps"], "negative_prompt": inputs["negative_prompt"], "dtype": inputs["dtype"],
            "sample_rate": track["sample_rate"], "segments": track["segments"], "themes": themes,
        },
        # A hosted track's billed price sits where a hosted clip's does (`lib/stats` reads `cost_usd` there).
        timings={"render_s": track["render_s"], **({"cost_usd": track["cost_usd"]} if is_hosted else {})},
        device=track["device"], cache_hit=track["cache_hit"], run_id=run_id,
    )  # fmt: skip

"""What a day would cost before it runs: the paid tasks it would create, their list price, the local GPU time
and what remains of each budget (`vidgen estimate`, the line `vidgen run` prints, the sensor's reason).

A day is planned as its run plans it (validated rows, keyframe and clip keys in this machine's dtypes); a
clip whose file exists is a cache hit, a task already created (polled by the run) or refused for good
(its row must change) creates nothing. Rows sharing a clip key create it once.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import date

from ..generation import VIDEO_TASKS, preset_names
from .shots import accepted_rows
from ..generation.plan import plan_clips, plan_keyframes
from ..generation.shot_plan import import_source, source_problem
from ..generation.sharding import DEFAULT_S_PER_CLIP, DEFAULT_S_PER_KEYFRAME
from ..generation.providers.records import FAILED, SUBMITTED, SUCCEEDED, read_record
from ..storage import MediaStore
from ..warehouse import Warehouse
from .budget import DAY_VARIABLE, MONTH_VARIABLE, Budgets, provider_variable, task_price

LOCAL = "local"


def _created(store: MediaStore, key: str) -> bool:
    """A task exists for this clip (the run polls it) or was refused for good: no new create."""
    record = read_record(store, key)
    return record is not None and (record.state == FAILED or (record.task_id and record.state in (SUBMITTED, SUCCEEDED)))


def measured_p50(warehouse: Warehouse) -> dict[tuple[str, str], float]:
    """(kind, preset) → the latest measured p50 seconds per rendered item in `render_stats`."""
    with warehouse.connect() as session:
        rows = session.execute(
            "SELECT kind, model, s_per_item_p50 FROM render_stats WHERE s_per_item_p50 IS NOT NULL AND rendered > 0 "
            "ORDER BY day, computed_at"
        ).fetchall()
    return {(kind, model): float(p50) for kind, model, p50 in rows}  # the latest day wins


def planned_day(warehouse: Warehouse, day: date, keyframe_model: str, video_model: str,
                store: MediaStore | None = None) -> tuple[list[dict], list[dict]]:  # fmt: skip
    """The day's keyframe and clip items as its run plans them: the rows it renders, a restyle's source_uri
    read (copied into `store` under its content, as the run would) to key it; without a store such a
    shot is left out."""
    rows, _ = warehouse.day_snapshot(day)
    check = (lambda uri: source_problem(store, uri)) if store is not None else None
    rows, _ = accepted_rows(rows, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), video_model,
                            warehouse.days_of, source_check=check)  # fmt: skip
    keyframes = plan_keyframes(rows, keyframe_model, video_model)
    source_key = (lambda uri: import_source(store, uri)) if store is not None else None
    clips = plan_clips(rows, keyframes, video_model, source_key=source_key)
    return keyframes, [item for item in clips if "failure" not in item]


def estimate_day(
    warehouse: Warehouse, store: MediaStore, day: date, *, keyframe_model: str, video_model: str,
    s_per_clip: float, s_per_keyframe: float, p50: dict | None = None,
) -> list[dict]:  # fmt: skip
    """One line per provider and model: clips and tasks (takes) to create, list USD, local GPU seconds."""
    keyframes, clips = planned_day(warehouse, day, keyframe_model, video_model, store)
    media = [item["media_key"] for item in (*keyframes, *clips)]
    media += [take["media_key"] for item in clips for take in item.get("takes") or ()]
    existing = set(store.existing(media))
    p50 = measured_p50(warehouse) if p50 is None else p50
    lines: dict[tuple[str, str], dict] = {}

    def line(provider: str, model: str, kind: str = "clip") -> dict:
        return lines.setdefault((provider, model, kind), {
            "day": day.isoformat(), "provider": provider, "model": model, "kind": kind,
            "clips": 0, "takes": 0, "list_usd": 0.0, "gpu_s": 0.0})  # fmt: skip

    seen: set[str] = set()
    for item in (*keyframes, *clips):
        if item["media_key"] in existing or item["key"] in seen:
            continue
        seen.add(item["key"])
        if "provider" not in item:
            kind = "clip" if "task" in item else "keyframe"
            found = line(LOCAL, item["preset"], kind)
            found["clips"] += 1
            found["takes"] += len(item.get("takes") or ()) or 1
            found["gpu_s"] += p50.get((kind, item["preset"]), s_per_clip if kind == "clip" else s_per_keyframe)
            continue
        parts = item.get("takes") or [{"key": item["key"], "media_key": item["media_key"]}]
        tasks = [t for t in parts if t["media_key"] not in existing and not _created(store, t["key"])]
        if tasks:
            found = line(item["provider"], item["preset"])
            found["clips"] += 1
            found["takes"] += len(tasks)
            found["list_usd"] += len(tasks) * task_price(item)
    for found in lines.values():
        found["list_usd"], found["gpu_s"] = round(found["list_usd"], 6), round(found["gpu_s"], 3)
    return sorted(lines.values(), key=lambda found: (found["provider"] == LOCAL, found["provider"], found["model"], found["kind"]))


def over_budget(lines: Sequence[dict], budgets: Sequence[dict]) -> list[str]:
    """Why the planned tasks do not fit what remains: one phrase per budget they exceed."""
    asked: dict[tuple[str, str | None], float] = {}
    for line in lines:
        if line["provider"] != LOCAL:
            for scope in ((MONTH_VARIABLE, None), (DAY_VARIABLE, line["day"]), (provider_variable(line["provider"]), line["day"])):
                asked[scope] = asked.get(scope, 0.0) + line["list_usd"]
    found = []
    for budget in budgets:
        usd = asked.get((budget["budget"], budget.get("day")), 0.0)
        if usd > budget["remaining_usd"] + 1e-9:
            on = f" for {budget['day']}" if budget.get("day") else " this month"
            found.append(f"{budget['budget']}{on}: {usd:.2f} USD asked, {budget['remaining_usd']:.2f} USD left")
    return found


def planning_from_env() -> dict:
    """The default models and per-item seconds a run plans with (the definitions read the same variables)."""
    return {
        "keyframe_model": os.getenv("VIDGEN_KEYFRAME_MODEL", "tiny"), "video_model": os.getenv("VIDGEN_VIDEO_MODEL", "tiny"),
        "s_per_clip": float(os.getenv("VIDGEN_S_PER_CLIP", DEFAULT_S_PER_CLIP)),
        "s_per_keyframe": float(os.getenv("VIDGEN_S_PER_KEYFRAME", DEFAULT_S_PER_KEYFRAME)),
    }  # fmt: skip


def estimate_days(warehouse: Warehouse, store: MediaStore, days: Sequence[date], budgets: Budgets, **planning) -> dict:
    """The estimate of `days`: lines per day, provider and model, totals, each budget's remainder, and
    `over` (what does not fit; the run then creates what fits and refuses the rest with `budget`)."""
    p50 = measured_p50(warehouse)
    lines = [line for day in days for line in estimate_day(warehouse, store, day, p50=p50, **planning)]
    remaining = []
    for day in days:
        for budget in budgets.remaining(warehouse, day):
            if budget["budget"] != MONTH_VARIABLE:
                remaining.append({**budget, "day": day.isoformat()})
            elif budget not in remaining:
                remaining.append(budget)
    over = over_budget(lines, remaining)
    return {
        "days": [day.isoformat() for day in days], "lines": lines,
        "list_usd": round(sum(line["list_usd"] for line in lines), 6),
        "gpu_s": round(sum(line["gpu_s"] for line in lines), 3), "budgets": remaining, "over": over,
    }  # fmt: skip

"""Run an experiment end to end: sample the rows, render each variant, check its clips, compare them.

Everything it writes is under `experiments/<name>/` (spec, result, side-by-side video, contact sheet) or
is a content-addressed keyframe or clip the daily run would have made the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any

from ..generation import VIDEO_TASKS, preset_names
from ..generation.providers.summary import refused_quality
from ..generation.shot_plan import source_problem
from ..rules.shots import accepted_rows
from ..storage import MediaStore, content_key
from ..video.quality import check_day_clips
from .compare import metric_names, variant_figures
from .grid import side_by_side
from ..generation.settings import RenderSettings
from .render import HostedRender, fill_timings, remember_timings, render_variant
from .spec import ExperimentError, ExperimentSpec, check_rows, select_rows, spec_from_mapping


def spec_key(name: str) -> str:
    return f"experiments/{name}/spec.json"


def result_key(name: str) -> str:
    return f"experiments/{name}/result.json"


def save_spec(store: MediaStore, spec: ExperimentSpec) -> str:
    return store.put_json(spec_key(spec.name), spec.as_json())


def load_spec(store: MediaStore, name: str) -> ExperimentSpec:
    if not store.exists(spec_key(name)):
        raise ExperimentError(f"no experiment {name!r}: start it with `vidgen experiment run {name} ...`")
    return spec_from_mapping(store.get_json(spec_key(name)))


def load_result(store: MediaStore, name: str) -> dict:
    if not store.exists(result_key(name)):
        raise ExperimentError(f"experiment {name!r} has no comparison yet: run it with `vidgen experiment run`")
    return store.get_json(result_key(name))


def experiment_day(spec: ExperimentSpec, warehouse) -> date:
    """The spec's day, or the one day its prompt ids are scheduled on."""
    if spec.day:
        return spec.day
    days = warehouse.days_of(list(spec.ids))
    missing = [i for i in spec.ids if i not in days]
    if missing:
        raise ExperimentError(f"unknown prompt ids: {', '.join(missing)}")
    if len(set(days.values())) > 1:
        found = ", ".join(sorted({str(d) for d in days.values()}))
        raise ExperimentError(f"the ids are on several days ({found}): give ids of one day")
    return next(iter(days.values()))


def valid_day_rows(warehouse, store: MediaStore, day: date, video_model: str) -> list[dict]:
    """The day's rows as the daily `prompts` asset accepts them (nothing recorded): the rows its keys come from."""
    rows, _ = warehouse.day_snapshot(day)
    accepted, _ = accepted_rows(
        rows, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), video_model, warehouse.days_of,
        source_check=lambda uri: source_problem(store, uri),
    )  # fmt: skip
    return accepted


def run_experiment(
    spec: ExperimentSpec,
    warehouse,
    store: MediaStore,
    settings: RenderSettings,
    *,
    hosted: HostedRender | None = None,
    report: Callable[[str], None] = print,
) -> dict:
    """Render every variant over the sampled rows and store the comparison as `experiments/<name>/result.json`."""
    day = experiment_day(spec, warehouse)
    sampled, rows = select_rows(spec, valid_day_rows(warehouse, store, day, settings.video_model))
    check_rows(spec, rows, settings.video_model)
    runs = []
    for variant in spec.variants:
        report(f"variant {variant.label}: {len(sampled)} sampled prompts ({len(rows)} rows with the shots they start from)")
        run = render_variant(rows, variant, settings, store, hosted=hosted, report=report)
        remember_timings(store, run["clips"])
        fill_timings(store, warehouse, run["clips"])
        runs.append(run)
    wanted = set(sampled)
    clips = [c for run in runs for c in run["clips"] if c["prompt_id"] in wanted]
    made = [c for c in clips if "failure" not in c]
    quality = {**check_day_clips(made, store), **{c["key"]: refused_quality(c) for c in clips if "failure" in c}}
    metrics = metric_names(quality.values())
    table = [variant_figures(run, sampled, quality, metrics, settings.price_per_gpu_hour) for run in runs]
    labels = [v.label for v in spec.variants]
    grid_rows = [(pid, [_shown_clip(run["clips"], pid) for run in runs]) for pid in sampled]
    digest = content_key("side-by-side", {"labels": labels, "rows": grid_rows})
    folder = f"experiments/{spec.name}"
    grid = side_by_side(store, labels, grid_rows, f"{folder}/{digest}.mp4", f"{folder}/{digest}.png")
    result = {
        "name": spec.name, "day": day.isoformat(), "spec": spec.as_json(), "sampled": sampled, "table": table,
        "metrics": metrics, "grid": grid, "finished_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "clips": {run["variant"]: [_clip_record(c, quality) for c in run["clips"] if c["prompt_id"] in wanted] for run in runs},
    }  # fmt: skip
    result["uri"] = store.put_json(result_key(spec.name), result)
    return result


def _shown_clip(clips: Sequence[Mapping[str, Any]], prompt_id: str) -> str | None:
    """The clip a prompt's tile plays: the one its reel plays last (the highest motion bucket), if made."""
    made = [c for c in clips if c["prompt_id"] == prompt_id and "failure" not in c]
    return max(made, key=lambda c: c["motion_bucket_id"])["media_key"] if made else None


def _clip_record(clip: Mapping[str, Any], quality: Mapping[str, dict]) -> dict:
    found = quality.get(clip["key"], {})
    return {
        "prompt_id": clip["prompt_id"], "key": clip["key"], "uri": clip.get("uri", ""), "cache_hit": bool(clip.get("cache_hit")),
        "seconds": clip.get("seconds"), "timings": clip.get("timings", {}), "passed": found.get("passed", False),
        "problems": found.get("problems", ""), "metrics": found.get("metrics", {}),
    }  # fmt: skip

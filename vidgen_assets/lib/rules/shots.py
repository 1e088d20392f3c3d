"""Which of a day's rows can be rendered as the shots they ask for, and why the others cannot.

Per row (`params.mode_error`, also at import): the video model must take what the shot gives it. Across the day: a shot's
inputs must be rows of the same day that render (a continuation needs the scene's shot before it, a
restyle its source row), with no cycles, and on the same backend (a shot and the shots it starts from
render in one step: local, or one provider). A row whose input is rejected is rejected too, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import asdict
from datetime import date

from ..generation.params import apply_preset_limits
from ..generation.presets import VIDEO_TASKS, ModelPreset, get_preset
from ..generation.scenes import dependencies, render_order, scene_shots
from ..warehouse.validation import PromptSpec, Rejection

DaysOf = Callable[[Collection[str]], Mapping[str, date]]  # prompt_id -> the day it is scheduled for
SourceCheck = Callable[[str], "str | None"]  # source_uri -> why it cannot be restyled, or None


def backend(preset: ModelPreset) -> str:
    return preset.hosted.provider if preset.hosted else "local"


def day_shots(
    specs: Sequence[PromptSpec], default_video_model: str, days_of: DaysOf | None = None,
    rejected_before: Mapping[str, Mapping] = {}, source_check: SourceCheck | None = None,
) -> tuple[list[PromptSpec], list[Rejection]]:  # fmt: skip
    """The day's valid rows split into those that render as asked and rejections saying why not.

    `rejected_before`: rows already rejected (id -> their raw scene, scene_order and reason): they keep
    their place in their scene, so the shot after one is rejected with it instead of continuing another.
    """
    within, rejected = apply_preset_limits(specs, default_video_model)
    presets = {s.prompt_id: get_preset(s.video_model or default_video_model, *VIDEO_TASKS) for s in within}
    reasons = {r.prompt_id: r.reason for r in rejected if r.prompt_id}
    reasons.update({pid: row["reason"] for pid, row in rejected_before.items() if pid not in presets})
    already = set(reasons)
    for spec in within:
        if spec.source_uri and source_check and (problem := source_check(spec.source_uri)):
            reasons[spec.prompt_id] = problem
    placeholders = [{"prompt_id": pid, **row} for pid, row in rejected_before.items() if pid not in presets]
    placeholders += [{"prompt_id": s.prompt_id, "scene": s.scene, "scene_order": s.scene_order} for s in specs
                     if s.prompt_id not in presets]  # fmt: skip
    rows = [vars(spec) for spec in within] + placeholders
    for shots in scene_shots(rows).values():
        taken: dict[int, str] = {}
        for row in shots:
            order = row.get("scene_order")
            if order is not None and order in taken:
                reasons.setdefault(row["prompt_id"], f"scene_order {order} of scene {row['scene']!r} is also {taken[order]!r}'s")
            elif order is not None:
                taken[order] = row["prompt_id"]
        if shots[0].get("start_from") == "previous":
            reasons.setdefault(shots[0]["prompt_id"], f"starts from the previous shot but is the first of scene {shots[0]['scene']!r}")
    deps = dependencies(rows)
    _missing_sources(rows, reasons, days_of)
    ids = [row["prompt_id"] for row in rows]
    _, cycles = render_order(ids, deps)
    for cycle in cycles:
        for prompt_id in cycle[:-1]:
            reasons.setdefault(prompt_id, f"its shots depend on each other in a cycle: {' → '.join(cycle)}")
    for prompt_id, inputs in deps.items():
        for name, dep in inputs.items():
            if dep in presets and backend(presets[dep]) != backend(presets[prompt_id]):
                reasons.setdefault(prompt_id, (
                    f"{'restyle_of' if name == 'source' else 'start_from previous'} {dep!r} renders on "
                    f"{backend(presets[dep])} and this shot on {backend(presets[prompt_id])}: a shot and the shot it "
                    "starts from render on one backend"))  # fmt: skip
    _cascade(deps, reasons)
    day = {s.prompt_id: s.scheduled_for.isoformat() for s in within}
    rejected += [Rejection(pid, day[pid], reason) for pid, reason in reasons.items() if pid not in already]
    return [s for s in within if s.prompt_id not in reasons], rejected


def _missing_sources(rows: Sequence[Mapping], reasons: dict[str, str], days_of: DaysOf | None) -> None:
    here = {row["prompt_id"] for row in rows if "reason" not in row}
    missing = {row["prompt_id"]: row["restyle_of"] for row in rows if row.get("restyle_of") and row["restyle_of"] not in here}
    elsewhere = days_of(set(missing.values())) if days_of and missing else {}
    for prompt_id, source in missing.items():
        if source in elsewhere:
            reasons.setdefault(prompt_id, f"restyle_of {source!r} is a row of {elsewhere[source]}, another day: a "
                                          "restyle's source must render on the same day (or give its clip as source_uri)")
        else:
            reasons.setdefault(prompt_id, f"restyle_of {source!r} is not a row of this day that can render")


def _cascade(deps: Mapping[str, Mapping[str, str]], reasons: dict[str, str]) -> None:
    """Reject every row whose input row is rejected, until nothing changes."""
    changed = True
    while changed:
        changed = False
        for prompt_id, inputs in deps.items():
            if prompt_id in reasons:
                continue
            for dep in inputs.values():
                if dep in reasons:
                    reasons[prompt_id] = f"it starts from {dep!r}, which cannot render ({reasons[dep][:120]})"
                    changed = True
                    break


def accepted_rows(
    raw_rows, keyframe_models, video_models, default_video_model: str, days_of: DaysOf | None = None,
    source_check: SourceCheck | None = None,
) -> tuple[list[dict], list[Rejection]]:  # fmt: skip
    """A day's raw rows to the rows its run renders (snapshot dicts) and every rejection; `source_check`
    (`shot_plan.source_problem` on the media store) turns away restyles of footage that cannot be read."""
    from ..warehouse import validate_rows

    raw_rows = list(raw_rows)
    valid, rejected = validate_rows(raw_rows, keyframe_models, video_models)
    valid_ids = {spec.prompt_id for spec in valid}
    places = {pid: place for pid, place in _rejected_places(raw_rows, rejected).items() if pid not in valid_ids}
    accepted, refused = day_shots(valid, default_video_model, days_of, places, source_check)
    return [asdict(spec) for spec in accepted], rejected + refused


def _rejected_places(raw_rows: Sequence[Mapping], rejected: Sequence[Rejection]) -> dict[str, dict]:
    """Rejected rows' place in their scene, as far as it can be read (an unreadable place: none)."""
    from ..warehouse.fields import RowError, checked_int, is_blank, normal_id

    reasons = {r.prompt_id: r.reason for r in rejected if r.prompt_id}
    places = {}
    for row in raw_rows:
        prompt_id = None if is_blank(row.get("prompt_id")) else normal_id(row["prompt_id"])
        if prompt_id not in reasons or prompt_id in places or is_blank(row.get("scene")):
            continue
        try:
            order = None if is_blank(row.get("scene_order")) else checked_int(row["scene_order"], "scene_order", 0, 10**6)
        except RowError:
            continue
        places[prompt_id] = {"scene": str(row["scene"]).strip(), "scene_order": order, "reason": reasons[prompt_id]}
    return places

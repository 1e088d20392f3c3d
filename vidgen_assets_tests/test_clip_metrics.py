"""Clip metrics measured in the quality check's one decode, their medians in render_stats, and the drift check."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFilter

from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.stats import RunTimings, day_stats
from vidgen_assets.lib.stats.compute import METRIC_COLUMNS
from vidgen_assets.lib.stats.drift import DriftSettingError, DriftSettings, find_drift
from vidgen_assets.lib.stats.format import metrics_table
from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.video import encode_frames
from vidgen_assets.lib.video.metrics import METRICS, add_start_jumps, median_metrics, take_joins
from vidgen_assets.lib.video.quality import check_clip, check_day_clips
from vidgen_assets.lib.warehouse.render_stats import STATS_COLUMNS
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

SIZE, FRAMES, FPS = 64, 8, 8


def texture(seed: int = 3) -> np.ndarray:
    """A smooth random picture twice the clip's size, so windows of it can pan without wrapping."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (SIZE // 4, SIZE // 4, 3), dtype=np.uint8)
    return np.asarray(Image.fromarray(small).resize((2 * SIZE, 2 * SIZE), Image.Resampling.BICUBIC))


def clip_of(path: Path, frames: list[np.ndarray]) -> Path:
    encode_frames(path, frames, fps=FPS, width=SIZE, height=SIZE)
    return path


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder, picture = tmp_path_factory.mktemp("clips"), texture()
    still = picture[:SIZE, :SIZE]
    rng = np.random.default_rng(4)
    blocks = Image.fromarray(rng.integers(0, 256, (SIZE // 4, SIZE // 4, 3), dtype=np.uint8)).resize((SIZE, SIZE))
    sharp, blurred = np.asarray(blocks), np.asarray(blocks.filter(ImageFilter.GaussianBlur(2)))
    return {
        "still": clip_of(folder / "still.mp4", [still] * FRAMES),
        "pan": clip_of(folder / "pan.mp4", [picture[:SIZE, 3 * i : 3 * i + SIZE] for i in range(FRAMES)]),
        "slow_pan": clip_of(folder / "slow_pan.mp4", [picture[:SIZE, i : i + SIZE] for i in range(FRAMES)]),
        "flicker": clip_of(folder / "flicker.mp4", [np.clip(still.astype(int) + (40 if i % 2 else -40), 0, 255)
                                                    .astype(np.uint8) for i in range(FRAMES)]),  # fmt: skip
        "blurred_pan": clip_of(folder / "blurred_pan.mp4", [np.roll(blurred, 3 * i, axis=1) for i in range(FRAMES)]),
        "sharp_pan": clip_of(folder / "sharp_pan.mp4", [np.roll(sharp, 3 * i, axis=1) for i in range(FRAMES)]),
    }


def metrics_of(path: Path, **kwargs) -> dict:
    return check_clip(path, **kwargs).metrics


def test_each_metric_moves_the_way_its_clip_does(clips):
    still, pan, slow = metrics_of(clips["still"]), metrics_of(clips["pan"]), metrics_of(clips["slow_pan"])
    assert set(still) == set(METRICS)
    assert still["motion"] < 0.1 < slow["motion"] < pan["motion"]
    assert pan["motion"] == pytest.approx(3, rel=0.1)  # optical flow reads the pan's 3 px a frame
    assert slow["motion"] == pytest.approx(1, rel=0.1)
    flicker = metrics_of(clips["flicker"])
    assert flicker["flicker"] > 40 > 10 * max(still["flicker"], pan["flicker"])
    assert metrics_of(clips["blurred_pan"])["sharpness"] < metrics_of(clips["sharp_pan"])["sharpness"] / 3
    assert 0 < pan["saturation"] < 1 and 60 < pan["luma_mean"] < 200 and pan["luma_std"] > 10
    assert still["start_jump"] is None and still["join_jump"] is None  # not a continuation, not a long take


def test_the_quality_verdicts_are_unchanged_and_a_bad_file_has_no_numbers(clips, tmp_path):
    frozen = check_clip(clips["still"], expected_frames=FRAMES, expected_fps=FPS, expected_size=(SIZE, SIZE))
    assert not frozen.passed and frozen.problems[0].startswith("frozen")
    moving = check_clip(clips["pan"], expected_frames=FRAMES, expected_fps=FPS, expected_size=(SIZE, SIZE))
    assert moving.passed and moving.motion > 1  # the frozen check keeps its own luma-difference measure
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(clips["pan"].read_bytes()[:300])
    result = check_clip(broken)
    assert not result.passed and result.metrics == dict.fromkeys(METRICS)


def test_a_long_takes_join_jump_is_measured_at_its_join(tmp_path):
    picture = texture(5)
    params = {"num_frames": 5, "takes": 2, "take_crossfade_frames": 0, "fps": FPS, "width": SIZE, "height": SIZE}
    assert take_joins(params) == [[5]] and take_joins({**params, "take_crossfade_frames": 2}) == [[3, 4, 5]]
    # Both takes pan 1 px a frame; the second starts 20 px further along: a visible jump at frame 5.
    frames = [picture[:SIZE, i : i + SIZE] for i in range(5)] + [picture[:SIZE, 24 + i : 24 + i + SIZE] for i in range(4)]
    path = clip_of(tmp_path / "take.mp4", frames)
    joined = check_clip(path, joins=take_joins(params))
    smooth = check_clip(path, joins=[[3]])  # a step inside the first take
    assert joined.metrics["join_jump"] > 3 * smooth.metrics["join_jump"] > 0
    assert joined.join_jumps == [joined.metrics["join_jump"]]


def test_check_day_clips_reports_metrics_lineage_carries_them_and_old_results_are_not_reused(clips, tmp_path):
    store = LocalMediaStore(tmp_path)
    for name in ("pan", "flicker"):
        with store.writing(f"clips/{name}.mp4") as path:
            path.write_bytes(clips[name].read_bytes())
    params = {"num_frames": FRAMES, "fps": FPS, "width": SIZE, "height": SIZE, "seed": 1}
    items = [{"key": name, "media_key": f"clips/{name}.mp4", "params": params, "prompt_id": f"p-{name}", "preset": "tiny",
              "model": "m", "revision": "r", "dtype": "float32", "uri": f"clips/{name}.mp4", "cache_hit": False}
             for name in ("pan", "flicker")]  # fmt: skip
    report = check_day_clips(items, store)
    assert report["pan"]["passed"] and report["pan"]["metrics"]["motion"] > 1
    assert report["flicker"]["metrics"]["flicker"] > 40
    assert check_day_clips(items, store) == report  # cached with its metrics
    report["pan"]["continuity"] = {"continues": "p-x", "start_jump": 4.5}
    add_start_jumps(report)
    assert report["pan"]["metrics"]["start_jump"] == 4.5 and report["flicker"]["metrics"]["start_jump"] is None
    rows = clip_lineage(items, date(2026, 1, 2), "run-1", report)
    assert [row["params"]["metrics"] for row in rows] == [report["pan"]["metrics"], report["flicker"]["metrics"]]
    assert median_metrics(report.values())["flicker"] == pytest.approx(
        (report["pan"]["metrics"]["flicker"] + report["flicker"]["metrics"]["flicker"]) / 2, abs=1e-3
    )


def lineage_frame(day: date, motions: list[float], model: str = "tiny") -> pd.DataFrame:
    """Lineage records as the warehouse returns them: one clip per motion value, JSON columns as text."""
    import json

    return pd.DataFrame([{
        "key": f"c{i}", "kind": "clip", "partition_date": day, "prompt_id": f"p{i}", "uri": "u", "parent_keys": "[]",
        "models": json.dumps({"video": {"preset": model, "model": "m"}}),
        "params": json.dumps({"num_inference_steps": 2, "metrics": {**dict.fromkeys(METRICS), "motion": m, "flicker": 1.0}}),
        "timings": json.dumps({"render_s": 1.0}), "device": "cpu", "cache_hit": False, "run_id": "r",
    } for i, m in enumerate(motions)])  # fmt: skip


def test_render_stats_rows_hold_each_metrics_median():
    assert set(METRIC_COLUMNS) <= set(STATS_COLUMNS)  # the table has a column for every metric
    stats = day_stats(lineage_frame(date(2026, 1, 2), [1.0, 2.0, 9.0]), RunTimings(), price_per_gpu_hour=0.0)
    row = stats.iloc[0]
    assert row["motion_p50"] == 2.0 and row["flicker_p50"] == 1.0 and row["join_jump_p50"] is None
    assert set(METRIC_COLUMNS) <= set(stats.columns)
    shown = metrics_table(stats)
    assert "motion" in shown and "2" in shown and "clip score: unavailable" in shown


DAY = date(2026, 3, 20)


def history(today_motion: float, trailing: int, model: str = "tiny") -> pd.DataFrame:
    rows = [{"day": DAY - timedelta(days=back), "kind": "clip", "model": model, "motion_p50": 10.0 + back % 3 * 0.5,
             "flicker_p50": 2.0} for back in range(1, trailing + 1)]  # fmt: skip
    rows.append({"day": DAY, "kind": "clip", "model": model, "motion_p50": today_motion, "flicker_p50": 2.1})
    rows.append({"day": DAY, "kind": "keyframe", "model": model, "motion_p50": None, "flicker_p50": None})
    return pd.DataFrame(rows).reindex(columns=["day", "kind", "model", *METRIC_COLUMNS])


def test_a_sharp_drop_in_motion_warns_naming_metric_model_and_both_values():
    report = find_drift(history(today_motion=2.0, trailing=14), DAY)
    (drift,) = report.drifts
    assert (drift.metric, drift.model, drift.today, drift.baseline) == ("motion", "tiny", 2.0, 10.5)
    assert "motion of tiny: 2 today vs 10.5 median" in drift.describe() and "-81%" in drift.describe()
    assert {d.metric for d in report.judged} == {"motion", "flicker"}  # unmeasured metrics are not compared


def test_within_threshold_no_warning_and_too_few_days_no_judgement():
    assert find_drift(history(today_motion=8.0, trailing=14), DAY).drifts == []
    early = find_drift(history(today_motion=2.0, trailing=2), DAY)
    assert early.judged == [] and "motion of tiny: 2 trailing day(s) with a value, at least 3 needed" in early.not_judged
    # Days before the trailing window do not count towards it.
    stale = history(today_motion=2.0, trailing=20)
    assert find_drift(stale, DAY, DriftSettings(days=5, min_days=3)).drifts[0].days == 5


def test_drift_settings_from_env():
    settings = DriftSettings.from_env({"VIDGEN_DRIFT_MOTION": "0.9", "VIDGEN_DRIFT_DAYS": "7"})
    assert settings.thresholds["motion"] == 0.9 and settings.days == 7 and settings.thresholds["flicker"] == 1.0
    assert find_drift(history(today_motion=2.0, trailing=14), DAY, settings).drifts == []  # -81 % is within ±90 %
    with pytest.raises(DriftSettingError, match="VIDGEN_DRIFT_MOTION='lots' is not a number"):
        DriftSettings.from_env({"VIDGEN_DRIFT_MOTION": "lots"})
    with pytest.raises(DriftSettingError, match="VIDGEN_DRIFT_MIN_DAYS"):
        DriftSettings.from_env({"VIDGEN_DRIFT_DAYS": "2"})


def test_no_metrics_table_for_days_without_measured_clips():
    stats = day_stats(lineage_frame(date(2026, 1, 2), [1.0]).assign(params='{"num_inference_steps": 2}'), RunTimings(),
                      price_per_gpu_hour=0.0)  # fmt: skip
    assert metrics_table(stats) == ""


def evaluate_drift_check(instance, day: date):
    import dagster as dg

    from vidgen_assets.defs.resources import GenerationResource, WarehouseResource
    from vidgen_assets.defs.stats.assets import render_stats
    from vidgen_assets.defs.stats.checks import clip_metrics_drift

    result = dg.materialize(
        [render_stats, clip_metrics_drift], selection=dg.AssetSelection.checks(clip_metrics_drift),
        tags={"dagster/partition": day.isoformat()}, instance=instance,
        resources={"warehouse": WarehouseResource(), "generation": GenerationResource()},
    )  # fmt: skip
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@BOTH_WAREHOUSES
def test_the_drift_check_warns_through_dagster_when_motion_drops(store):
    """Fourteen days of clips at motion ~10, then a day at 2: stored through render_stats, judged by the check."""
    import dagster as dg

    from vidgen_assets.lib.warehouse.render_stats import read_stats, save_day_stats

    for back in range(14, -1, -1):
        day = DAY - timedelta(days=back)
        motions = [2.0, 2.2, 1.8] if back == 0 else [10.0, 10.5, 9.5]
        save_day_stats(store, day, day_stats(lineage_frame(day, motions), RunTimings(), price_per_gpu_hour=0.0))
    assert read_stats(store, DAY, DAY)["motion_p50"].tolist() == [2.0]
    with dg.instance_for_test() as instance:
        warned = evaluate_drift_check(instance, DAY)
        assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
        assert "motion of tiny: 2 today vs 10 median of the trailing 14 days (-80%" in warned.description
        assert warned.metadata["drifted"].value == 1 and "flicker" not in warned.metadata["drifts"].value
        early = evaluate_drift_check(instance, DAY - timedelta(days=13))  # one trailing day: no judgement
        assert early.passed and "no judgement yet" in early.description
        assert "1 trailing day(s) with a value, at least 3 needed" in early.metadata["not_judged"].value


def test_a_rendered_day_has_metrics_for_every_clip_in_lineage_and_render_stats(store):
    import json

    from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows
    from vidgen_assets.lib.warehouse.render_stats import lineage_records, read_stats
    from vidgen_assets.runner import run_day
    from vidgen_assets_tests.conftest import TEST_DAY

    import_rows(store, demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    run_day(TEST_DAY)
    records = lineage_records(store, TEST_DAY, TEST_DAY)
    clips = [json.loads(params)["metrics"] for params in records.loc[records["kind"] == "clip", "params"]]
    assert len(clips) == 2 and all(set(found) == set(METRICS) and found["motion"] > 0 for found in clips)
    (row,) = read_stats(store, TEST_DAY, TEST_DAY).query("kind == 'clip'").to_dict("records")
    assert row["motion_p50"] == pytest.approx(float(np.median([found["motion"] for found in clips])), abs=1e-3)
    assert row["sharpness_p50"] > 0 and pd.isna(row["start_jump_p50"])

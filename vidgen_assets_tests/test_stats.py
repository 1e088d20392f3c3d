"""Render statistics: a rendered day against its lineage, the chart, the queue target and the reel's freshness."""

from __future__ import annotations

import base64
import io
import json
import re
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import duckdb
import pandas as pd
import pytest
from PIL import Image

from vidgen_assets.defs.reels.assets import reel
from vidgen_assets.defs.reels.checks import reel_due_by_deadline, reel_freshness
from vidgen_assets.defs.resources import GenerationResource, WarehouseResource
from vidgen_assets.defs.stats.assets import render_stats
from vidgen_assets.defs.stats.checks import queue_wait_within_target
from vidgen_assets.lib import environment
from vidgen_assets.lib.stats import RunTimings, day_stats
from vidgen_assets.lib.stats.chart import SIZE_PX, stats_chart_png
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage
from vidgen_assets.lib.warehouse.render_stats import lineage_records, read_stats, save_day_stats
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, TEST_DAY


def lineage_means(home) -> dict:
    """Per kind and model straight from the lineage table: records, cache hits, mean render seconds of renders."""
    with duckdb.connect(str(home / "warehouse.duckdb")) as connection:
        rows = connection.execute("SELECT kind, models, timings, cache_hit, run_id FROM clips WHERE kind <> 'reel'").fetchall()
    found: dict = {}
    for kind, models, timings, cache_hit, run_id in rows:
        preset = next(iter(json.loads(models).values()))["preset"]
        entry = found.setdefault((kind, preset), {"runs": {}, "seconds": []})
        entry["runs"].setdefault(run_id, []).append(cache_hit)
        if not cache_hit:
            entry["seconds"].append(json.loads(timings)["render_s"])
    return found


def stats_materialization(instance: dg.DagsterInstance) -> dict:
    return instance.get_latest_materialization_event(dg.AssetKey("render_stats")).asset_materialization.metadata


def test_stats_of_a_rendered_day_match_its_lineage(vidgen_home, monkeypatch):
    from vidgen_assets.runner import run_day

    monkeypatch.setenv("VIDGEN_PRICE_PER_GPU_HOUR", "36")  # a cent per rendered second
    warehouse = Warehouse(environment.warehouse_target())
    import_rows(warehouse, demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    run_day(TEST_DAY)
    first = read_stats(warehouse, TEST_DAY, TEST_DAY).set_index(["kind", "model"])
    lineage = lineage_means(vidgen_home)
    assert set(first.index) == set(lineage) == {("keyframe", "tiny"), ("clip", "tiny")}
    for index, entry in lineage.items():
        (hits,) = entry["runs"].values()
        row = first.loc[index]
        assert (row["items"], row["rendered"], row["cache_hits"]) == (len(hits), len(hits) - sum(hits), sum(hits)) == (2, 2, 0)
        assert row["s_per_item_mean"] == pytest.approx(sum(entry["seconds"]) / len(entry["seconds"]), abs=1e-3)
        assert row["cost_day_usd"] == pytest.approx(sum(entry["seconds"]) / 100, rel=1e-3)
        assert row["device"] == "cpu" and row["run_wall_s"] > 0 and row["peak_memory_gb"] > 0
    assert first.loc[("clip", "tiny"), "denoise_s_p50"] > 0 and first.loc[("clip", "tiny"), "steps_per_s"] > 0

    # A re-run reuses everything: counts say so, the timings still describe how the outputs were made.
    run_day(TEST_DAY)
    second = read_stats(warehouse, TEST_DAY, TEST_DAY).set_index(["kind", "model"])
    assert len(second) == 2 and (second["cache_hits"] == 2).all() and (second["rendered"] == 0).all()
    assert second["s_per_item_mean"].tolist() == first["s_per_item_mean"].tolist()
    assert second["cost_day_usd"].tolist() == first["cost_day_usd"].tolist()  # nothing new was spent
    with dg.DagsterInstance.get() as instance:
        metadata = stats_materialization(instance)
        checks = {
            r.event_log_entry.dagster_event.event_specific_data.check_name: r.event_log_entry.dagster_event.event_specific_data
            for r in instance.get_event_records(dg.EventRecordsFilter(dg.DagsterEventType.ASSET_CHECK_EVALUATION))
        }
    png = base64.b64decode(re.search(r"base64,([A-Za-z0-9+/=]+)\)", metadata["chart"].value).group(1))
    assert Image.open(io.BytesIO(png)).size == SIZE_PX and len(png) < 60_000
    assert metadata["clips"].value == 2 and metadata["clips_rendered"].value == 0
    assert checks["queue_wait_within_target"].passed  # in process nothing waits a quarter of an hour
    assert "reel_due_by_deadline" in checks


def test_chart_is_a_small_png_of_the_stated_size():
    history = pd.DataFrame(
        [{"day": TEST_DAY - timedelta(days=n), "kind": "clip", "model": m, "s_per_item_p50": 10.0 + n}
         for n in range(14) for m in ("tiny", "svd-xt")]
    )  # fmt: skip
    png = stats_chart_png(history, {"keyframes": 5.0, "denoise": 18.0, "decode+encode": 4.0, "queued": 1.5}, TEST_DAY)
    image = Image.open(io.BytesIO(png))
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and image.format == "PNG"
    assert image.size == SIZE_PX and len(png) < 60_000


def synthetic_day(warehouse: Warehouse, run_id: str) -> None:
    record_lineage(warehouse, [
        lineage_row(key=f"clip-{n}", kind="clip", day=TEST_DAY, uri=f"c{n}.mp4", prompt_id=f"p{n}",
                    models={"video": {"preset": "tiny", "model": "vidgen/tiny", "revision": "r"}},
                    params={"num_inference_steps": 2}, timings={"render_s": 2.0, "denoise_s": 1.5, "decode_encode_s": 0.5},
                    device="cuda", run_id=run_id)
        for n in range(3)
    ])  # fmt: skip


def test_a_refused_clip_is_an_item_but_neither_rendered_nor_a_share_of_the_cost_per_clip(store):
    paid = {"video": {"preset": "runway-gen4-turbo", "model": "gen4_turbo"}}
    rows = [lineage_row(key=f"clip-{n}", kind="clip", day=TEST_DAY, uri=f"c{n}.mp4", prompt_id=f"p{n}", models=paid,
                        timings={"render_s": 20.0 + n, "cost_usd": 0.10}, run_id="r") for n in range(2)]  # fmt: skip
    refused = {"video": {**paid["video"], "failure": {"code": "budget", "reason": "VIDGEN_BUDGET_USD_PER_DAY"}}}
    rows.append(lineage_row(key="clip-2", kind="clip", day=TEST_DAY, uri="", prompt_id="p2", models=refused,
                            timings={"render_s": 0.0, "cost_usd": 0.0}, run_id="r"))  # as the runner records it
    record_lineage(store, rows)
    (row,) = day_stats(lineage_records(store, TEST_DAY, TEST_DAY), RunTimings(run_id="r"), price_per_gpu_hour=2.0).to_dict("records")
    assert (row["items"], row["rendered"], row["cache_hits"]) == (3, 2, 0)
    assert row["cost_day_usd"] == pytest.approx(0.2) and row["cost_per_item_usd"] == pytest.approx(0.1)
    assert row["s_per_item_p50"] == pytest.approx(20.5)


def evaluate_queue_check(instance: dg.DagsterInstance) -> dg.AssetCheckEvaluation:
    result = dg.materialize(
        [render_stats, queue_wait_within_target],
        selection=dg.AssetSelection.checks(queue_wait_within_target),
        tags={"dagster/partition": TEST_DAY.isoformat()},  # the check reads the day from the run, as in the daily job
        instance=instance,
        resources={"warehouse": WarehouseResource(), "generation": GenerationResource()},
    )
    (evaluation,) = result.get_asset_check_evaluations()
    return evaluation


@BOTH_WAREHOUSES
def test_an_hour_of_queueing_fails_the_queue_target(store):
    warehouse = store
    synthetic_day(warehouse, "run-late")
    waited = RunTimings(run_id="run-late", queue_s=3600.0, wall_s=60.0, pool_waits=[("clip", 600.0), ("clip", 0.0)])
    stats = day_stats(lineage_records(warehouse, TEST_DAY, TEST_DAY), waited, price_per_gpu_hour=2.0)
    assert stats["queue_wait_p95_s"].iloc[0] == pytest.approx(3600 + 0.95 * 600)
    save_day_stats(warehouse, TEST_DAY, stats)
    with dg.instance_for_test() as instance:
        late = evaluate_queue_check(instance)
        assert not late.passed and late.severity == dg.AssetCheckSeverity.WARN
        assert late.metadata["queue_wait_p95_s"].value > 3600 > late.metadata["target_s"].value

        prompt = RunTimings(run_id="run-late", queue_s=2.0, wall_s=60.0, pool_waits=[("clip", 1.0)])
        save_day_stats(warehouse, TEST_DAY, day_stats(lineage_records(warehouse, TEST_DAY, TEST_DAY), prompt, price_per_gpu_hour=2.0))
        assert evaluate_queue_check(instance).passed


def report_reel(instance: dg.DagsterInstance, day: date) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="reel", partition=day.isoformat()))


def test_the_deadline_check_measures_made_by_the_deadline_not_exists_now():
    now = datetime.now(timezone.utc)
    late_day, today = (now - timedelta(days=3)).date(), now.date()  # due two days ago; due tomorrow morning
    with dg.instance_for_test() as instance:
        missing = reel_freshness(instance, late_day, now, due_hour=6)
        assert not missing.passed and missing.metadata["partition"].value == late_day.isoformat()
        assert missing.metadata["overdue_s"].value > 24 * 3600 and f"{late_day}: no reel yet" in missing.description
        assert reel_freshness(instance, today, now, due_hour=6).passed  # not due yet

        report_reel(instance, late_day)  # made now, days after its deadline: it exists, but was late
        late = reel_freshness(instance, late_day, now, due_hour=6)
        assert not late.passed and late.metadata["late_s"].value > 24 * 3600 and "h late" in late.description
        report_reel(instance, today)
        on_time = reel_freshness(instance, today, now, due_hour=6)
        assert on_time.passed and on_time.metadata["late_s"].value == 0 and "on time" in on_time.description


def test_the_deadline_check_runs_through_dagster_for_its_day():
    """The check as Dagster runs it: a partitioned result naming its day, late without that day's reel."""
    day = (datetime.now(timezone.utc) - timedelta(days=3)).date()

    def evaluate(instance) -> dg.AssetCheckEvaluation:
        result = dg.materialize(
            [reel.to_source_asset(), reel_due_by_deadline], selection=dg.AssetSelection.checks(reel_due_by_deadline),
            # A check-only run names its day by tag, as `reel_freshness_sensor` requests it: Dagster 1.13 validates a
            # `partition_key` against the selected assets, and there are none.
            instance=instance, tags={"dagster/partition": day.isoformat()},
        )  # fmt: skip
        (evaluation,) = result.get_asset_check_evaluations()
        return evaluation

    with dg.instance_for_test() as instance:
        late = evaluate(instance)
        assert not late.passed and late.partition == day.isoformat() and late.description.startswith(f"{day}: no reel yet")


@BOTH_WAREHOUSES
def test_vidgen_stats_prints_the_stored_table(store, capsys):
    from vidgen_assets.cli import main

    warehouse = store
    synthetic_day(warehouse, "run-1")
    run = RunTimings(run_id="run-1", queue_s=5.0, wall_s=30.0)
    save_day_stats(warehouse, TEST_DAY, day_stats(lineage_records(warehouse, TEST_DAY, TEST_DAY), run, price_per_gpu_hour=36.0))
    window = ["--days", "2", "--until", (TEST_DAY + timedelta(days=1)).isoformat()]
    assert main(["stats", *window]) == 0
    heading, line = capsys.readouterr().out.splitlines()
    assert heading.split()[:4] == ["day", "kind", "model", "device"]
    assert line.split()[:6] == [TEST_DAY.isoformat(), "clip", "tiny", "cuda", "3", "3"]
    assert main(["stats", *window, "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["day"], row["items"], row["s_per_item_mean"], row["cost_day_usd"]) == (TEST_DAY.isoformat(), 3, 2.0, pytest.approx(0.06))
    assert main(["stats", *window, "--format", "csv"]) == 0
    assert pd.read_csv(io.StringIO(capsys.readouterr().out))["denoise_s_p50"].tolist() == [1.5]
    assert main(["stats", "--days", "1", "--until", (TEST_DAY - timedelta(days=1)).isoformat()]) == 0
    assert "no render statistics" in capsys.readouterr().out

"""The daemon's flows end to end on a Postgres-backed instance configured like deploy/dagster.yaml.

Nothing here calls a sensor or schedule function: the daemon ticks them, the run queue launches the
runs, the backfill daemon paces the backfill, and the tests read what the instance recorded.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets_tests.cluster import cluster, finished_runs, overlapping, run_records, step_intervals  # noqa: F401
from vidgen_assets_tests.conftest import TEST_DAY, wait_for

# Each test waits for daemon-launched runs of a fresh process per step: generous limits for a busy machine.
pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1800)]

SENSOR, SCHEDULE = "prompts_changed_sensor", "daily_reel_schedule"
GPU_DAY = TEST_DAY  # two rows: two keyframe and two clip shard steps (shard size 1)
BACKFILL_DAYS = (TEST_DAY + timedelta(days=1), TEST_DAY + timedelta(days=2))
RUN_WAIT_S = 600


def add_rows(*days: date, per_day: int = 1) -> None:
    rows = [
        {"prompt_id": f"p{day:%m%d}-{n}", "scheduled_for": str(day), "prompt": f"a lantern {n}", "seed": n, "num_frames": 2}
        for day in days
        for n in range(per_day)
    ]
    import_rows(Warehouse(environment.warehouse_target()), rows, {"tiny"}, {"tiny"})


def statuses(runs: list[dg.DagsterRun]) -> list[str]:
    return [run.status.value for run in runs]


def test_a_warehouse_change_ticks_the_sensor_into_a_successful_run(cluster):  # noqa: F811
    cluster.start_instigator("sensor", SENSOR)
    add_rows(GPU_DAY, per_day=2)
    with cluster.instance() as instance:
        tags = {"dagster/sensor_name": SENSOR, "dagster/partition": str(GPU_DAY)}
        runs = wait_for(lambda: finished_runs(instance, 1, **tags), RUN_WAIT_S, f"the sensor's run\n{cluster.log('daemon')}")
        assert statuses(runs) == ["SUCCESS"] and runs[0].tags["vidgen/changed_rows"] == "2"
        # Several GPU shard steps in one multiprocess run (two step processes at once): the pool kept them apart.
        gpu_steps = step_intervals(instance, runs[0].run_id)
    assert len(gpu_steps) == 4 and not overlapping(list(gpu_steps.values()))


def test_more_changed_days_than_the_threshold_become_one_backfill(cluster):  # noqa: F811
    add_rows(*BACKFILL_DAYS)  # VIDGEN_SENSOR_MAX_RUNS=1 in the code server

    def completed_backfill(instance):
        backfills = [b for b in instance.get_backfills() if b.tags.get("vidgen/launched_by") == SENSOR]
        return backfills if backfills and all(b.status.value.startswith(("COMPLETED", "FAILED", "CANCELED")) for b in backfills) else None

    with cluster.instance() as instance:
        (backfill,) = wait_for(lambda: completed_backfill(instance), RUN_WAIT_S, f"the backfill\n{cluster.log('daemon')}")
        assert backfill.status.value == "COMPLETED_SUCCESS" and backfill.tags["vidgen/changed_days"] == "2"
        records = run_records(instance, **{"dagster/backfill": backfill.backfill_id})
        gpu_steps = [step for r in records for step in step_intervals(instance, r.dagster_run.run_id).values()]
    assert sorted(r.dagster_run.tags["dagster/partition"] for r in records) == [str(day) for day in BACKFILL_DAYS]
    assert statuses([r.dagster_run for r in records]) == ["SUCCESS", "SUCCESS"]
    # The queue (4 runs at once) ran both days side by side; the `gpu` pool still ran one GPU step at a time.
    assert overlapping([(r.start_time, r.end_time) for r in records])
    assert len(gpu_steps) == 4 and not overlapping(gpu_steps)


def test_the_schedule_renders_the_previous_day_and_one_days_runs_take_turns(cluster):  # noqa: F811
    """The schedule's tick and the sensor both want yesterday: two runs of one day, one after the other."""
    now = datetime.now(timezone.utc)
    to_midnight = (datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), timezone.utc) - now).total_seconds()
    if to_midnight < 300:  # a tick after midnight would want today: start on the new day instead
        time.sleep(to_midnight + 1)
    yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
    cluster.start_instigator("sensor", SENSOR)
    add_rows(yesterday)
    cluster.start_instigator("schedule", SCHEDULE)
    try:
        with cluster.instance() as instance:
            # A schedule's run key is unique per tick: stopped after its first run, the every-minute cron adds no more.
            wait_for(lambda: run_records(instance, **{"dagster/schedule_name": SCHEDULE}), 180, "the schedule's tick")
            cluster.dagster("schedule", "stop", SCHEDULE, "-w", str(cluster.workspace))
            runs = wait_for(lambda: finished_runs(instance, 2, **{"dagster/partition": str(yesterday)}), 2 * RUN_WAIT_S, "the day's runs")
            records = run_records(instance, **{"dagster/partition": str(yesterday)})
    finally:
        cluster.dagster("schedule", "stop", SCHEDULE, "-w", str(cluster.workspace))
        cluster.dagster("sensor", "stop", SENSOR, "-w", str(cluster.workspace))
    scheduled = [run for run in runs if run.tags.get("dagster/schedule_name") == SCHEDULE]
    assert scheduled and [r for r in runs if r.tags.get("dagster/sensor_name") == SENSOR]
    for run in scheduled:  # each tick rendered the day before it
        ticked_at = datetime.fromisoformat(run.tags[".dagster/scheduled_execution_time"])  # a hidden tag: the tick time
        assert str(ticked_at.date() - timedelta(days=1)) == str(yesterday)
    # The webserver reports what the daemon's runs recorded.
    client = DagsterGraphQLClient("127.0.0.1", port_number=cluster.webserver_port)
    assert {client.get_run_status(run.run_id).value for run in runs} == {"SUCCESS"}
    assert not overlapping([(r.start_time, r.end_time) for r in records])


def test_no_two_gpu_steps_and_no_two_runs_of_a_day_ever_overlapped(cluster):  # noqa: F811
    with cluster.instance() as instance:
        records = run_records(instance)
        gpu_steps = [step for r in records for step in step_intervals(instance, r.dagster_run.run_id).values()]
    by_day: dict[str, list[tuple[float, float]]] = {}
    for record in records:
        by_day.setdefault(record.dagster_run.tags.get("dagster/partition", ""), []).append((record.start_time, record.end_time))
    assert len(records) >= 5 and len(gpu_steps) >= 10
    assert all(not overlapping(intervals) for day, intervals in by_day.items() if day), by_day
    assert not overlapping(gpu_steps)


def test_vidgen_demo_records_into_the_postgres_instance(cluster):  # noqa: F811
    day = TEST_DAY + timedelta(days=5)
    demo = subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", "demo", "--date", str(day), "--count", "1"],
        env=cluster.env, capture_output=True, text=True, timeout=RUN_WAIT_S,
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout + demo.stderr
    with cluster.instance() as instance:
        (record,) = run_records(instance, **{"dagster/partition": str(day), "vidgen/launched_by": "cli"})
        reel = instance.get_latest_materialization_event(dg.AssetKey("reel"))
    assert record.dagster_run.status == dg.DagsterRunStatus.SUCCESS
    assert reel.run_id == record.dagster_run.run_id and demo.stdout.strip().splitlines()[-1].endswith(".mp4")
    # Postgres holds the runs, events, prompts and lineage: no SQLite storage, no local DuckDB file.
    assert not list((cluster.home / "dagster").glob("**/*.db")) and not list(cluster.home.glob("**/*.duckdb"))

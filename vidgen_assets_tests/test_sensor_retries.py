"""A day whose run failed is requested again by the change sensor, a bounded number of times, then given up
with the reason on the reel's `day_render_retries` check of that day; `day_renders` moves only once a reel is published.
A run whose CLI process died is reaped and counts as failed; a run a user cancelled is not retried."""

from __future__ import annotations

import socket
import subprocess
from datetime import date

import dagster as dg
import pytest

from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib.warehouse import PromptSpec
from vidgen_assets.lib.warehouse.changes import soft_delete
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

pytestmark = pytest.mark.slow

DAY = date(2026, 10, 3)


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions()


def tick(definitions, store, instance, cursor):
    context = dg.build_sensor_context(
        cursor=cursor, definitions=definitions, instance=instance,
        resources={"warehouse": WarehouseResource(target=store.target)},
    )  # fmt: skip
    return prompts_changed_sensor.evaluate_tick(context)


def run(definitions, instance, request):
    """The requested run, in this process, recorded in `instance` with the sensor's tags."""
    job = definitions.resolve_job_def("daily_reel_job")
    return job.execute_in_process(partition_key=request.partition_key, instance=instance, raise_on_error=False, tags=request.tags)


def retries_check(result) -> dg.AssetCheckEvaluation:
    (found,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "day_render_retries"]
    return found


def record_run(definitions, instance, request, status, **tags) -> dg.DagsterRun:
    """A run of the request recorded without executing it (as a killed or cancelled one leaves it)."""
    return instance.create_run_for_job(
        definitions.resolve_job_def("daily_reel_job"), run_config={}, status=status,
        tags={**request.tags, "dagster/partition": request.partition_key, **tags},
    )  # fmt: skip


def put_row(store, video_model: str | None) -> None:
    frames = None if video_model else 2  # the hosted preset's own length; a short local clip
    store.upsert_prompts([PromptSpec("heron", DAY, "a heron", seed=5, video_model=video_model, num_frames=frames)])


@BOTH_WAREHOUSES
def test_a_failing_day_is_retried_then_given_up_with_its_reason_until_its_rows_change(definitions, store, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)  # every run of the hosted row fails in `videos`
    monkeypatch.setenv("VIDGEN_SENSOR_MAX_ATTEMPTS", "2")
    put_row(store, "replicate-svd-xt")
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(definitions, store, instance, None)
        (request,) = first.run_requests
        assert not run(definitions, instance, request).success
        assert store.last_renders([DAY]) == {}  # the prompts step ran, the reel did not: not rendered

        retry = tick(definitions, store, instance, first.cursor)
        (again,) = retry.run_requests
        assert again.partition_key == DAY.isoformat() and again.run_key != request.run_key
        assert not run(definitions, instance, again).success

        gave_up = tick(definitions, store, instance, retry.cursor)
        assert not gave_up.run_requests and "Given up until their rows change: 2026-10-03" in gave_up.skip_message
        (warning,) = gave_up.asset_events
        assert isinstance(warning, dg.AssetCheckEvaluation) and warning.check_name == "day_render_retries"
        assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
        assert warning.partition == DAY.isoformat()  # the day's own evaluation, not replaced by another day's
        assert "2 runs failed for the same rows" in warning.description
        assert "REPLICATE_API_TOKEN is not set" in warning.description
        quiet = tick(definitions, store, instance, gave_up.cursor)  # said once, not every tick
        assert not quiet.run_requests and not quiet.asset_events

        put_row(store, None)  # fixed: the local tiny model
        fixed = tick(definitions, store, instance, quiet.cursor)
        (request,) = fixed.run_requests
        result = run(definitions, instance, request)
        assert result.success
        assert set(store.last_renders([DAY])) == {DAY}  # the reel is published: the day is rendered
        passed = retries_check(result)
        assert passed.passed and passed.partition == DAY.isoformat() and passed.description == f"{DAY}: the reel is published"
        done = tick(definitions, store, instance, fixed.cursor)
        assert not done.run_requests and not done.asset_events

        soft_delete(store, ["heron"])  # every row gone: its run withdraws the reel
        (request,) = tick(definitions, store, instance, done.cursor).run_requests
        withdrawn = retries_check(run(definitions, instance, request))
        assert withdrawn.passed and withdrawn.partition == DAY.isoformat()
        assert withdrawn.description.startswith(f"{DAY}: the day was withdrawn") and "reel is published" not in withdrawn.description


def test_a_run_whose_cli_process_was_killed_is_reaped_and_its_day_retried(definitions, store):
    put_row(store, None)
    gone = subprocess.Popen(["true"])
    gone.wait()
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(definitions, store, instance, None)
        (request,) = first.run_requests
        dead = record_run(definitions, instance, request, dg.DagsterRunStatus.STARTED, **{
            "vidgen/launched_by": "cli", "vidgen/host": socket.gethostname(), "vidgen/pid": str(gone.pid)})  # fmt: skip
        retry = tick(definitions, store, instance, first.cursor)
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        (again,) = retry.run_requests  # not "running" forever: its failure counts like any other
        assert again.partition_key == DAY.isoformat() and again.run_key.endswith(":retry-1")


def test_a_cancelled_run_is_not_requested_again_until_its_rows_change(definitions, store):
    put_row(store, None)
    with dg.DagsterInstance.ephemeral() as instance:
        first = tick(definitions, store, instance, None)
        (request,) = first.run_requests
        cancelled = record_run(definitions, instance, request, dg.DagsterRunStatus.NOT_STARTED)
        instance.report_run_canceled(cancelled)
        stopped = tick(definitions, store, instance, first.cursor)
        assert not stopped.run_requests and "Given up until their rows change: 2026-10-03" in stopped.skip_message
        (warning,) = stopped.asset_events
        assert not warning.passed and warning.partition == DAY.isoformat()
        assert f"run {cancelled.run_id} was cancelled by a user" in warning.description
        quiet = tick(definitions, store, instance, stopped.cursor)
        assert not quiet.run_requests and not quiet.asset_events

        store.upsert_prompts([PromptSpec("heron", DAY, "a heron, at dusk", seed=5, num_frames=2)])
        (request,) = tick(definitions, store, instance, quiet.cursor).run_requests
        assert request.partition_key == DAY.isoformat()

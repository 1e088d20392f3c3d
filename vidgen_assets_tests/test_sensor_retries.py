"""A day whose run failed is requested again by the change sensor, a bounded number of times, then given up
with the reason on the reel's `day_render_retries` check; `day_renders` moves only once a reel is published."""

from __future__ import annotations

from datetime import date

import dagster as dg
import pytest

from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib.warehouse import PromptSpec
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


def run(definitions, instance, request) -> bool:
    """The requested run, in this process, recorded in `instance` with the sensor's tags."""
    job = definitions.resolve_job_def("daily_reel_job")
    result = job.execute_in_process(
        partition_key=request.partition_key, instance=instance, raise_on_error=False, tags=request.tags
    )
    return result.success


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
        assert not run(definitions, instance, request)
        assert store.last_renders([DAY]) == {}  # the prompts step ran, the reel did not: not rendered

        retry = tick(definitions, store, instance, first.cursor)
        (again,) = retry.run_requests
        assert again.partition_key == DAY.isoformat() and again.run_key != request.run_key
        assert not run(definitions, instance, again)

        gave_up = tick(definitions, store, instance, retry.cursor)
        assert not gave_up.run_requests and "Given up until their rows change: 2026-10-03" in gave_up.skip_message
        (warning,) = gave_up.asset_events
        assert isinstance(warning, dg.AssetCheckEvaluation) and warning.check_name == "day_render_retries"
        assert not warning.passed and warning.severity == dg.AssetCheckSeverity.WARN
        assert "2 runs failed for the same rows" in warning.description
        assert "REPLICATE_API_TOKEN is not set" in warning.description
        quiet = tick(definitions, store, instance, gave_up.cursor)  # said once, not every tick
        assert not quiet.run_requests and not quiet.asset_events

        put_row(store, None)  # fixed: the local tiny model
        fixed = tick(definitions, store, instance, quiet.cursor)
        (request,) = fixed.run_requests
        assert run(definitions, instance, request)
        assert set(store.last_renders([DAY])) == {DAY}  # the reel is published: the day is rendered
        done = tick(definitions, store, instance, fixed.cursor)
        assert not done.run_requests and not done.asset_events

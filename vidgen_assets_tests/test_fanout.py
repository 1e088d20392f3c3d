"""One day fanned out over shard steps, run by the multiprocess executor in separate processes."""

from __future__ import annotations

import dagster as dg
import pytest

from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import daily_reel_job, use_dagster_home
from vidgen_assets_tests.conftest import TEST_DAY

pytestmark = pytest.mark.slow

ROWS = 30  # three shards of at most 12: the fan-out, at a quarter of the rendering
SHARD_SIZE = 12


def test_a_day_of_30_rows_runs_3_shard_steps_per_stage_one_gpu_step_at_a_time(vidgen_home, monkeypatch):
    """The local instance's `gpu` pool (1 on a machine without CUDA) keeps shard steps off each other's GPU."""
    use_dagster_home()
    monkeypatch.setenv("VIDGEN_SHARD_SIZE", str(SHARD_SIZE))
    monkeypatch.setenv("VIDGEN_EXECUTOR", "multiprocess")
    rows = [
        {"prompt_id": f"r{n:03d}", "scheduled_for": str(TEST_DAY), "prompt": f"scene {n}", "seed": n,
         # Smallest frames the models take: the test is about the fan-out, not the pixels.
         "num_frames": 2, "width": 32, "height": 32, "motion_bucket_ids": "30;90" if n % 10 == 0 else "127"}
        for n in range(ROWS)
    ]  # fmt: skip
    import_rows(Warehouse(environment.warehouse_target()), rows, {"tiny"}, {"tiny"})
    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(
            dg.reconstructable(daily_reel_job),
            instance=instance,
            tags={"dagster/partition": str(TEST_DAY)},
            run_config={"execution": {"config": {"max_concurrent": 2}}},
        )
        assert result.success
        steps = {event.step_key for event in result.all_events if event.is_step_success}
        pids = {event.pid for event in result.all_events if event.is_step_start}
        gpu_steps = gpu_step_intervals(instance, result.run_id)
        clips = build_definitions().load_asset_value("videos", instance=instance, partition_key=str(TEST_DAY))["items"]
    assert len(gpu_steps) == 6
    for (_, end), (next_start, _) in zip(gpu_steps, gpu_steps[1:]):
        assert end <= next_start  # the pool's one slot: GPU steps ran one after another
    for asset, op in (("keyframes", "render_keyframes_shard"), ("videos", "render_clips_shard")):
        assert {s for s in steps if op in s} == {f"{asset}.{op}[shard_{n}]" for n in range(3)}
    assert len(pids) > 1  # steps ran in separate processes
    assert len(clips) == ROWS + ROWS // 10  # one clip per bucket: every tenth row has two
    assert len({c["key"] for c in clips}) == len(clips)


def gpu_step_intervals(instance: dg.DagsterInstance, run_id: str) -> list[tuple[float, float]]:
    """(start, end) wall times of the run's render steps, in start order, from its event log."""
    times: dict[str, dict[str, float]] = {}
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry
        step = event.step_key or ""
        if "_shard[" in step and event.dagster_event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS):
            times.setdefault(step, {})[event.dagster_event_type.value] = event.timestamp
    return sorted((t["STEP_START"], t["STEP_SUCCESS"]) for t in times.values())

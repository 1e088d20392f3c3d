"""One day fanned out over shard steps, run by the multiprocess executor in separate processes."""

from __future__ import annotations

import dagster as dg

from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import daily_reel_job
from vidgen_assets_tests.conftest import TEST_DAY

ROWS = 120
SHARD_SIZE = 50


def test_a_day_of_120_rows_runs_3_shard_steps_per_stage(vidgen_home, monkeypatch):
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
        clips = build_definitions().load_asset_value("videos", instance=instance, partition_key=str(TEST_DAY))["items"]
    for asset, op in (("keyframes", "render_keyframes_shard"), ("videos", "render_clips_shard")):
        assert {s for s in steps if op in s} == {f"{asset}.{op}[shard_{n}]" for n in range(3)}
    assert len(pids) > 1  # steps ran in separate processes
    assert len(clips) == ROWS + ROWS // 10  # one clip per bucket: every tenth row has two
    assert len({c["key"] for c in clips}) == len(clips)

"""A whole day on the S3 backend (real moto_server on loopback): caching, lineage and no leaked secrets."""

from __future__ import annotations

import re

import subprocess
import sys

import dagster as dg

from vidgen_assets.lib import environment
from vidgen_assets.lib.storage.lifecycle import step_outputs_prefix
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.warehouse.lineage import lineage_chain
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

SECRET = "wJalrXUtnFEMI-K7MDENG-vidgen-test-secret"


def rows(second_prompt: str) -> list[dict]:
    day = str(TEST_DAY)
    return [
        {"prompt_id": "s1", "scheduled_for": day, "prompt": "a kite over dunes", "seed": 1, "motion_bucket_ids": "20;200"},
        {"prompt_id": "s2", "scheduled_for": day, "prompt": second_prompt, "seed": 2},
    ]


def videos_metadata(instance) -> dict:
    event = instance.get_latest_materialization_event(dg.AssetKey("videos"))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def test_day_on_s3_caches_by_content_and_records_lineage(vidgen_home, s3_bucket, monkeypatch):  # noqa: F811
    client, bucket = s3_bucket
    monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://{bucket}/media")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    warehouse = Warehouse(environment.warehouse_target())
    import_rows(warehouse, rows("a tram in fog"), {"tiny"}, {"tiny"})

    reel_uri = run_day(TEST_DAY)
    assert reel_uri.startswith(f"s3://{bucket}/media/reels/{TEST_DAY}/")
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert len([k for k in keys if k.startswith("media/clips/")]) == 3
    assert not [k for k in keys if "partial" in k]
    # The lifecycle rule's prefix holds exactly the run's inner op outputs; the assets' day outputs stay outside it.
    per_run = step_outputs_prefix("media")
    assert {k.split("/")[3] for k in keys if k.startswith(per_run)} == {run.run_id for run in dg.DagsterInstance.get().get_runs()}
    assert {"media/dagster-io/videos/" + str(TEST_DAY), "media/dagster-io/reel/" + str(TEST_DAY)} <= keys

    with dg.DagsterInstance.get() as instance:
        run_day(TEST_DAY)
        assert videos_metadata(instance)["rendered"] == 0 and videos_metadata(instance)["cache_hits"] == 3

        import_rows(warehouse, rows("a tram in heavy fog"), {"tiny"}, {"tiny"})
        run_day(TEST_DAY)
        assert videos_metadata(instance)["rendered"] == 1 and videos_metadata(instance)["cache_hits"] == 2

        # Secrets reach boto3 through the environment and appear in no log line or metadata value.
        # Every event of every run, serialized whole: messages, metadata, errors.
        logs = "\n".join(dg.serialize_value(entry) for run in instance.get_runs() for entry in instance.all_logs(run.run_id))
    assert SECRET not in logs and "reel" in logs

    chain = lineage_chain(warehouse, "s2")
    kinds = [o["kind"] for o in chain["outputs"]]
    assert kinds == ["keyframe", "clip", "reel"] and chain["prompts"][0]["prompt"] == "a tram in heavy fog"
    for output in chain["outputs"]:
        assert output["uri"].startswith(f"s3://{bucket}/") and output["run_id"]
    clip = chain["outputs"][1]
    assert clip["parent_keys"] == [chain["outputs"][0]["key"]]
    assert clip["models"]["video"]["revision"] and clip["params"]["num_frames"] == 8 and clip["device"] == "cpu"

    printed = subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", "lineage", "s2"], capture_output=True, text=True, check=True
    ).stdout
    lines = printed.splitlines()
    assert lines[0].startswith("prompt   s2") and [line.split()[0] for line in lines][1 : 1 + 2 * len(kinds) : 2] == kinds
    assert len([line for line in lines if line.startswith("run ")]) == 3  # rendered, all reused, one re-rendered


def test_on_s3_an_asset_without_its_upstream_output_names_it(vidgen_home, s3_bucket, monkeypatch):  # noqa: F811
    _, bucket = s3_bucket
    monkeypatch.setenv("VIDGEN_MEDIA_URI", f"s3://{bucket}/media")
    from vidgen_assets.definitions import build_definitions

    job = build_definitions().resolve_job_def("daily_reel_job")
    with dg.DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(
            partition_key=str(TEST_DAY), asset_selection=[dg.AssetKey("reel")], instance=instance, raise_on_error=False
        )
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    assert re.search(rf"materialize `(videos|soundtrack)` for {TEST_DAY} first", failure.step_failure_data.error.message)

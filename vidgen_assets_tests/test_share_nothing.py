"""A whole day whose steps share nothing but the network, as step pods on different nodes.

Each step runs as `dagster api execute_step` in its own process (see `pod_steps.py`) with a private, empty
VIDGEN_HOME, DAGSTER_HOME, working directory and TMPDIR, deleted when the step ends. Shared: S3
(moto_server), the Postgres warehouse, the Postgres Dagster instance, and a models directory built
beforehand, as baked into an image.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import dagster as dg
import pytest
import yaml

from vidgen_assets.lib.generation import get_preset
from vidgen_assets.lib.generation.loader import resolve_weights
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.warehouse.lineage import lineage_chain
from vidgen_assets_tests import pod_steps
from vidgen_assets_tests.cluster import instance_config, postgres_env
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(1200)]

DAY = str(TEST_DAY)
SHARED = ("PYTHONPATH", "LANG", "NO_PROXY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL")


def snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(directory)): (p.stat().st_size, p.stat().st_mtime_ns) for p in directory.rglob("*")}


def test_a_day_whose_steps_share_only_s3_and_postgres(postgres_server, s3_bucket, vidgen_home, tmp_path, monkeypatch):  # noqa: F811
    client, bucket = s3_bucket
    warehouse_url = postgres_server.new_database("warehouse")
    models = tmp_path / "models"  # the image's baked-in weights
    for task in ("text-to-image", "image-to-video"):
        resolve_weights(get_preset("tiny", task), models)
    baked = snapshot(models)

    # The run worker (this process) and every step read the instance from Postgres; compute logs are not
    # kept on a local disk (a pod's disk goes with it).
    config = {**instance_config(postgres_server.port), "compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}}
    instance_yaml = yaml.safe_dump(config)
    (vidgen_home / "dagster" / "dagster.yaml").write_text(instance_yaml)
    network = {
        **postgres_env(postgres_server.new_database("dagster")), "VIDGEN_WAREHOUSE": warehouse_url,
        "VIDGEN_MEDIA_URI": f"s3://{bucket}/media", "VIDGEN_MODELS_DIR": str(models), "HF_HUB_OFFLINE": "1", "VIDGEN_SHARD_SIZE": "1",
    }  # fmt: skip
    for name, value in network.items():
        monkeypatch.setenv(name, value)
    # The image's PATH: `dagster` (the step command) from this environment.
    image_path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    pod_env = {**{n: os.environ[n] for n in SHARED if n in os.environ}, "PATH": image_path, **network}
    monkeypatch.setattr(pod_steps, "STEPS", pod_steps.PodLikeSteps(tmp_path / "pods", pod_env, instance_yaml))
    rows = [{"prompt_id": f"n{n}", "scheduled_for": DAY, "prompt": f"a paper boat {n}", "seed": n, "num_frames": 2} for n in range(2)]
    import_rows(Warehouse(warehouse_url), rows, {"tiny"}, {"tiny"})

    with dg.DagsterInstance.get() as instance:
        result = dg.execute_job(dg.reconstructable(pod_steps.daily_reel_job), instance=instance, tags={"dagster/partition": DAY})
        assert result.success
        started = {event.step_key: event.pid for event in result.all_events if event.is_step_start}
        succeeded = {event.step_key for event in result.all_events if event.is_step_success}

    pods = pod_steps.STEPS.pods
    assert set(pods) == set(started), (sorted(pods), sorted(started))
    assert succeeded == set(started), sorted(set(started) - succeeded)
    assert len(pods) >= 12  # prompts … reel and their checks, two shards per GPU stage
    assert all(pod.wait_removed() and pod.returncode == 0 and not pod.root.exists() for pod in pods.values())
    assert len(set(started.values())) == len(started) and os.getpid() not in started.values()  # a process each
    assert {p.name for p in (tmp_path / "pods").iterdir() if p.is_dir()} == set()  # every private disk is gone
    assert snapshot(models) == baked  # read-only: no step added or changed weights

    # What the day made is on the network: the reel on S3, lineage in the Postgres warehouse.
    keys = {o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]}
    assert any(k.startswith(f"media/reels/{DAY}/") and k.endswith(".mp4") for k in keys)
    chain = lineage_chain(Warehouse(warehouse_url), "n1")
    assert [o["kind"] for o in chain["outputs"]] == ["keyframe", "clip", "reel"]
    assert all(o["uri"].startswith(f"s3://{bucket}/") for o in chain["outputs"])
    # Nor did the run worker keep anything locally: no warehouse file, media, cache or step storage.
    assert sorted(p.name for p in vidgen_home.iterdir()) == ["dagster"]
    assert {p.name for p in (vidgen_home / "dagster").iterdir()} <= {"dagster.yaml", "locks"}

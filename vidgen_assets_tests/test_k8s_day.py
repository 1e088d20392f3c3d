"""A day through dagster-k8s's own `K8sRunLauncher` and `k8s_job_executor` against the loopback Kubernetes API:
the daemon launches the run worker as a Job, every step is a Job whose pod is a private process, GPU steps get
the GPU limit, node selector and tolerations from `VIDGEN_K8S_GPU_*`. Faults as a cluster has them: an
OOM-killed GPU pod, a preempted (deleted) one mid-shard, a secret missing from the namespace, and a node
selector no node matches. Shared: S3 (moto), the Postgres warehouse and instance, the models baked into the image.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import boto3
import dagster as dg
import psycopg
import pytest
from kubernetes import client

from vidgen_assets.lib.generation import get_preset
from vidgen_assets.lib.generation.loader import resolve_weights
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.warehouse.lineage import lineage_chain
from vidgen_assets_tests.conftest import TEST_DAY, wait_for
from vidgen_assets_tests.k8s_deployment import (
    CODE_IMAGE, GPU_IMAGE, NAMESPACE, clips_rendered, delete_secret, k8s_day_deployment, preempt_mid_shard,
)  # fmt: skip
from vidgen_assets_tests.loopback_k8s import cluster_nodes
from vidgen_assets_tests.s3_server import s3_endpoint  # noqa: F401

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

DAY, OTHER_DAY = str(TEST_DAY), "2026-11-02"
GPU_SELECTOR = {"nvidia.com/gpu.present": "true", "pool": "render"}
GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}, {"key": "pool", "operator": "Equal", "value": "render"}]
NODES = [{**node, "labels": {**node["labels"], "pool": "render"}} if node.get("gpus") else node for node in cluster_nodes(2)]
GPU_OPS = re.compile(r"render_keyframes_shard|render_clips_shard|^soundtrack")  # the ops in the pool `gpu`
Event = dg.DagsterEventType


@pytest.fixture(scope="module")
def deployment(postgres_server, s3_endpoint, tmp_path_factory, models_dir):  # noqa: F811
    for task in ("text-to-image", "image-to-video"):  # the GPU image's baked-in weights
        resolve_weights(get_preset("tiny", task), models_dir)
    location_env = {
        "VIDGEN_SHARD_SIZE": "1", "VIDGEN_K8S_GPU_NODE_SELECTOR": json.dumps(GPU_SELECTOR),
        "VIDGEN_K8S_GPU_TOLERATIONS": json.dumps(GPU_TOLERATIONS), "VIDGEN_GPU_RETRY_DELAY_S": "2",
        "VIDGEN_K8S_STEP_HEALTH_CHECK_S": "2", "VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S": "15",
    }  # fmt: skip
    home = tmp_path_factory.mktemp("k8s-day")
    with k8s_day_deployment(home, postgres_server, s3_endpoint, models_dir, NODES, gpu_limit=2, pod_start_s=0.5, location_env=location_env) as running:
        rows = [{"prompt_id": f"n{n}", "scheduled_for": DAY, "prompt": f"a paper boat {n}", "seed": n, "num_frames": 2,
                 "motion_bucket_ids": "60;120;180"} for n in range(2)]  # fmt: skip
        rows.append({"prompt_id": "o0", "scheduled_for": OTHER_DAY, "prompt": "a kite", "seed": 9, "num_frames": 2})
        import_rows(Warehouse(running.warehouse), rows, {"tiny"}, {"tiny"})
        yield running


def test_a_day_through_the_k8s_run_launcher_and_executor_with_an_oom_and_a_preemption(deployment):
    k8s = deployment.k8s
    k8s.oom_kill("render_keyframes_shard", after_s=2)  # the first keyframes shard pod is OOM-killed
    run_id = deployment.launch(DAY)
    preempted = preempt_mid_shard(k8s, 300)
    # Mid-run, the run worker pod holds the day's lock in the warehouse, as `vidgen run` does: they take turns.
    with psycopg.connect(deployment.warehouse) as db:
        holders = db.execute("SELECT application_name FROM pg_stat_activity WHERE application_name LIKE %s", (f"vidgen day {DAY} %",)).fetchall()
    assert len(holders) == 1 and run_id[:8] in holders[0][0], holders
    run = deployment.wait(run_id, 400)
    assert run.status == dg.DagsterRunStatus.SUCCESS, [e.message for e in deployment.events(run_id)][-15:]
    assert run.tags["dagster/image"] == CODE_IMAGE  # K8sRunLauncher launched the run worker
    batch = k8s.api()[1]
    wait_for(lambda: batch.read_namespaced_job_status(f"dagster-run-{run_id}", NAMESPACE).status.succeeded, 60, "the run worker to exit")

    pods = {pod.metadata.name: pod for pod in deployment.pods(run_id)}
    workers = [p for p in pods.values() if p.metadata.labels["app.kubernetes.io/component"] == "run_worker"]
    assert len(workers) == 1 and workers[0].status.phase == "Succeeded"
    assert workers[0].spec.containers[0].args[:3] == ["dagster", "api", "execute_run"]
    steps = [p for p in pods.values() if p.metadata.labels["app.kubernetes.io/component"] == "step_worker"]
    gpu = [p for p in steps if GPU_OPS.search(p.metadata.labels["dagster/op"])]
    assert len(gpu) >= 4 and len(steps) - len(gpu) >= 4  # two shards per GPU stage (and retries); prompts, reel, ...
    for pod in steps:
        container = pod.spec.containers[0]
        assert container.args[:3] == ["dagster", "api", "execute_step"]
        assert {"vidgen-secrets", "hf-token", "dagster-postgres"} <= {s.secret_ref.name for s in container.env_from}
        if pod in gpu:
            assert container.resources.limits["nvidia.com/gpu"] == "1" and container.image == GPU_IMAGE
            assert pod.spec.node_selector == GPU_SELECTOR and pod.spec.node_name.startswith("gpu-")
            assert [{k: v for k, v in t.to_dict().items() if v is not None} for t in pod.spec.tolerations] == GPU_TOLERATIONS
        else:
            assert "nvidia.com/gpu" not in (container.resources.limits or {}) and container.image == CODE_IMAGE
            assert not pod.spec.node_selector and pod.spec.node_name == "cpu-0"
    stats = k8s.stats()
    assert 1 <= stats["max_gpu_pods_running"] <= 2  # two GPU nodes, pool `gpu` set to 2

    # The OOM-killed pod: the step failed with the kernel's reason in the event log, and its retry succeeded.
    retries = deployment.events(run_id, Event.STEP_UP_FOR_RETRY)
    oom = [e for e in retries if "render_keyframes_shard" in e.step_key and "OOMKilled (exit code 137)" in str(e.dagster_event.event_specific_data.error)]
    assert len(oom) == 1, [str(e.dagster_event.event_specific_data.error) for e in retries]
    successes = {e.step_key for e in deployment.events(run_id, Event.STEP_SUCCESS)}
    assert oom[0].step_key in successes
    # The preempted pod: its step was retried in a new pod, which rendered only the clips still missing.
    step_key_label = preempted["labels"]["dagster/op"]
    shard_pods = [p for p in k8s.pods() if p["labels"].get("dagster/op") == step_key_label]
    assert [p["phase"] for p in shard_pods] == ["Failed", "Succeeded"] and shard_pods[0]["name"] == preempted["name"]
    before, after = (clips_rendered(k8s.logs(NAMESPACE, p["name"])) for p in shard_pods)
    assert before and after and not before & after, (before, after)  # no finished clip rendered again
    assert len(before | after) == 3 and len({prompt for prompt, _ in before | after}) == 1  # the shard's three clips

    # What the day made is on the network: the reel on S3, lineage in the Postgres warehouse.
    keys = {o["Key"] for o in boto3.client("s3").list_objects_v2(Bucket=deployment.bucket)["Contents"]}
    assert any(k.startswith(f"media/reels/{DAY}/") and k.endswith(".mp4") for k in keys)
    chain = lineage_chain(Warehouse(deployment.warehouse), "n1")
    kinds = [o["kind"] for o in chain["outputs"]]
    assert (kinds[0], kinds.count("clip"), kinds[-1]) == ("keyframe", 3, "reel")
    # Every pod's private disk is gone, and none wrote to the run launcher's DAGSTER_HOME path on this machine.
    assert not any((k8s.root / "cluster" / "pods").iterdir())
    assert not Path("/opt/dagster/dagster_home").exists()


def test_a_secret_missing_from_the_namespace_fails_the_run_before_any_step_pod(deployment):
    delete_secret(deployment.k8s, "hf-token")
    run_id = deployment.launch(OTHER_DAY)
    run = deployment.wait(run_id, 120)
    assert run.status == dg.DagsterRunStatus.FAILURE
    said = " ".join(str(e.dagster_event.event_specific_data) for e in deployment.events(run_id) if e.dagster_event)
    assert 'secret "hf-token" missing from namespace vidgen' in said and "VIDGEN_K8S_ENV_SECRETS" in said
    assert [p.metadata.labels["app.kubernetes.io/component"] for p in deployment.pods(run_id)] == ["run_worker"]
    deployment.k8s.api()[0].create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name="hf-token"), string_data={"HF_TOKEN": "hf_test"}))


def test_a_selector_no_node_matches_fails_the_step_naming_it(deployment):
    k8s = deployment.k8s
    k8s.set_nodes([{**node, "labels": {k: v for k, v in node["labels"].items() if k != "pool"}} for node in NODES])  # the pool label is gone
    try:
        run_id = deployment.launch(OTHER_DAY)

        def unschedulable():
            return [e for e in deployment.events(run_id, Event.STEP_UP_FOR_RETRY, Event.STEP_FAILURE) if "unschedulable" in str(e.dagster_event.event_specific_data)]

        (event,) = wait_for(unschedulable, 180, "the GPU step to give up waiting for a node")[:1]
        said = str(event.dagster_event.event_specific_data.error)
        assert "render_keyframes_shard" in event.step_key
        assert "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector." in said
        assert json.dumps(GPU_SELECTOR) in said and "VIDGEN_K8S_GPU_NODE_SELECTOR" in said
        with deployment.instance() as instance:
            assert instance.run_launcher.terminate(run_id)  # K8sRunLauncher deletes the run worker's Job
        assert deployment.wait(run_id, 120).status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.FAILURE)
    finally:
        k8s.set_nodes(NODES)

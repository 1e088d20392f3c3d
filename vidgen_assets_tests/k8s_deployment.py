"""A deployment whose runs and steps are Kubernetes Jobs on the loopback API (`loopback_k8s.py`).

`deploy/dagster.yaml` as the tests run it: the test server's Postgres port, its `K8sRunLauncher` pointed at the
fake through a kubeconfig instead of the in-cluster service account, and no compute logs on a local disk. The
gRPC code server carries what the Helm chart's user deployment gives run and step pods (its `env`) as its
container context, and its image names; `dagster-daemon run` dequeues runs and launches each as a run worker
Job, whose `k8s_job_executor` launches each step as a Job. Secrets are created in the namespace through the API.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import yaml
from kubernetes import client

from vidgen_assets_tests.cluster import BIN, INSTANCE_YAML, Cluster, _daemons_alive, _grpc_answers, postgres_env
from vidgen_assets_tests.conftest import free_port, wait_for
from vidgen_assets_tests.loopback_k8s import LoopbackKubernetes, running_loopback_k8s

# A shard's progress line per rendered clip (a cache hit logs nothing): "clip n3 bucket 127: 2/10 in 0.41s, ...".
CLIP_LINE = re.compile(r"clip (\S+) bucket (\d+): (\d+)/(\d+)")
CODE_IMAGE = "registry.example/vidgen-assets:test"
GPU_IMAGE = "registry.example/vidgen-assets-gpu:test"
NAMESPACE = "vidgen"
NOOP_COMPUTE_LOGS = {"module": "dagster.core.storage.noop_compute_log_manager", "class": "NoOpComputeLogManager"}


def k8s_instance_config(postgres_port: int, kubeconfig: Path) -> dict:
    """deploy/dagster.yaml with the test server's port and its run launcher reaching the API by kubeconfig."""
    config = yaml.safe_load(INSTANCE_YAML.read_text())
    config["storage"]["postgres"]["postgres_db"]["port"] = postgres_port
    config["run_launcher"]["config"].update(load_incluster_config=False, kubeconfig_file=str(kubeconfig))
    config["compute_logs"] = NOOP_COMPUTE_LOGS  # a pod's disk goes with it
    return config


def create_secrets(k8s: LoopbackKubernetes, postgres_url: str, secret_env: dict[str, str]) -> None:
    """`dagster-postgres` and `vidgen-secrets` as deploy/README.md tells operators to create them, and `hf-token`."""
    core, _ = k8s.api()
    for name, data in (("dagster-postgres", postgres_env(postgres_url)), ("vidgen-secrets", secret_env), ("hf-token", {"HF_TOKEN": "hf_test"})):
        core.create_namespaced_secret(NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name=name), string_data=data))


def delete_secret(k8s: LoopbackKubernetes, name: str) -> None:
    k8s.api()[0].delete_namespaced_secret(name, NAMESPACE)


@dataclass
class K8sDeployment:
    cluster: Cluster
    k8s: LoopbackKubernetes
    bucket: str = ""
    warehouse: str = ""

    def instance(self) -> dg.DagsterInstance:
        return self.cluster.instance()

    def launch(self, day: str) -> str:
        """`dagster job launch` of the day's job, as an operator runs it: queued, then launched by the daemon."""
        run_id = str(uuid.uuid4())
        self.cluster.dagster("job", "launch", "-j", "daily_reel_job", "-w", str(self.cluster.workspace), "--run-id", run_id,
                             "--tags", json.dumps({"dagster/partition": day}))  # fmt: skip
        return run_id

    def wait(self, run_id: str, seconds: float) -> dg.DagsterRun:
        def ended():
            with self.instance() as instance:
                run = instance.get_run_by_id(run_id)
            return run if run and run.is_finished else None

        return wait_for(ended, seconds, f"run {run_id} to end")

    def events(self, run_id: str, *kinds: dg.DagsterEventType) -> list[dg.EventLogEntry]:
        with self.instance() as instance:
            records = instance.get_records_for_run(run_id).records
        return [r.event_log_entry for r in records if not kinds or r.event_log_entry.dagster_event_type in kinds]

    def pods(self, run_id: str) -> list[client.V1Pod]:
        """The run's pods (run worker and steps) as the API lists them."""
        return self.k8s.api()[0].list_namespaced_pod(NAMESPACE, label_selector=f"dagster/run-id={run_id}").items


def start_k8s_deployment(
    home: Path, postgres_port: int, env: dict[str, str], location_env: dict[str, str], k8s: LoopbackKubernetes, gpu_limit: int
) -> K8sDeployment:
    """Instance file, schema and `gpu` pool first; then the code server and the daemon (`env` is theirs).
    `reel_freshness_sensor` (running by default) is stopped before the daemon starts: its check runs of
    other days would take the machine's two cores from the runs being measured."""
    dagster_home = Path(env["DAGSTER_HOME"])
    (home / "logs").mkdir(parents=True)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(k8s_instance_config(postgres_port, k8s.kubeconfig)))
    code_port = free_port()
    cluster = Cluster(home=home, env={**env, **location_env}, webserver_port=0)
    grpc_server = {"host": "127.0.0.1", "port": code_port, "location_name": "vidgen_assets"}
    cluster.workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": grpc_server}]}))
    cluster.dagster("instance", "migrate")
    cluster.dagster("instance", "concurrency", "set", "gpu", str(gpu_limit))
    # What the Helm chart gives the user deployment's pods (`env`), handed to every run and step pod.
    context = {"k8s": {"namespace": NAMESPACE, "env_vars": [f"{k}={v}" for k, v in location_env.items()]}}
    try:
        cluster.start("code-server", [str(BIN / "dagster"), "api", "grpc", "-m", "vidgen_assets.definitions", "-h", "127.0.0.1",
                                      "-p", str(code_port), "--container-image", CODE_IMAGE, "--container-context", json.dumps(context)])  # fmt: skip
        wait_for(lambda: _grpc_answers(code_port, cluster.env), 120, f"the code server to answer\n{cluster.log('code-server')}")
        cluster.dagster("sensor", "stop", "reel_freshness_sensor", "-w", str(cluster.workspace))
        cluster.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(cluster.workspace)])
        wait_for(lambda: _daemons_alive(cluster), 120, f"the daemons' heartbeats\n{cluster.log('daemon')}")
    except BaseException:
        cluster.stop()
        raise
    return K8sDeployment(cluster, k8s)


def clips_rendered(log: str) -> set[tuple[str, str]]:
    """(prompt, motion bucket) of each clip a shard pod rendered, from its log."""
    return {match.groups()[:2] for match in CLIP_LINE.finditer(log)}


def preempt_mid_shard(k8s: LoopbackKubernetes, seconds: float, grace_s: int = 5) -> dict:
    """Delete through the API, as a node preemption does (SIGTERM, then SIGKILL after `grace_s`: a spot node's short
    notice), the first videos shard pod that has rendered a clip and has more to render; its timeline entry."""

    def mid_shard():
        for pod in k8s.pods("render_clips_shard"):
            if pod["phase"] == "Running" and (done := CLIP_LINE.findall(k8s.logs(NAMESPACE, pod["name"]))) and done[-1][2] != done[-1][3]:
                return pod

    deadline = time.monotonic() + seconds
    while not (pod := mid_shard()):  # polled often: a tiny clip takes well under a second
        assert time.monotonic() < deadline, f"no videos shard pod was caught mid-shard within {seconds:.0f}s"
        time.sleep(0.1)
    k8s.api()[0].delete_namespaced_pod(pod["name"], NAMESPACE, grace_period_seconds=grace_s)
    return pod


@contextmanager
def k8s_day_deployment(
    home: Path, postgres_server, s3_endpoint: str, models_dir: Path, nodes: list[dict], *, gpu_limit: int,
    pod_start_s: float, location_env: dict[str, str],
) -> Iterator[K8sDeployment]:
    """The loopback API with `nodes`, its secrets, an S3 bucket, fresh warehouse and instance databases, and the
    deployment; `location_env` joins the code location's env. This process's environment reaches the instance
    and warehouse (restored on exit). Rows are the caller's to import into `deployment.warehouse`."""
    import boto3

    aws = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": s3_endpoint}
    bucket = f"vidgen-k8s-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                 region_name="us-east-1").create_bucket(Bucket=bucket)  # fmt: skip
    warehouse, dagster_db = postgres_server.new_database("warehouse"), postgres_server.new_database("dagster")
    # The code location's env on a cluster (the Helm user deployment's `env`), handed to every run and step pod.
    location = {"VIDGEN_EXECUTOR": "k8s", "VIDGEN_MEDIA_URI": f"s3://{bucket}/media", "VIDGEN_MODELS_DIR": str(models_dir),
                "HF_HUB_OFFLINE": "1", "VIDGEN_FIRST_DAY": "2024-01-01", "VIDGEN_K8S_ENV_SECRETS": "vidgen-secrets,hf-token",
                "VIDGEN_K8S_GPU_IMAGE": GPU_IMAGE, **location_env}  # fmt: skip
    saved = dict(os.environ)
    with running_loopback_k8s(home / "k8s", nodes, [CODE_IMAGE, GPU_IMAGE], pod_start_s=pod_start_s) as k8s:
        create_secrets(k8s, dagster_db, {**aws, "VIDGEN_WAREHOUSE": warehouse})
        os.environ.update({**postgres_env(dagster_db), **aws, "DAGSTER_HOME": str(home / "dagster"), "VIDGEN_WAREHOUSE": warehouse,
                           "VIDGEN_HOME": str(home / "vidgen"), "NO_PROXY": "127.0.0.1,localhost"})  # fmt: skip
        os.environ.pop("VIDGEN_MEDIA_URI", None)
        try:
            deployment = start_k8s_deployment(home, postgres_server.port, dict(os.environ), location, k8s, gpu_limit)
            deployment.bucket, deployment.warehouse = bucket, warehouse
            try:
                yield deployment
            finally:
                deployment.cluster.stop()
        finally:
            os.environ.clear()
            os.environ.update(saved)

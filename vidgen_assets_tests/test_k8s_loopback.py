"""The loopback Kubernetes API speaks the protocol the official client and dagster-k8s expect: Jobs, pods, logs,
secrets and config maps, `Status` errors, a kubelet running each pod as a private process with exactly its
manifest's environment, and a scheduler holding pods Pending with kube-scheduler's reasons."""

from __future__ import annotations

import json
import sys
import time

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from vidgen_assets_tests.conftest import wait_for
from vidgen_assets_tests.loopback_k8s import GPU_LABELS, cluster_nodes, running_loopback_k8s

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(180)]

IMAGE = "vidgen-assets:test"
NS = "vidgen"
# What the container prints: its environment, working directory and whether HOME and TMPDIR start empty.
PROBE = "import json, os; print(json.dumps({'env': dict(os.environ), 'cwd': os.getcwd(), 'home': os.listdir(os.environ['HOME']), 'tmp': os.listdir(os.environ['TMPDIR'])}))"


@pytest.fixture(scope="module")
def k8s(tmp_path_factory):
    with running_loopback_k8s(tmp_path_factory.mktemp("k8s"), cluster_nodes(2), [IMAGE]) as fake:
        yield fake


def job(name: str, command: list[str], gpus: int = 0, node_selector=None, tolerations=None, backoff_limit: int = 0, **container) -> client.V1Job:
    resources = client.V1ResourceRequirements(limits={"nvidia.com/gpu": str(gpus)}) if gpus else None
    spec = client.V1PodSpec(
        restart_policy="Never", node_selector=node_selector, tolerations=tolerations,
        containers=[client.V1Container(name="main", image=IMAGE, args=command, resources=resources, **container)],
    )  # fmt: skip
    template = client.V1PodTemplateSpec(metadata=client.V1ObjectMeta(labels={"dagster/op": name}), spec=spec)
    return client.V1Job(api_version="batch/v1", kind="Job", metadata=client.V1ObjectMeta(name=name),
                        spec=client.V1JobSpec(template=template, backoff_limit=backoff_limit))  # fmt: skip


def pod_of(core, job_name: str) -> client.V1Pod:
    return wait_for(lambda: core.list_namespaced_pod(NS, label_selector=f"job-name={job_name}").items, 10, f"{job_name}'s pod")[0]


def finished(batch, name: str) -> client.V1JobStatus:
    def ended():
        status = batch.read_namespaced_job_status(name, NS).status
        return status if status.succeeded or status.failed else None

    return wait_for(ended, 60, f"job {name} to end")


GPU_TOLERATION = [client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]


def test_a_job_runs_with_exactly_its_manifests_environment(k8s):
    core, batch = k8s.api()
    core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="creds"), string_data={"TOKEN": "s3cret", "REGION": "eu"}))
    core.create_namespaced_config_map(NS, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"MODE": "fast"}))
    env = [client.V1EnvVar(name="PLAIN", value="1"), client.V1EnvVar(name="DERIVED", value="$(PLAIN)-x"),
           client.V1EnvVar(name="KEY", value_from=client.V1EnvVarSource(secret_key_ref=client.V1SecretKeySelector(name="creds", key="TOKEN")))]  # fmt: skip
    env_from = [client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="creds")),
                client.V1EnvFromSource(config_map_ref=client.V1ConfigMapEnvSource(name="settings"), prefix="CFG_")]  # fmt: skip
    batch.create_namespaced_job(NS, job("probe", [sys.executable, "-c", PROBE], env=env, env_from=env_from, working_dir="/app"))
    assert finished(batch, "probe").succeeded == 1
    pod = pod_of(core, "probe")
    assert pod.status.phase == "Succeeded" and pod.metadata.labels["job-name"] == "probe"
    assert pod.status.container_statuses[0].state.terminated.exit_code == 0
    assert pod.status.container_statuses[0].state.terminated.reason == "Completed"
    seen = json.loads(core.read_namespaced_pod_log(pod.metadata.name, NS, _preload_content=False).data)
    mine = {k: v for k, v in seen["env"].items() if k not in ("PATH", "LANG", "PYTHONPATH", "OMP_NUM_THREADS", "NO_PROXY", "PYTHONUNBUFFERED", "LC_CTYPE")}
    assert {k: v for k, v in mine.items() if k not in ("HOME", "TMPDIR", "HOSTNAME")} == {
        "PLAIN": "1", "DERIVED": "1-x", "KEY": "s3cret", "TOKEN": "s3cret", "REGION": "eu", "CFG_MODE": "fast"}  # fmt: skip
    assert mine["HOSTNAME"] == pod.metadata.name and seen["home"] == [] and seen["tmp"] == []
    assert seen["cwd"].endswith("/app") and not k8s.root.joinpath("cluster", "pods", f"{NS}_{pod.metadata.name}").exists()


def test_errors_are_kubernetes_status_objects(k8s):
    core, batch = k8s.api()
    batch.create_namespaced_job(NS, job("twice", [sys.executable, "-c", "pass"]))
    with pytest.raises(ApiException) as conflict:
        batch.create_namespaced_job(NS, job("twice", [sys.executable, "-c", "pass"]))
    status = json.loads(conflict.value.body)
    assert (conflict.value.status, status["kind"], status["reason"]) == (409, "Status", "AlreadyExists")
    assert status["details"] == {"name": "twice", "kind": "jobs", "group": "batch"}
    with pytest.raises(ApiException) as missing:
        batch.read_namespaced_job_status("nobody", NS)
    assert missing.value.status == 404 and json.loads(missing.value.body)["message"] == 'jobs.batch "nobody" not found'
    with pytest.raises(ApiException) as unauthorized:
        client.CoreV1Api(client.ApiClient(client.Configuration(host=k8s.url))).list_namespaced_pod(NS)
    assert unauthorized.value.status == 401


def test_dagster_k8s_client_waits_for_a_job_and_reads_its_pod(k8s):
    from dagster_k8s.client import DagsterKubernetesClient, DagsterK8sError

    config.load_kube_config(str(k8s.kubeconfig))
    api = DagsterKubernetesClient.production_client()
    _, batch = k8s.api()
    batch.create_namespaced_job(NS, job("quick", [sys.executable, "-c", "print('hello from the pod')"]))
    api.wait_for_job_success("quick", NS, wait_time_between_attempts=0.2)
    (pod,) = api.get_pod_names_in_job("quick", NS)
    assert api.retrieve_pod_logs(pod, NS) == "hello from the pod\n"
    batch.create_namespaced_job(NS, job("crash", [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]))
    with pytest.raises(DagsterK8sError, match="Encountered failed job pods"):
        api.wait_for_job_success("crash", NS, wait_time_between_attempts=0.2)
    info = api.get_pod_debug_info(api.get_pod_names_in_job("crash", NS)[0], NS)
    assert "Pod status: Failed" in info and "Terminated with exit code 3: Error" in info and "boom" in info
    api.delete_job("crash", NS)
    assert api.get_job_status("crash", NS) is None and api.get_pod_names_in_job("crash", NS) == []


def test_gpus_selectors_and_taints_decide_where_pods_run(k8s):
    core, batch = k8s.api()
    sleeper = [sys.executable, "-c", "import time; time.sleep(30)"]
    for n in range(3):
        batch.create_namespaced_job(NS, job(f"gpu-{n}", sleeper, gpus=1, node_selector=GPU_LABELS, tolerations=GPU_TOLERATION))
    batch.create_namespaced_job(NS, job("nowhere", sleeper, gpus=1, node_selector={"pool": "h100"}, tolerations=GPU_TOLERATION))
    batch.create_namespaced_job(NS, job("untolerated", sleeper, gpus=1, node_selector=GPU_LABELS))
    wait_for(lambda: len([p for p in k8s.pods("gpu-") if p["phase"] == "Running"]) == 2, 30, "two GPU pods running")
    time.sleep(0.5)
    waiting = {p["labels"]["dagster/op"]: p for p in k8s.pods() if p["phase"] == "Pending"}
    assert sorted(waiting) == sorted([next(n for n in waiting if n.startswith("gpu-")), "nowhere", "untolerated"])
    messages = {}
    for name in waiting:
        scheduled = pod_of(core, name).status.conditions[0]
        assert (scheduled.type, scheduled.status, scheduled.reason) == ("PodScheduled", "False", "Unschedulable")
        messages[name[:3] if name.startswith("gpu") else name] = scheduled.message
    assert messages["nowhere"] == "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."
    assert messages["gpu"] == "0/3 nodes are available: 2 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector."
    assert messages["untolerated"] == (
        "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "
        "2 node(s) had untolerated taint {nvidia.com/gpu: }."
    )
    events = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={pod_of(core, 'nowhere').metadata.name}").items
    assert [(e.type, e.reason) for e in events] == [("Warning", "FailedScheduling")]
    # A deleted (preempted) pod frees its GPU: the waiting GPU pod starts, and the Job counts a failed pod.
    running = next(p for p in k8s.pods("gpu-") if p["phase"] == "Running")
    core.delete_namespaced_pod(running["name"], NS, grace_period_seconds=0)
    wait_for(lambda: next(p for p in k8s.pods("gpu-") if p["name"] == running["name"])["phase"] == "Failed", 30, "the deleted pod to stop")
    wait_for(lambda: len([p for p in k8s.pods("gpu-") if p["phase"] == "Running"]) == 2, 30, "the waiting GPU pod to start")
    status = batch.read_namespaced_job_status(running["labels"]["job-name"], NS).status
    assert (status.failed, status.active, status.conditions[0].reason) == (1, 0, "BackoffLimitExceeded")
    assert k8s.stats()["max_gpu_pods_running"] == 2
    for name in ("gpu-0", "gpu-1", "gpu-2", "nowhere", "untolerated"):
        batch.delete_namespaced_job(name, NS, propagation_policy="Background")


def test_oom_kills_missing_secrets_and_backoff(k8s):
    core, batch = k8s.api()
    k8s.oom_kill("hungry", after_s=0.3, count=1)
    batch.create_namespaced_job(NS, job("hungry", [sys.executable, "-c", "import time; time.sleep(5)"], backoff_limit=1))
    status = wait_for(lambda: (s := finished(batch, "hungry")).succeeded and s, 60, "the second pod to succeed")
    assert (status.failed, status.succeeded) == (1, 1)  # backoffLimit 1: one replacement pod
    first = next(p for p in k8s.pods("hungry") if p["phase"] == "Failed")
    assert (first["exit_code"], first["oom_killed"]) == (137, True)
    oom = core.read_namespaced_pod(first["name"], NS).status.container_statuses[0].state.terminated
    assert (oom.exit_code, oom.reason) == (137, "OOMKilled")
    env_from = [client.V1EnvFromSource(secret_ref=client.V1SecretEnvSource(name="not-there"))]
    batch.create_namespaced_job(NS, job("no-secret", [sys.executable, "-c", "pass"], env_from=env_from))
    waiting = wait_for(lambda: (w := pod_of(core, "no-secret").status.container_statuses[0].state.waiting) and w.reason != "ContainerCreating" and w, 10, "the kubelet to give up")
    assert (waiting.reason, waiting.message) == ("CreateContainerConfigError", 'secret "not-there" not found')
    core.create_namespaced_secret(NS, client.V1Secret(metadata=client.V1ObjectMeta(name="not-there"), string_data={"A": "1"}))
    assert finished(batch, "no-secret").succeeded == 1  # the kubelet retries until the secret exists

"""The k8s executor's pod-aware health check, offline: what it says about an OOM-killed, unschedulable or stuck
pod, its settings, and that it keeps `k8s_job_executor`'s name and config schema."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import dagster as dg
import pytest
from dagster_k8s import k8s_job_executor
from kubernetes import client

from vidgen_assets.lib.k8s import k8s_executor_config_from_env
from vidgen_assets.lib.k8s_steps import PodAwareK8sStepHandler, pod_aware_k8s_executor, pod_end, pod_health_settings


SELECTOR_MISMATCH = "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector."


def pod(*, terminated=None, waiting=None, unschedulable_for: float | None = None, age_s: float = 0,
        message: str = SELECTOR_MISMATCH) -> client.V1Pod:  # fmt: skip
    state = client.V1ContainerState(terminated=terminated, waiting=waiting)
    status = client.V1ContainerStatus(name="main", image="i", image_id="i", ready=False, restart_count=0, state=state)
    conditions = []
    if unschedulable_for is not None:
        conditions = [client.V1PodCondition(type="PodScheduled", status="False", reason="Unschedulable", message=message)]
    created = datetime.now(timezone.utc) - timedelta(seconds=unschedulable_for or age_s)
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name="dagster-step-abc-x1", creation_timestamp=created),
        spec=client.V1PodSpec(containers=[client.V1Container(name="main")], node_selector={"pool": "h100"},
                              tolerations=[client.V1Toleration(key="nvidia.com/gpu", operator="Exists", effect="NoSchedule")]),
        status=client.V1PodStatus(phase="Pending", container_statuses=[status], conditions=conditions),
    )  # fmt: skip


def handler(timeout_s: float) -> PodAwareK8sStepHandler:
    """The handler without its API client (its constructor loads a kubeconfig): only the pod reading is tested."""
    found = object.__new__(PodAwareK8sStepHandler)
    found._unschedulable_timeout_s = timeout_s
    return found


def test_an_oom_killed_pod_says_so():
    oom = pod(terminated=client.V1ContainerStateTerminated(exit_code=137, reason="OOMKilled"))
    assert pod_end(oom) == "pod dagster-step-abc-x1: OOMKilled (exit code 137)"
    assert pod_end(pod(terminated=client.V1ContainerStateTerminated(exit_code=0, reason="Completed"))) is None


def test_an_unschedulable_pod_fails_after_the_timeout_naming_its_selector():
    assert handler(600)._stuck(pod(unschedulable_for=30)) is None  # still within the wait
    said = handler(600)._stuck(pod(unschedulable_for=700))
    assert said.startswith("pod dagster-step-abc-x1 unschedulable for 700s")
    assert "3 node(s) didn't match Pod's node affinity/selector." in said and '{"pool": "h100"}' in said
    assert '"key": "nvidia.com/gpu"' in said and "VIDGEN_K8S_GPU_NODE_SELECTOR" in said


def test_a_container_that_cannot_be_created_fails_at_once():
    missing = client.V1ContainerStateWaiting(reason="CreateContainerConfigError", message='secret "hf-token" not found')
    assert handler(600)._stuck(pod(waiting=missing)) == (
        'pod dagster-step-abc-x1 cannot start: CreateContainerConfigError: secret "hf-token" not found'
    )
    assert handler(600)._stuck(pod(waiting=client.V1ContainerStateWaiting(reason="ContainerCreating"))) is None


def test_a_pod_queueing_for_a_busy_gpu_waits_and_an_image_pull_gets_the_timeout():
    busy = "0/3 nodes are available: 2 Insufficient nvidia.com/gpu, 1 node(s) didn't match Pod's node affinity/selector."
    assert handler(600)._stuck(pod(unschedulable_for=5000, message=busy)) is None  # a GPU frees up: queueing, not lost
    pulling = client.V1ContainerStateWaiting(reason="ImagePullBackOff", message="Back-off pulling image (429)")
    assert handler(600)._stuck(pod(waiting=pulling, age_s=30)) is None  # the kubelet retries: a registry blip passes
    said = handler(600)._stuck(pod(waiting=pulling, age_s=700))
    assert said.startswith("pod dagster-step-abc-x1 could not pull its image for 700s") and "429" in said


def test_a_selector_label_value_must_be_a_string():
    from vidgen_assets.lib.environment import SettingError
    from vidgen_assets.lib.k8s import GpuStepSettings

    with pytest.raises(SettingError, match="VIDGEN_K8S_GPU_NODE_SELECTOR values must be JSON strings"):
        GpuStepSettings.from_env({"VIDGEN_K8S_GPU_NODE_SELECTOR": '{"nvidia.com/gpu.present": true}'})


def test_health_settings_from_env():
    assert pod_health_settings({}) == {"VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S": 600.0, "VIDGEN_K8S_STEP_HEALTH_CHECK_S": 20.0}
    assert pod_health_settings({"VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S": "90"})["VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S"] == 90.0
    with pytest.raises(ValueError, match="VIDGEN_K8S_STEP_HEALTH_CHECK_S='soon' is not a number"):
        pod_health_settings({"VIDGEN_K8S_STEP_HEALTH_CHECK_S": "soon"})
    for bad in ("0", "nan", "inf"):
        with pytest.raises(ValueError, match="must be above 0"):
            pod_health_settings({"VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S": bad})


def test_it_is_the_k8s_executor_with_its_config_schema():
    executor = pod_aware_k8s_executor(k8s_executor_config_from_env({"VIDGEN_MEDIA_URI": "s3://b/p"}))
    assert executor.name == k8s_job_executor.name == "k8s"

    @dg.asset
    def probe() -> None: ...

    job = dg.define_asset_job("probe_job").resolve(asset_graph=dg.Definitions(assets=[probe]).resolve_asset_graph())
    assert dg.validate_run_config(job.with_executor_def(executor)) is not None
    with pytest.raises(dg.DagsterInvalidConfigError):  # dagster-k8s's own schema checks the config
        dg.validate_run_config(job.with_executor_def(pod_aware_k8s_executor({"max_concurrent": "eight"})))


def test_the_secret_check_names_a_missing_secret_and_skips_one_it_may_not_read():
    from kubernetes.client.rest import ApiException

    class Core:  # what the namespace answers: hf-token is absent, the Role may not read vidgen-secrets
        def read_namespaced_secret(self, name, namespace):
            if name != "present":
                raise ApiException(status=404 if name == "hf-token" else 403)

        def read_namespaced_config_map(self, name, namespace):
            raise ApiException(status=404)

    found = handler(600)
    found._api_client = type("Client", (), {"core_api": Core()})()
    assert found.missing_env_sources("vidgen", ["present", "hf-token", "vidgen-secrets"], ["settings"]) == [
        'secret "hf-token"', 'config map "settings"'
    ]

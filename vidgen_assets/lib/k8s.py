"""Kubernetes settings: op tags that put GPU steps on GPU nodes, the k8s executor's config from the
environment, and an offline preview of the Job a step pod gets.

dagster_k8s and kubernetes are imported inside the functions that need them, so the code location
loads without paying for them.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vidgen_assets.lib.environment import SettingError

if TYPE_CHECKING:
    from kubernetes.client import V1Job

# Same string as `dagster_k8s.job.USER_DEFINED_K8S_CONFIG_KEY`; only op tags reach step pods.
K8S_CONFIG_TAG = "dagster-k8s/config"
# The Dagster pool every GPU step joins: its limit caps GPU pods across all runs.
GPU_POOL = "gpu"
# Passed from the process that builds the executor config to every step pod, when set. They end up in
# the run config, visible in the UI: anything secret reaches pods through `env_secrets` instead.
FORWARDED_ENV = ("VIDGEN_MEDIA_URI", "AWS_ENDPOINT_URL")


class K8sSettingsError(SettingError):
    """A VIDGEN_K8S_* variable that cannot be used as it stands."""


def _default_node_selector() -> dict[str, str]:
    return {"nvidia.com/gpu.present": "true"}


def _default_tolerations() -> list[dict[str, str]]:
    return [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


@dataclass(frozen=True)
class GpuStepSettings:
    """What a GPU step pod asks Kubernetes for; defaults suit one NVIDIA GPU per pod."""

    gpu_count: int = 1
    gpu_resource: str = "nvidia.com/gpu"
    cpu_request: str = "4"
    memory_request: str = "32Gi"
    memory_limit: str = "64Gi"
    node_selector: dict[str, str] = field(default_factory=_default_node_selector)
    tolerations: list[dict[str, str]] = field(default_factory=_default_tolerations)
    image: str | None = None  # None: the step runs in the code location's image

    def __post_init__(self) -> None:
        if self.gpu_count < 1:
            raise K8sSettingsError(f"a GPU step needs at least one GPU (VIDGEN_K8S_GPU_COUNT), not {self.gpu_count}")
        if _memory_bytes(self.memory_limit) < _memory_bytes(self.memory_request):
            raise K8sSettingsError(
                f"memory limit {self.memory_limit} (VIDGEN_K8S_GPU_MEMORY_LIMIT) is below the request {self.memory_request} "
                "(VIDGEN_K8S_GPU_MEMORY); "
                "Kubernetes would reject the pod"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> GpuStepSettings:
        """Defaults overridden by `VIDGEN_K8S_GPU_COUNT`, `_RESOURCE`, `_IMAGE`, `_CPU`, `_MEMORY`,
        `_MEMORY_LIMIT`, `_NODE_SELECTOR` (a JSON object) and `_TOLERATIONS` (a JSON list)."""
        env = os.environ if environ is None else environ
        overrides: dict[str, Any] = {}
        if env.get("VIDGEN_K8S_GPU_COUNT"):
            overrides["gpu_count"] = _int_var(env, "VIDGEN_K8S_GPU_COUNT")
        for name, attribute in (
            ("VIDGEN_K8S_GPU_RESOURCE", "gpu_resource"),
            ("VIDGEN_K8S_GPU_IMAGE", "image"),
            ("VIDGEN_K8S_GPU_CPU", "cpu_request"),
            ("VIDGEN_K8S_GPU_MEMORY", "memory_request"),
            ("VIDGEN_K8S_GPU_MEMORY_LIMIT", "memory_limit"),
        ):
            if env.get(name):
                overrides[attribute] = env[name]
        if env.get("VIDGEN_K8S_GPU_NODE_SELECTOR"):
            overrides["node_selector"] = _json_var(env, "VIDGEN_K8S_GPU_NODE_SELECTOR", dict)
            if not all(isinstance(value, str) for value in overrides["node_selector"].values()):
                # A label value is a string: true would become "True" and match no node.
                raise K8sSettingsError('VIDGEN_K8S_GPU_NODE_SELECTOR values must be JSON strings, e.g. {"nvidia.com/gpu.present": "true"}')
        if env.get("VIDGEN_K8S_GPU_TOLERATIONS"):
            tolerations = _json_var(env, "VIDGEN_K8S_GPU_TOLERATIONS", list)
            if not all(isinstance(item, dict) for item in tolerations):
                raise K8sSettingsError("VIDGEN_K8S_GPU_TOLERATIONS must be a JSON list of objects")
            for item in tolerations:  # checked here, not when the first GPU step's Job is built
                if unknown := set(item) - _TOLERATION_FIELDS:
                    raise K8sSettingsError(f"VIDGEN_K8S_GPU_TOLERATIONS: unknown field(s) {sorted(unknown)}; a toleration has {sorted(_TOLERATION_FIELDS)}")
                if not isinstance(item.get("tolerationSeconds", 0), int):
                    raise K8sSettingsError("VIDGEN_K8S_GPU_TOLERATIONS: tolerationSeconds must be a whole number")
            overrides["tolerations"] = tolerations
        return cls(**overrides)


_TOLERATION_FIELDS = {"key", "operator", "value", "effect", "tolerationSeconds"}
_MEMORY_UNITS = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def _memory_bytes(quantity: str) -> float:
    # A small parser instead of kubernetes.utils.parse_quantity, whose import costs the code location ~0.4 s.
    match = re.fullmatch(r"(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|k|M|G|T)?", quantity)
    if not match:
        raise K8sSettingsError(f"memory {quantity!r} (VIDGEN_K8S_GPU_MEMORY, _MEMORY_LIMIT) is not a quantity such as 32Gi or 500M")
    return float(match[1]) * _MEMORY_UNITS[match[2] or ""]


def _int_var(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise K8sSettingsError(f"{name}={env[name]!r} is not a whole number") from None


def _json_var(env: Mapping[str, str], name: str, kind: type) -> Any:
    noun, example = ("object", '{"nvidia.com/gpu.present": "true"}') if kind is dict else ("list", '[{"key": ...}]')
    try:
        value = json.loads(env[name])
    except json.JSONDecodeError as error:
        raise K8sSettingsError(f"{name} is not valid JSON ({error}); expected e.g. {example}") from None
    if not isinstance(value, kind):
        raise K8sSettingsError(f"{name} must be a JSON {noun}, e.g. {example}")
    return value


def gpu_op_tags(settings: GpuStepSettings | None = None) -> dict[str, Any]:
    """Op tags for a GPU step: GPU limit, CPU/memory requests, GPU node selector, tolerations, image."""
    settings = settings or GpuStepSettings.from_env()
    # An extended resource such as nvidia.com/gpu is set as a limit; Kubernetes copies it to the request.
    container: dict[str, Any] = {
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {"memory": settings.memory_limit, settings.gpu_resource: str(settings.gpu_count)},
        }
    }
    if settings.image:
        container["image"] = settings.image
    pod_spec = {"node_selector": dict(settings.node_selector), "tolerations": [dict(t) for t in settings.tolerations]}
    return {K8S_CONFIG_TAG: {"container_config": container, "pod_spec_config": pod_spec}}


def cpu_op_tags(cpu_request: str = "1", memory_request: str = "2Gi") -> dict[str, Any]:
    """Op tags for a CPU step: requests only. Without the GPU toleration it never lands on a GPU node."""
    requests = {"cpu": cpu_request, "memory": memory_request}
    return {K8S_CONFIG_TAG: {"container_config": {"resources": {"requests": requests}}}}


def k8s_executor_config_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """`k8s_job_executor` config: `VIDGEN_K8S_NAMESPACE` (vidgen), `VIDGEN_K8S_IMAGE`,
    `VIDGEN_K8S_ENV_SECRETS` (comma-separated, vidgen-secrets), `VIDGEN_K8S_MAX_CONCURRENT` (8),
    `VIDGEN_K8S_IMAGE_PULL_POLICY` (IfNotPresent); the media location is passed on to step pods."""
    env = os.environ if environ is None else environ
    max_concurrent = _int_var(env, "VIDGEN_K8S_MAX_CONCURRENT") if env.get("VIDGEN_K8S_MAX_CONCURRENT") else 8
    if max_concurrent < 1:
        raise K8sSettingsError(f"VIDGEN_K8S_MAX_CONCURRENT must be at least 1, not {max_concurrent}")
    secrets = env.get("VIDGEN_K8S_ENV_SECRETS", "vidgen-secrets")
    config: dict[str, Any] = {
        "job_namespace": env.get("VIDGEN_K8S_NAMESPACE") or "vidgen",
        "image_pull_policy": env.get("VIDGEN_K8S_IMAGE_PULL_POLICY") or "IfNotPresent",
        "env_secrets": [name.strip() for name in secrets.split(",") if name.strip()],
        # Values are fixed here: a bare name would be read again, and fail if unset, in the run worker.
        "env_vars": ["VIDGEN_EXECUTOR=k8s"] + [f"{name}={env[name]}" for name in FORWARDED_ENV if env.get(name)],
        "max_concurrent": max_concurrent,
    }
    if env.get("VIDGEN_K8S_IMAGE"):
        config["job_image"] = env["VIDGEN_K8S_IMAGE"]
    return config


def _op_name(step_key: str) -> str:
    """`videos.render_shard[3]` -> `render_shard`: the executor keys `per_step_k8s_config` by op name."""
    return re.sub(r"\[.*\]$", "", step_key).rsplit(".", 1)[-1]


def step_job_manifest(
    *,
    op_tags: Mapping[str, Any],
    executor_config: Mapping[str, Any],
    job_name: str,
    step_key: str,
    image: str,
    container_context: Mapping[str, Any] | None = None,
    run_id: str = "00000000-0000-0000-0000-000000000000",
) -> V1Job:
    """The `kubernetes.client.V1Job` that `k8s_job_executor` would create for one step, built offline
    with dagster-k8s's own code. Layers merge as the executor merges them: the code location's
    `container_context` (dagster_cloud.yaml), the executor config, the op tags, `per_step_k8s_config`.
    `image` is the code location's image, used unless the executor or an op tag names another.
    Left out: the run's compressed step arguments and what a K8sRunLauncher adds (DAGSTER_HOME,
    service account)."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
        get_k8s_job_name,
        get_user_defined_k8s_config,
    )

    executor_layer = K8sContainerContext(
        image_pull_policy=executor_config.get("image_pull_policy"),
        image_pull_secrets=executor_config.get("image_pull_secrets"),
        service_account_name=executor_config.get("service_account_name"),
        env_config_maps=executor_config.get("env_config_maps"),
        env_secrets=executor_config.get("env_secrets"),
        env_vars=executor_config.get("env_vars"),
        volume_mounts=executor_config.get("volume_mounts"),
        volumes=executor_config.get("volumes"),
        labels=executor_config.get("labels"),
        namespace=executor_config.get("job_namespace"),
        resources=executor_config.get("resources"),
        scheduler_name=executor_config.get("scheduler_name"),
        security_context=executor_config.get("security_context"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(executor_config.get("step_k8s_config", {})),
    )
    # Dagster stores dict-valued tags as JSON strings; accept both forms.
    string_tags = {key: value if isinstance(value, str) else json.dumps(value) for key, value in op_tags.items()}
    per_step = executor_config.get("per_step_k8s_config", {}).get(_op_name(step_key), {})
    merged = (
        K8sContainerContext.create_from_config(dict(container_context or {}))
        .merge(executor_layer)
        .merge(K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(string_tags)))
        .merge(K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(per_step)))
    )
    k8s_job_name = f"dagster-step-{get_k8s_job_name(run_id, step_key)}"
    job = construct_dagster_k8s_job(
        job_config=DagsterK8sJobConfig(job_image=executor_config.get("job_image") or image),
        args=["dagster", "api", "execute_step"],
        job_name=k8s_job_name,
        pod_name=k8s_job_name,
        component="step_worker",
        user_defined_k8s_config=merged.run_k8s_config,
        labels={"dagster/job": job_name, "dagster/op": step_key, "dagster/run-id": run_id},
        env_vars=[
            {"name": "DAGSTER_RUN_JOB_NAME", "value": job_name},
            {"name": "DAGSTER_RUN_STEP_KEY", "value": step_key},
        ],
    )
    # The executor passes the namespace to the API call; on the manifest it makes a preview applyable.
    job.metadata.namespace = merged.namespace
    return job


def validate_instance_yaml(path: str | Path) -> Mapping[str, Any]:
    """Check a `dagster.yaml` against Dagster's instance schema without connecting to its storage;
    raises `dagster.DagsterInvalidConfigError` naming the bad field."""
    # No public API validates instance config without building the instance (which connects to Postgres).
    from dagster._core.instance.config import dagster_instance_config

    path = Path(path)
    config, _custom_instance_class = dagster_instance_config(str(path.parent), path.name)
    return config

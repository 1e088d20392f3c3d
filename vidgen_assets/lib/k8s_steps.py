"""dagster-k8s's `k8s_job_executor`, whose step health check also reads the step's pod, as `kubectl describe pod`.

dagster-k8s alone sees only the Job: a pod the kernel OOM-killed fails as "Discovered failed Kubernetes job",
and a pod that no node can take (a node selector no node has, every GPU taken) or that cannot start (a secret
missing from the namespace) leaves the step waiting forever. Here the check says why a failed pod ended
(`OOMKilled`, exit code 137), fails a step whose pod has been unschedulable longer than
`VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S` naming the node selector, fails one whose container cannot be created, and
the executor refuses to start a run whose step pods would name a secret or config map the namespace lacks.
Everything else (Job manifests, names, retries, concurrency, config schema) is dagster-k8s's own.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_k8s import K8sRunLauncher, k8s_job_executor
from dagster_k8s.container_context import K8sContainerContext
from dagster_k8s.executor import K8sStepHandler
from dagster_k8s.job import UserDefinedDagsterK8sConfig

from vidgen_assets.lib.dagster_step_delegation import CheckStepHealthResult, RetryMode, StepDelegatingExecutor, StepDependencyConfig
from vidgen_assets.lib.environment import SettingError

# Waiting reasons that do not fix themselves while the step waits: a missing secret, a bad image name.
STUCK_REASONS = ("CreateContainerConfigError", "CreateContainerError", "InvalidImageName", "ErrImageNeverPull")
# An image pull the kubelet keeps retrying (a registry's 429, a network blip): given the unschedulable timeout.
PULL_REASONS = ("ErrImagePull", "ImagePullBackOff")


def pod_health_settings(environ: Mapping[str, str] | None = None) -> dict[str, float]:
    """`VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S` (600): how long a step pod may stay unschedulable;
    `VIDGEN_K8S_STEP_HEALTH_CHECK_S` (20, Dagster's): how often running steps' Jobs and pods are read."""
    env = os.environ if environ is None else environ
    settings = {}
    for name, default in (("VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S", 600.0), ("VIDGEN_K8S_STEP_HEALTH_CHECK_S", 20.0)):
        try:
            settings[name] = float(env.get(name) or default)
        except ValueError:
            raise SettingError(f"{name}={env[name]!r} is not a number of seconds") from None
        if not math.isfinite(settings[name]) or settings[name] <= 0:
            raise SettingError(f"{name} must be above 0 (a finite number of seconds), not {env[name]}")
    return settings


class PodAwareK8sStepHandler(K8sStepHandler):
    """dagster-k8s's step handler; its health check adds what the step's pod says."""

    def __init__(self, *, unschedulable_timeout_s: float, **kwargs: Any):
        super().__init__(**kwargs)
        self._unschedulable_timeout_s = unschedulable_timeout_s

    def check_step_health(self, step_handler_context) -> CheckStepHealthResult:
        result = super().check_step_health(step_handler_context)
        job_name = self._get_k8s_step_job_name(step_handler_context)
        namespace = self._get_container_context(step_handler_context).namespace
        pods = self._api_client.get_pods_in_job(job_name, namespace)
        if not result.is_healthy:
            ended = [pod_end(pod) for pod in pods if pod.status and pod.status.phase == "Failed"]
            return CheckStepHealthResult.unhealthy("; ".join([result.unhealthy_reason, *filter(None, ended)]))
        for pod in pods:
            if problem := self._stuck(pod):
                # Delete the Job so its pod stops holding a node's resources; the step's retry makes a new one.
                self._api_client.delete_job(job_name=job_name, namespace=namespace)
                return CheckStepHealthResult.unhealthy(f"Kubernetes job {job_name}: {problem}")
        return result

    def _stuck(self, pod) -> str | None:
        name, status = pod.metadata.name, pod.status
        waited = time.time() - pod.metadata.creation_timestamp.timestamp()
        for container in (status.container_statuses or []) if status else []:
            waiting = container.state.waiting if container.state else None
            if waiting and waiting.reason in STUCK_REASONS:
                return f"pod {name} cannot start: {waiting.reason}: {waiting.message}"
            if waiting and waiting.reason in PULL_REASONS and waited >= self._unschedulable_timeout_s:
                return f"pod {name} could not pull its image for {waited:.0f}s (VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S): {waiting.reason}: {waiting.message}"
        scheduled = next((c for c in (status.conditions or []) if c.type == "PodScheduled"), None) if status else None
        if scheduled is None or scheduled.status != "False" or scheduled.reason != "Unschedulable":
            return None
        # "Insufficient nvidia.com/gpu": a node that matches is busy, so the pod is queueing for a GPU, not lost;
        # the scheduler names that reason only for nodes that passed the selector and taints.
        if waited < self._unschedulable_timeout_s or "Insufficient" in (scheduled.message or ""):
            return None
        spec = pod.spec
        tolerations = [{k: v for k, v in t.to_dict().items() if v is not None} for t in spec.tolerations or []]
        return (
            f"pod {name} unschedulable for {waited:.0f}s (VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S): {scheduled.message} "
            f"Its node selector is {json.dumps(spec.node_selector or {})} and tolerations {json.dumps(tolerations)} "
            "(VIDGEN_K8S_GPU_NODE_SELECTOR, VIDGEN_K8S_GPU_TOLERATIONS)"
        )

    def missing_env_sources(self, namespace: str, secrets: list[str], config_maps: list[str]) -> list[str]:
        """The secrets and config maps step pods would read their environment from that the namespace lacks."""
        from kubernetes.client.rest import ApiException

        missing = []
        for kind, names, read in (("secret", secrets, self._api_client.core_api.read_namespaced_secret),
                                  ("config map", config_maps, self._api_client.core_api.read_namespaced_config_map)):  # fmt: skip
            for name in dict.fromkeys(names):
                try:
                    read(name, namespace)
                except ApiException as error:
                    if error.status == 403:  # the Helm chart's Role does not grant reading secrets: the pods will tell
                        logging.getLogger(__name__).warning("cannot check %s %r in %s (HTTP 403): not checked", kind, name, namespace)
                        continue
                    if error.status != 404:
                        raise
                    missing.append(f'{kind} "{name}"')
        return missing


def pod_end(pod) -> str | None:
    """`pod X: OOMKilled (exit code 137)`: how a failed pod's container ended."""
    for container in pod.status.container_statuses or []:
        if container.state and (ended := container.state.terminated) and ended.exit_code:
            return f"pod {pod.metadata.name}: {ended.reason} (exit code {ended.exit_code})"
    return None


def _create(init_context: dg.InitExecutorContext):
    """What `k8s_job_executor` builds, with the pod-aware handler, then the namespace's secrets checked."""
    config = init_context.executor_config
    launcher = init_context.instance.run_launcher
    launcher = launcher if isinstance(launcher, K8sRunLauncher) else None
    context = K8sContainerContext(
        **{key: config.get(key) for key in ("image_pull_policy", "image_pull_secrets", "service_account_name", "env_config_maps",
                                            "env_secrets", "env_vars", "volume_mounts", "volumes", "labels", "resources",
                                            "scheduler_name", "security_context")},
        namespace=config.get("job_namespace"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(config.get("step_k8s_config", {})),
    )  # fmt: skip
    incluster = config.get("load_incluster_config", launcher.load_incluster_config if launcher else True)
    settings = pod_health_settings()
    handler = PodAwareK8sStepHandler(
        image=config.get("job_image"),
        container_context=context,
        load_incluster_config=incluster,
        kubeconfig_file=config.get("kubeconfig_file", launcher.kubeconfig_file if launcher else None),
        per_step_k8s_config=config.get("per_step_k8s_config", {}),
        enable_owner_references=bool(config.get("enable_owner_references")),
        unschedulable_timeout_s=settings["VIDGEN_K8S_UNSCHEDULABLE_TIMEOUT_S"],
    )
    namespace = context.namespace or (launcher.job_namespace if launcher else "default")
    secrets = [*(launcher.env_secrets if launcher else []), *(config.get("env_secrets") or [])]
    config_maps = [*(launcher.env_config_maps if launcher else []), *(config.get("env_config_maps") or [])]
    if missing := handler.missing_env_sources(namespace, secrets, config_maps):
        raise dg.DagsterInvariantViolationError(
            f"{' and '.join(missing)} missing from namespace {namespace}: step pods read their environment from it "
            "(VIDGEN_K8S_ENV_SECRETS, the run launcher's env_secrets). Create it first (deploy/README.md, step 2); "
            "no step pod was started."
        )
    return StepDelegatingExecutor(
        handler,
        retries=RetryMode.from_config(config["retries"]),
        max_concurrent=config.get("max_concurrent"),
        tag_concurrency_limits=config.get("tag_concurrency_limits"),
        should_verify_step=True,
        check_step_health_interval_seconds=max(1, round(settings["VIDGEN_K8S_STEP_HEALTH_CHECK_S"])),
        step_dependency_config=StepDependencyConfig.from_config(config.get("step_dependency_config")),
    )


def pod_aware_k8s_executor(config: Mapping[str, Any] | None = None) -> dg.ExecutorDefinition:
    """`k8s_job_executor` (same name, config schema and requirements), configured with `config` when given."""
    executor = dg.ExecutorDefinition(
        name=k8s_job_executor.name,
        config_schema=k8s_job_executor.config_schema,
        requirements=k8s_job_executor.get_requirements,
        executor_creation_fn=_create,
        description=k8s_job_executor.description,
    )
    return executor if config is None else executor.configured(dict(config))

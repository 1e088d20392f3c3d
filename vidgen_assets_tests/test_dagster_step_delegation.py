"""The private step-delegation API the pod-like executor builds on still has the shape it relies on."""

import inspect

from vidgen_assets.lib.dagster_step_delegation import (
    CheckStepHealthResult, DagsterEvent, RetryMode, StepDelegatingExecutor, StepDependencyConfig, StepHandler,
)  # fmt: skip


def test_the_step_delegation_api_has_what_the_pod_like_executor_uses():
    assert {"launch_step", "check_step_health", "terminate_step"} <= StepHandler.__abstractmethods__
    assert {"step_handler", "retries", "max_concurrent", "check_step_health_interval_seconds", "step_dependency_config"} <= set(
        inspect.signature(StepDelegatingExecutor.__init__).parameters
    )
    assert CheckStepHealthResult.healthy().is_healthy and not CheckStepHealthResult.unhealthy("gone").is_healthy
    assert callable(DagsterEvent.step_worker_starting) and RetryMode.DISABLED.value == "disabled"
    assert StepDependencyConfig.from_config(None) == StepDependencyConfig.default()  # what k8s_steps.py passes on

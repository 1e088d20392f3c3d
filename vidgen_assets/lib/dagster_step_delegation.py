"""Dagster's private step-delegation API, in one place: what an executor that starts each step as its own
process (`dagster api execute_step`, as dagster-k8s's step pods do) is built from.

Dagster 1.13 has no public base for such executors; dagster-k8s itself builds on these classes. The
share-nothing test's pod-like executor and the k8s executor of `k8s_steps.py` use them; keeping the import here means an upgrade touches one
file, and `test_dagster_step_delegation.py` fails loudly if the API moves.
"""

from dagster._core.events import DagsterEvent
from dagster._core.execution.retries import RetryMode
from dagster._core.execution.step_dependency_config import StepDependencyConfig
from dagster._core.executor.step_delegating import CheckStepHealthResult, StepDelegatingExecutor, StepHandler

__all__ = ["CheckStepHealthResult", "DagsterEvent", "RetryMode", "StepDelegatingExecutor", "StepDependencyConfig", "StepHandler"]

"""A test-only executor that runs each step like a Kubernetes step pod on a node of its own.

dagster-k8s's `k8s_job_executor` is a step-delegating executor whose handler starts each step as a Job
running `dagster api execute_step` (the arguments passed through the environment). This handler starts the
same command as a local process instead, with what a fresh pod has: a private, empty `VIDGEN_HOME`,
`DAGSTER_HOME` (holding only the instance file, as the ConfigMap mount), working directory and `TMPDIR`,
plus the shared "secrets" (Postgres, S3) and a models directory. When the process ends its directories are
deleted, as a pod's disk goes with it, so no later step can read what an earlier one left on disk.

Dagster has no public API for step handlers; this file imports the same private classes dagster-k8s does,
and only tests use it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
from vidgen_assets.lib.dagster_step_delegation import (
    CheckStepHealthResult, DagsterEvent, RetryMode, StepDelegatingExecutor, StepHandler,
)  # fmt: skip


@dataclass
class PodRecord:
    """What one step process had and what became of it."""

    step_key: str
    root: Path
    process: subprocess.Popen
    removed: bool = False
    returncode: int | None = None
    reaper: threading.Thread | None = None  # removes the private directories when the process ends

    def wait_removed(self, timeout: float = 120) -> bool:
        if self.reaper is not None:
            self.reaper.join(timeout)
        return self.removed


@dataclass
class PodLikeSteps:
    """Where step "pods" get their private directories, and the environment every pod shares (set by the test)."""

    root: Path = Path()
    shared_env: Mapping[str, str] = field(default_factory=dict)
    instance_yaml: str = ""
    pods: dict[str, PodRecord] = field(default_factory=dict)


class PodLikeStepHandler(StepHandler):
    def __init__(self, steps: PodLikeSteps):
        super().__init__()
        self._steps = steps

    @property
    def name(self) -> str:
        return "PodLikeStepHandler"

    def launch_step(self, step_handler_context) -> Iterator[DagsterEvent]:
        args = step_handler_context.execute_step_args
        (step_key,) = args.step_keys_to_execute
        root = self._steps.root / f"{re.sub(r'[^A-Za-z0-9_.-]', '_', step_key)}-{uuid.uuid4().hex[:6]}"
        home, dagster_home, work, tmp = (root / name for name in ("vidgen_home", "dagster_home", "work", "tmp"))
        for directory in (home, dagster_home, work, tmp):
            directory.mkdir(parents=True)
        (dagster_home / "dagster.yaml").write_text(self._steps.instance_yaml)
        env = {
            **self._steps.shared_env,
            **{item["name"]: item["value"] for item in args.get_command_env()},
            "VIDGEN_HOME": str(home), "DAGSTER_HOME": str(dagster_home), "HOME": str(home), "TMPDIR": str(tmp),
            "DAGSTER_RUN_STEP_KEY": step_key,
        }  # fmt: skip
        with (root.parent / f"{root.name}.log").open("wb") as log:
            process = subprocess.Popen(
                args.get_command_args(skip_serialized_namedtuple=True), cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        pod = self._steps.pods[step_key] = PodRecord(step_key, root, process)
        pod.reaper = threading.Thread(target=self.remove, args=(pod,), daemon=True)
        pod.reaper.start()
        yield DagsterEvent.step_worker_starting(
            step_handler_context.get_step_context(step_key),
            message=f'Executing step "{step_key}" in a private process (pid {process.pid}).',
            metadata={},
        )

    def check_step_health(self, step_handler_context) -> CheckStepHealthResult:
        (step_key,) = step_handler_context.execute_step_args.step_keys_to_execute
        returncode = self._steps.pods[step_key].process.poll()
        if returncode:
            return CheckStepHealthResult.unhealthy(f"step process for {step_key} exited with {returncode}")
        return CheckStepHealthResult.healthy()

    def terminate_step(self, step_handler_context) -> Iterator[DagsterEvent]:
        (step_key,) = step_handler_context.execute_step_args.step_keys_to_execute
        pod = self._steps.pods.get(step_key)
        if pod is not None:
            pod.process.terminate()  # its reaper removes the directories
        yield from ()

    @staticmethod
    def remove(pod: PodRecord) -> None:
        """The pod's disk goes with it: deleted the moment the step process ends."""
        pod.returncode = pod.process.wait()
        shutil.rmtree(pod.root)
        pod.removed = True


# The run worker (the test's process) launches steps with this; step processes only rebuild the job.
STEPS = PodLikeSteps()


@dg.executor(name="pod_like_steps")
def pod_like_executor(_init_context) -> dg.Executor:
    return StepDelegatingExecutor(
        PodLikeStepHandler(STEPS), retries=RetryMode.DISABLED, max_concurrent=2, check_step_health_interval_seconds=1
    )


def daily_reel_job() -> dg.JobDefinition:
    """The project's job with this executor (and the day lock, as every executor of the project has)."""
    from vidgen_assets import definitions

    defs = dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(definitions.__file__).parent),
        dg.Definitions(executor=definitions.one_writer_per_day(pod_like_executor)),
    )
    return defs.resolve_job_def("daily_reel_job")

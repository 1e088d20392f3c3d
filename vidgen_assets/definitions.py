"""The `vidgen_assets` code location: everything under `defs/`, plus the executor for this environment."""

import os
from pathlib import Path

import dagster as dg

from vidgen_assets.lib.environment import Environment, get_environment, media_uri

EXECUTORS = ("in_process", "multiprocess", "k8s")


def executor_from_env() -> dg.ExecutorDefinition:
    """`VIDGEN_EXECUTOR`: in_process, multiprocess (default locally) or k8s (default on Dagster+: a pod per step)."""
    default = "multiprocess" if get_environment() == Environment.LOCAL else "k8s"
    name = os.getenv("VIDGEN_EXECUTOR", default)
    if name == "in_process":
        return dg.in_process_executor
    if name == "multiprocess":
        return dg.multiprocess_executor
    if name == "k8s":
        from dagster_k8s import k8s_job_executor

        from vidgen_assets.lib.k8s import k8s_executor_config_from_env

        if not media_uri().startswith("s3://"):
            # Step pods share nothing but the media store: a pod's local disk is gone when it ends.
            raise ValueError("VIDGEN_EXECUTOR=k8s needs VIDGEN_MEDIA_URI=s3://bucket/prefix so pods on different nodes share media")
        # Namespace, image, secrets and max_concurrent come from the environment, not code edits.
        return k8s_job_executor.configured(k8s_executor_config_from_env())
    raise ValueError(f"VIDGEN_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")


def build_definitions() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(executor=executor_from_env()),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

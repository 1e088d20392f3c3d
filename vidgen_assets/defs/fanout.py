"""How a day fans out over GPU steps and comes back: step pods, pool, retries, the collected output."""

import os
from collections.abc import Callable
from contextlib import contextmanager

import dagster as dg

from vidgen_assets.lib.generation import ModelUnavailableError, UnknownPresetError, get_preset, model_revision
from vidgen_assets.lib.generation.levers import LeverUnavailableError
from vidgen_assets.lib.generation.profile import day_metadata
from vidgen_assets.lib.generation.providers.runner import STEP_STOPPING
from vidgen_assets.lib.generation.recipe import RENDER_VERSIONS
from vidgen_assets.lib.storage import MediaStore, content_key
from vidgen_assets.lib.storage.manifests import write_manifest

from vidgen_assets.lib.environment import number_setting
from vidgen_assets.lib.k8s import GPU_POOL, GpuStepSettings, cpu_op_tags, gpu_op_tags

# Preempted pods and S3 hiccups are worth a retry; the steps re-use every output already
# written (content-addressed), so a retry only renders what is missing. `VIDGEN_GPU_RETRY_DELAY_S` (15) is the
# first retry's wait, doubling after.
GPU_RETRY = dg.RetryPolicy(
    max_retries=3, delay=number_setting("VIDGEN_GPU_RETRY_DELAY_S", 15.0, low=0), backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)

# Every GPU step takes a slot of the `gpu` pool, so concurrent GPU pods never exceed what the
# cluster has: its limit is set in deploy/dagster.yaml or `dagster instance concurrency set gpu N`.
GPU_STEP = {"tags": gpu_op_tags(GpuStepSettings.from_env()), "pool": GPU_POOL, "retry_policy": GPU_RETRY}
CPU_STEP = {"tags": cpu_op_tags()}


# A hosted step that dies (a killed pod) resumes on retry: every clip's task record is polled, not re-created.
HOSTED_RETRY = dg.RetryPolicy(max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)


def hosted_step(provider: str) -> dict:
    """A CPU step in the provider's pool `api_<provider>`: concurrent runs share the provider's limit."""
    return {"tags": cpu_op_tags(), "pool": f"api_{provider}", "retry_policy": HOSTED_RETRY}


def run_cancelled(context: dg.OpExecutionContext) -> bool:
    """Whether the step's run is being terminated (the UI, `dagster run delete`...), as opposed to an
    interrupted step (a preempted pod, Ctrl-C), which Dagster's retry policy re-runs."""
    run = context.instance.get_run_by_id(context.run_id)
    return run is not None and run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED)


def in_process_cli_run(context: dg.OpExecutionContext) -> bool:
    """Whether this step runs inside the `vidgen run` process that launched the run: an interrupt there is
    the user stopping the run (Ctrl-C, `kill`), never a preemption a retry should outlive."""
    tags = context.run.tags
    return tags.get("vidgen/launched_by") == "cli" and tags.get("vidgen/pid") == str(os.getpid())


def _interrupted(context: dg.OpExecutionContext, leaves: str) -> None:
    """An interrupted step: fail without retry when the run is being cancelled or its `vidgen run` was
    stopped; otherwise (a preempted pod) return, and the caller re-raises for the step's retry."""
    if run_cancelled(context):
        raise dg.Failure(f"the run was cancelled: {leaves}", allow_retries=False) from None
    if in_process_cli_run(context):
        raise dg.Failure(f"vidgen run was interrupted: {leaves}", allow_retries=False) from None


@contextmanager
def hosted_errors_fail_fast(context: dg.OpExecutionContext, provider: str):
    """Out of credits, a refused or missing key, an input the provider can't be sent: every other clip would
    fail the same way, so the step stops at once, without retries, saying what to fix (never the key).
    A cancelled run's step (its open tasks cancelled) is not retried either, nor one whose `vidgen run` was
    interrupted (its tasks keep running: the next run of the day polls them)."""
    try:
        yield
    except STEP_STOPPING as error:
        raise dg.Failure(description=f"{provider}: {error}", allow_retries=False) from None
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        cancelled = run_cancelled(context)
        _interrupted(context, f"the open {provider} tasks it created were cancelled" if cancelled
                     else f"its open {provider} tasks keep running; the next run of the day polls them")  # fmt: skip
        raise  # the step's retry polls the tasks still running


@contextmanager
def permanent_errors_fail_fast(context: dg.OpExecutionContext):
    """Missing weights, an unknown preset or a lever this machine cannot apply won't fix themselves: fail at
    once instead of retrying; so does
    a shard interrupted by a cancelled run or a stopped `vidgen run` (a preempted pod's is retried)."""
    try:
        yield
    except (ModelUnavailableError, UnknownPresetError, LeverUnavailableError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error
    except (KeyboardInterrupt, dg.DagsterExecutionInterruptedError):
        _interrupted(context, "what the shard finished is kept; the next run renders the rest")
        raise


def code_version(revision: str, stage: str, variable: str, *tasks: str) -> str:
    """This code's revision, the stage's render version and the default model it renders with, so a new
    render version or preset marks the asset stale (and the keys of what it made change with them)."""
    preset = get_preset(os.getenv(variable, "tiny"), *tasks)
    return f"{revision}.r{RENDER_VERSIONS[stage]}+{preset.model_id}@{model_revision(preset)}"


def collected_output(
    asset: str,
    store: MediaStore,
    value: dict,
    versioned: dict,
    shard_profiles: list[dict],
    *,
    price_per_gpu_hour: float,
    preview: Callable[[MediaStore, list[dict]], str],
    metadata: dict | None = None,
) -> dg.Output:
    """The day's output from all shards (`value`, with its `items`): data version, profile and preview.

    The data version hashes `versioned`, everything in `value` a downstream step's result depends on. A
    readable copy is written under that version for people, split into parts (`lib/storage/manifests.py`);
    no step reads it.
    """
    items = value["items"]
    version = content_key(asset, versioned)
    copy_uri = write_manifest(store, f"manifests/{asset}/{value['partition']}/{version}", value)
    return dg.Output(
        value,
        data_version=dg.DataVersion(version),
        metadata={
            "dagster/row_count": len(items),
            "cache_hits": sum(i["cache_hit"] for i in items),
            "models": ", ".join(sorted({f"{i['model']}@{i['revision']}" for i in items})),
            "dagster/uri": copy_uri,  # what to open: the readable manifest (the pickled output is internal)
            "manifest": dg.MetadataValue.path(copy_uri),
            "preview": dg.MetadataValue.md(preview(store, items)),
            **day_metadata(shard_profiles, price_per_gpu_hour),
            **(metadata or {}),
        },
    )

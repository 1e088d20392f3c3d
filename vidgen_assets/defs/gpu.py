"""How GPU steps run: their pod (op tags), their shared concurrency pool and their retries."""

from contextlib import contextmanager

import dagster as dg

from vidgen_assets.lib.generation import ModelUnavailableError, UnknownPresetError

from vidgen_assets.lib.k8s import GPU_POOL, GpuStepSettings, cpu_op_tags, gpu_op_tags

# Preempted pods and S3 hiccups are worth a retry; the steps re-use every output already
# written (content-addressed), so a retry only renders what is missing.
GPU_RETRY = dg.RetryPolicy(max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

# Every GPU step takes a slot of the `gpu` pool, so concurrent GPU pods never exceed what the
# cluster has: its limit is set in deploy/dagster.yaml or `dagster instance concurrency set gpu N`.
GPU_STEP = {"tags": gpu_op_tags(GpuStepSettings.from_env()), "pool": GPU_POOL, "retry_policy": GPU_RETRY}
CPU_STEP = {"tags": cpu_op_tags()}


@contextmanager
def permanent_errors_fail_fast():
    """Missing weights or an unknown preset won't fix themselves: fail at once instead of retrying."""
    try:
        yield
    except (ModelUnavailableError, UnknownPresetError) as error:
        raise dg.Failure(description=str(error), allow_retries=False) from error

"""How GPU steps run: their pod (op tags), their shared concurrency pool and their retries."""

import dagster as dg

from vidgen_assets.lib.k8s import GpuStepSettings, cpu_op_tags, gpu_op_tags

# Every GPU step takes a slot of this pool, so concurrent GPU pods never exceed what the
# cluster has: set its limit with `dagster instance concurrency set gpu N` (deploy/dagster.yaml).
GPU_POOL = "gpu"

# Preempted pods and S3 hiccups are worth a retry; the steps re-use every output already
# written (content-addressed), so a retry only renders what is missing.
GPU_RETRY = dg.RetryPolicy(max_retries=3, delay=15, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS)

GPU_STEP = {"tags": gpu_op_tags(GpuStepSettings.from_env()), "pool": GPU_POOL, "retry_policy": GPU_RETRY}
CPU_STEP = {"tags": cpu_op_tags()}

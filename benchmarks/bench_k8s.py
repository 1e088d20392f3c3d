"""A day of tiny clips through dagster-k8s's own `K8sRunLauncher` and `k8s_job_executor` on the loopback
Kubernetes API (`vidgen_assets_tests/fakes/k8s_api.py`, its own process): the daemon launches the run worker
as a Job, every step is a Job whose pod is a private process, GPU steps queue for `--gpus` GPU nodes (one GPU
each) and the pool `gpu` (set to the same number), every pod takes `--pod-start-s` to start (image pull, volume
mounts), and one videos shard pod is deleted mid-shard (a preemption) to be retried. Postgres warehouse and
instance, moto S3, as the cluster tests run them. Measured:
  max_gpu_pods_running  the most GPU containers running at once (must be ≤ gpus and ≤ the pool)
  job_to_running_s      each GPU step's wait from its Job's creation to its pod running (p50, p95, max)
  queue_p95_s           the day's queue-wait p95 as `render_stats` records it (run queue + `gpu` pool waits)
  wall_s                from `dagster job launch` to the run's success
  ideal_s               the GPUs' own work spread evenly over them: the GPU pods' container seconds (every
                        attempt, each including its Python start-up and model load) ÷ gpus, with no simulated
                        pod start-up, no queueing and no CPU steps. wall_s / ideal_s is the price of the rest
                        (the chain of CPU steps, pod start-ups, the run worker, the daemon's and executor's polls)
  preemptions, clips_rerendered_after_preemption   clips the preempted pod had rendered that its retry
                        rendered again (target 0)
Prints readable lines, then one JSON line {clips, gpus, max_gpu_pods_running, queue_p95_s, wall_s, ideal_s,
preemptions, clips_rerendered_after_preemption}. Run from the project root: `python -m benchmarks.bench_k8s`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import threading
import time
from pathlib import Path

from vidgen_assets.lib.generation import get_preset
from vidgen_assets.lib.generation.loader import resolve_weights
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.warehouse.render_stats import read_stats
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.k8s_deployment import NAMESPACE, clips_rendered, k8s_day_deployment, preempt_mid_shard
from vidgen_assets_tests.loopback_k8s import cluster_nodes
from vidgen_assets_tests.pg import PostgresServer
from vidgen_assets_tests.s3_server import _start as start_moto


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2) if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=200, help="prompt rows of one clip each (2 frames, tiny)")
    parser.add_argument("--gpus", type=int, default=2, help="GPU nodes of one GPU each; the pool `gpu` limit")
    parser.add_argument("--shard-size", type=int, default=10, help="rows per GPU step (VIDGEN_SHARD_SIZE)")
    parser.add_argument("--pod-start-s", type=float, default=3.0, help="simulated pod start-up")
    parser.add_argument("--preempt", type=int, choices=(0, 1), default=1, help="delete one videos pod mid-shard")
    parser.add_argument("--keep", action="store_true", help="keep the work directory to inspect")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-k8s-"))
    postgres = PostgresServer().start()
    moto, endpoint = start_moto(home / "moto.log")
    models = home / "models"  # the GPU image's baked-in weights
    for task in ("text-to-image", "image-to-video"):
        resolve_weights(get_preset("tiny", task), models)
    location_env = {"VIDGEN_SHARD_SIZE": str(args.shard_size), "VIDGEN_GPU_RETRY_DELAY_S": "2", "VIDGEN_K8S_STEP_HEALTH_CHECK_S": "2"}
    day = str(TEST_DAY)
    try:
        with k8s_day_deployment(home / "cluster", postgres, endpoint, models, cluster_nodes(args.gpus), gpu_limit=args.gpus,
                                pod_start_s=args.pod_start_s, location_env=location_env) as deployment:  # fmt: skip
            rows = [{"prompt_id": f"b{n:04d}", "scheduled_for": day, "prompt": f"a paper boat {n}", "seed": n, "num_frames": 2,
                     "motion_bucket_ids": "127"} for n in range(args.clips)]  # fmt: skip
            import_rows(Warehouse(deployment.warehouse), rows, {"tiny"}, {"tiny"})
            k8s, preempted = deployment.k8s, []
            started = time.time()
            run_id = deployment.launch(day)
            if args.preempt:
                threading.Thread(target=lambda: preempted.append(preempt_mid_shard(k8s, 3600)), daemon=True).start()
            run = deployment.wait(run_id, 3 * 3600)
            wall = time.time() - started
            assert run.status.value == "SUCCESS", f"the run ended {run.status.value}"
            stats = k8s.stats()
            gpu_pods = [p for p in stats["pods"] if p["gpus"] and "running" in p["times"]]
            waits = [p["times"]["running"] - p["times"]["created"] for p in gpu_pods]
            ideal = sum(p["times"]["finished"] - p["times"]["running"] for p in gpu_pods) / args.gpus
            queue_p95 = float(read_stats(Warehouse(deployment.warehouse), TEST_DAY, TEST_DAY)["queue_wait_p95_s"].max())
            rerendered = 0
            for pod in preempted:
                attempts = [p for p in stats["pods"] if p["labels"].get("dagster/op") == pod["labels"]["dagster/op"]]
                before = clips_rendered(k8s.logs(NAMESPACE, pod["name"]))
                after = set().union(*(clips_rendered(k8s.logs(NAMESPACE, p["name"])) for p in attempts if p["name"] != pod["name"]))
                rerendered += len(before & after)
                print(f"preempted {pod['name']} after {len(before)} clips; its retry rendered {len(after)}, {len(before & after)} again")
    finally:
        moto.terminate()
        moto.wait()
        postgres.stop()
        if not args.keep:
            shutil.rmtree(home, ignore_errors=True)
    print(f"{args.clips} clips, {args.gpus} GPU nodes, shard size {args.shard_size}, pod start-up {args.pod_start_s}s")
    print(f"GPU pods: {len(gpu_pods)}, at most {stats['max_gpu_pods_running']} running at once (pool gpu = {args.gpus})")
    print(f"Job created -> pod running: p50 {quantile(waits, 0.5)}s, p95 {quantile(waits, 0.95)}s, max {quantile(waits, 1.0)}s")
    print(f"render_stats queue p95: {queue_p95:.1f}s; wall {wall:.1f}s vs ideal {ideal:.1f}s ({wall / ideal:.2f}x)")
    print(json.dumps({"clips": args.clips, "gpus": args.gpus, "max_gpu_pods_running": stats["max_gpu_pods_running"],
                      "queue_p95_s": round(queue_p95, 2), "wall_s": round(wall, 1), "ideal_s": round(ideal, 1),
                      "preemptions": len(preempted), "clips_rerendered_after_preemption": rerendered}))  # fmt: skip


if __name__ == "__main__":
    main()

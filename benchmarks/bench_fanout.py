"""How long a day of many clips takes on G GPU pods: a simulation from per-clip and pod start-up time.

The day is split exactly as the `videos` asset splits it (`shards`, at most `--shard-size` rows per
step); each shard occupies one pod for its start-up plus its clips, and shards go to whichever pod
frees up first, as the pool `gpu` hands out slots. Per-clip time is given (default: 12 s, the SVD-XT
target on an H100) or measured here on the tiny preset with `--measure`. Final line: JSON.

    python benchmarks/bench_fanout.py [--clips 2000] [--s-per-clip 12] [--pod-start-s 90] [--measure]
"""

from __future__ import annotations

import argparse
import heapq
import json
import tempfile
import time
from pathlib import Path

from vidgen_assets.lib.generation.plan import shards

PODS = (1, 4, 8, 16)


def wall_seconds(shard_sizes: list[int], pods: int, s_per_clip: float, pod_start_s: float) -> float:
    """Makespan of the shards on `pods` pods, each shard on the first pod that is free."""
    free_at = [0.0] * pods
    for size in shard_sizes:
        start = heapq.heappop(free_at)
        heapq.heappush(free_at, start + pod_start_s + size * s_per_clip)
    return max(free_at)


def measured_s_per_clip(clips: int = 4) -> float:
    """Seconds per clip of the tiny preset through the project's renderer, on this machine."""
    from vidgen_assets.lib.generation import PIPELINES, ClipParams, KeyframeRequest, get_preset, render_clip, render_keyframes

    with tempfile.TemporaryDirectory() as scratch:
        models = Path(scratch) / "models"
        t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models)
        i2v = PIPELINES.get(get_preset("tiny", "image-to-video"), models)
        image = next(render_keyframes(t2i, [KeyframeRequest("a harbour at dawn")]))[1]
        render_clip(i2v, image, Path(scratch) / "warmup.mp4", ClipParams())
        started = time.perf_counter()
        for number in range(clips):
            render_clip(i2v, image, Path(scratch) / f"{number}.mp4", ClipParams(seed=number))
        return (time.perf_counter() - started) / clips


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=2000)
    parser.add_argument("--buckets", type=int, default=1, help="clips per prompt row")
    parser.add_argument("--shard-size", type=int, default=50, help="rows per shard step")
    parser.add_argument("--s-per-clip", type=float, default=12.0)
    parser.add_argument("--pod-start-s", type=float, default=90.0, help="pod scheduling, image pull and model load")
    parser.add_argument("--measure", action="store_true", help="measure s/clip on the tiny preset here instead")
    args = parser.parse_args()
    s_per_clip = measured_s_per_clip() if args.measure else args.s_per_clip
    rows = args.clips // args.buckets
    items = [{"prompt_id": f"r{row}"} for row in range(rows) for _ in range(args.buckets)]
    sizes = [len(shard) for shard in shards(items, args.shard_size)]
    print(f"{len(items)} clips in {len(sizes)} shards of <= {args.shard_size} rows; "
          f"{s_per_clip:.2f} s/clip, {args.pod_start_s:.0f} s pod start-up")  # fmt: skip
    wall_h = {}
    for pods in PODS:
        wall_h[str(pods)] = round(wall_seconds(sizes, pods, s_per_clip, args.pod_start_s) / 3600, 3)
        print(f"{pods:>3} GPU pods: {wall_h[str(pods)]:.2f} h")
    print(json.dumps({"clips": len(items), "s_per_clip": round(s_per_clip, 3), "pod_start_s": args.pod_start_s,
                      "wall_h_by_pods": wall_h}))  # fmt: skip


if __name__ == "__main__":
    main()

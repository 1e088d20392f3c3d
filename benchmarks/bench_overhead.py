"""Dagster's overhead over a bare diffusers + PyAV script, and memory as the clip count grows.

Each measurement is a whole fresh process (interpreter, imports, model loads, rendering), timed
from outside, with its own data home (no cache hits), on the tiny preset and the same models
directory. Both sides write the same things: N keyframe PNGs, N clips and a reel of them.
Final line: a JSON object.

    python benchmarks/bench_overhead.py [--clips 24]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 1)


def bare(clips: int, models_dir: Path, out_dir: Path) -> dict:
    """What a user would write without the platform: load, generate, encode, join, in one loop."""
    import av
    import torch
    from diffusers import StableDiffusionPipeline, StableVideoDiffusionPipeline

    from vidgen_assets.lib.generation import get_preset, resolve_weights

    t2i_preset, i2v_preset = get_preset("tiny", "text-to-image"), get_preset("tiny", "image-to-video")
    t2i = StableDiffusionPipeline.from_pretrained(resolve_weights(t2i_preset, models_dir), dtype=torch.float64)
    i2v = StableVideoDiffusionPipeline.from_pretrained(resolve_weights(i2v_preset, models_dir))
    for number in range(clips):
        image = t2i(f"scene {number}", width=64, height=64, num_inference_steps=2, guidance_scale=1.0,
                    generator=torch.Generator().manual_seed(number)).images[0]  # fmt: skip
        image.save(out_dir / f"{number}.png")
        frames = i2v(image, width=64, height=64, num_frames=8, num_inference_steps=2, min_guidance_scale=1.0,
                     max_guidance_scale=1.0, decode_chunk_size=4, generator=torch.Generator().manual_seed(number),
                     output_type="np").frames[0]  # fmt: skip
        with av.open(str(out_dir / f"{number}.mp4"), "w", container_options={"movflags": "+faststart"}) as container:
            stream = container.add_stream("libx264", rate=8)
            stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
            for frame in (frames * 255).round().astype("uint8"):
                container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
            container.mux(stream.encode())
    with av.open(str(out_dir / "reel.mp4"), "w") as reel:  # the simple way: decode and encode again
        stream = reel.add_stream("libx264", rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for number in range(clips):
            with av.open(str(out_dir / f"{number}.mp4")) as clip:
                for frame in clip.decode(video=0):
                    reel.mux(stream.encode(av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")))
        reel.mux(stream.encode())
    return {"loads": 2}


def through_dagster(clips: int) -> dict:
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.generation import PIPELINES
    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets.lib.warehouse.importer import import_rows
    from vidgen_assets.runner import run_day

    rows = [{"prompt_id": f"b{n:03d}", "scheduled_for": str(DAY), "prompt": f"scene {n}", "seed": n} for n in range(clips)]
    import_rows(Warehouse(environment.warehouse_target()), rows, {"tiny"}, {"tiny"})
    run_day(DAY)
    return {"loads": PIPELINES.stats.loads}


def measure(mode: str, clips: int, models_dir: Path) -> dict:
    """Run one mode in a fresh process; its wall time from start to exit, and its peak RSS."""
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "VIDGEN_HOME": home, "VIDGEN_MODELS_DIR": str(models_dir), "DAGSTER_HOME": f"{home}/dagster"}
        started = time.perf_counter()
        result = subprocess.run(
            [sys.executable, __file__, "--child", mode, "--clips", str(clips), "--models-dir", str(models_dir)],
            env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"{mode} run failed:\n{result.stderr[-3000:]}")
        return {**json.loads(result.stdout.strip().splitlines()[-1]), "seconds": seconds}


def child(mode: str, clips: int, models_dir: Path) -> None:
    found = bare(clips, models_dir, Path(os.environ["VIDGEN_HOME"])) if mode == "bare" else through_dagster(clips)
    found["rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(found))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=24)
    parser.add_argument("--child")
    parser.add_argument("--models-dir", type=Path)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.clips, args.models_dir)
    models_dir = args.models_dir or Path(tempfile.mkdtemp(prefix="vidgen-bench-models-"))
    measure("bare", 1, models_dir)  # builds the tiny models once and warms the disk cache, outside the timings
    bare_run = measure("bare", args.clips, models_dir)
    dagster_run = measure("dagster", args.clips, models_dir)
    print(f"bare script:   {args.clips} clips in {bare_run['seconds']:.2f}s")
    print(f"through Dagster: {args.clips} clips in {dagster_run['seconds']:.2f}s ({dagster_run['loads']} model loads)")
    rss = {n: measure("dagster", n, models_dir)["rss_mb"] for n in (8, 64)}
    print(f"peak RSS of a whole in-process run: {rss[8]:.0f} MB at 8 clips, {rss[64]:.0f} MB at 64 clips")
    print(json.dumps({
        "n_clips": args.clips, "bare_s": round(bare_run["seconds"], 3), "dagster_s": round(dagster_run["seconds"], 3),
        "ratio": round(dagster_run["seconds"] / bare_run["seconds"], 3), "model_loads": dagster_run["loads"],
        "rss_n8_mb": round(rss[8], 1), "rss_n64_mb": round(rss[64], 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

"""Seconds per SVD-XT clip and per SDXL-Turbo image, and peak GPU memory, through the project's own code.

SVD-XT: 25 frames at 576x1024, 25 steps, decode chunk 8, streamed into an H.264 file.
SDXL-Turbo: 512x512, 1 step, batch 8. Uses the real presets where their weights are on the
machine, otherwise the shape-true ones (same architecture, random weights): `preset` says
which. Without a GPU it runs the tiny presets, only to prove the path. Final line: JSON.

    python benchmarks/bench_gpu.py [--clips 3] [--images 16]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import (
    PIPELINES, ClipParams, KeyframeRequest, get_preset, pick_device, render_clip, render_keyframes,
)  # fmt: skip
from vidgen_assets.lib.generation.loader import LoadOptions, local_weights


def choose(real: str, shape: str, task: str, device: str) -> str:
    if device != "cuda":
        return "tiny"
    return real if local_weights(get_preset(real, task), environment.models_dir()) else shape


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=3)
    parser.add_argument("--images", type=int, default=16)
    parser.add_argument("--compile", action="store_true", help="torch.compile the denoisers")
    args = parser.parse_args()
    device = pick_device()
    options = LoadOptions(compile_denoiser=args.compile)
    image_name = choose("sdxl-turbo", "sdxl-turbo-shape", "text-to-image", device)
    video_name = choose("svd-xt", "svd-xt-shape", "image-to-video", device)
    image_preset, video_preset = get_preset(image_name, "text-to-image"), get_preset(video_name, "image-to-video")
    gpu = device == "cuda"
    size = (512, 512) if gpu else (64, 64)

    t2i = PIPELINES.get(image_preset, environment.models_dir(), options=options)
    requests = [KeyframeRequest(f"a lighthouse at dusk, take {n}", seed=n) for n in range(args.images)]
    settings = dict(width=size[0], height=size[1], num_inference_steps=1 if gpu else 2, guidance_scale=0.0 if gpu else 1.0)
    list(render_keyframes(t2i, requests[:8], batch_size=8, **settings))  # warm-up (and compile)
    if gpu:
        torch.cuda.synchronize()
    started = time.perf_counter()
    images = [image for _, image in render_keyframes(t2i, requests, batch_size=8, **settings)]
    if gpu:
        torch.cuda.synchronize()
    s_per_image = (time.perf_counter() - started) / len(requests)
    print(f"{image_name} on {device}: {s_per_image:.4f} s per image ({len(requests)} images, batch 8)")

    i2v = PIPELINES.get(video_preset, environment.models_dir(), options=options)
    if gpu:
        params = ClipParams(num_frames=25, fps=7, num_inference_steps=25, min_guidance_scale=1.0,
                            max_guidance_scale=3.0, decode_chunk_size=8, width=1024, height=576)  # fmt: skip
    else:
        params = ClipParams()
    keyframe = images[0].resize((params.width, params.height))
    with tempfile.TemporaryDirectory() as out:
        render_clip(i2v, keyframe, Path(out) / "warmup.mp4", params)
        if gpu:
            torch.cuda.reset_peak_memory_stats()
        seconds = []
        for number in range(args.clips):
            started = time.perf_counter()
            render_clip(i2v, keyframe, Path(out) / f"{number}.mp4", params)
            seconds.append(time.perf_counter() - started)
            print(f"{video_name} clip {number + 1}/{args.clips}: {seconds[-1]:.2f}s")
    peak = torch.cuda.max_memory_allocated() / 2**30 if gpu else 0.0
    name = torch.cuda.get_device_name() if gpu else "cpu (no GPU: tiny presets, figures prove the path only)"
    print(json.dumps({
        "device": name, "preset": f"{image_name} + {video_name}",
        "svd_xt_s_per_clip": round(sum(seconds) / len(seconds), 3),
        "sdxl_turbo_s_per_image": round(s_per_image, 4), "peak_mem_gb": round(peak, 2),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

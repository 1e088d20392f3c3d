"""Seconds per clip and per image on one GPU, the baseline and each GPU lever, through the project's own code.

SVD-XT 25x576x1024, 25 steps with guidance; SDXL-Turbo 512x512, 1 step, batch 8; Wan 2.1 1.3B 832x480x81
with guidance, `WAN_TIMED_STEPS` of 50 steps run and scaled (said in `wan_steps_timed`). Real presets where
their weights are here, else the shape-true ones. Each lever (lib/generation/levers.py) is timed alone
against the baseline; its quality cost is the PSNR (dB, all frames of the decoded H.264 clip) and mean SSIM
against the baseline clip at the same seed, and the fastest set keeps the faster levers within
`PSNR_TOLERANCE_DB` and `SSIM_TOLERANCE`. `batch` denoises `DENOISE_BATCH` clips in one call (per clip: the
call's seconds over the clips).
`--cpu-rehearsal`: this very code on the CPU, shape presets cut to tiny sizes. Final line: JSON.

    python benchmarks/bench_gpu.py [--clips 1] [--images 16] [--cpu-rehearsal] [--levers svd:compile,...]
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from PIL import Image
from torch.utils.flop_counter import FlopCounterMode

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import (
    ClipParams, KeyframeRequest, PipelineCache, get_preset, render_clip, render_keyframes,
)  # fmt: skip
from vidgen_assets.lib.generation.levers import (
    ATTENTION_BACKENDS, LeverUnavailableError, check_attention_backend, use_compile_cache,
)  # fmt: skip
from vidgen_assets.lib.generation.loader import LoadOptions, local_weights
from vidgen_assets.lib.generation.shots import ShotInputs
from vidgen_assets.lib.generation.videos import ClipResult, decode_clip, denoise_clips
from vidgen_assets.lib.generation.wan import split_text_to_video
from vidgen_assets.lib.video.similarity import clip_similarity

PSNR_TOLERANCE_DB = 30.0  # a lever whose clip differs more from the baseline's is not picked
SSIM_TOLERANCE = 0.95
DENOISE_BATCH = 2
WAN_TIMED_STEPS = 3
SIZES = {
    "gpu": {
        "svd": ClipParams(num_frames=25, fps=7, num_inference_steps=25, min_guidance_scale=1.0, max_guidance_scale=3.0,
                          decode_chunk_size=8, width=1024, height=576),
        "sdxl": dict(width=512, height=512, num_inference_steps=1, guidance_scale=0.0),
        "wan": ClipParams(num_frames=81, fps=16, num_inference_steps=WAN_TIMED_STEPS, guidance_scale=5.0,
                          decode_chunk_size=8, width=832, height=480),
        "wan_steps": 50,
    },
    "cpu": {
        "svd": ClipParams(num_frames=4, fps=7, num_inference_steps=2, min_guidance_scale=1.0, max_guidance_scale=3.0,
                          decode_chunk_size=2, width=64, height=64),
        "sdxl": dict(width=64, height=64, num_inference_steps=1, guidance_scale=0.0),
        "wan": ClipParams(num_frames=9, fps=8, num_inference_steps=2, guidance_scale=5.0, decode_chunk_size=4,
                          width=32, height=32),
        "wan_steps": 4,
    },
}  # fmt: skip
# Levers per model. Attention backends apply to transformers (diffusers' UNets call SDPA directly);
# step caching only to transformers; the decode chunk only to SVD's frame-by-frame VAE.
LEVERS = {
    "svd": ("channels_last", "compile", "decode_chunk", "batch"),
    "sdxl": ("channels_last", "compile"),
    "wan": ("compile", "step_cache", *(f"attention_{name}" for name in ATTENTION_BACKENDS if name != "native")),
}
_LEVER_OPTIONS = {"channels_last": {"channels_last": True}, "compile": {"compile_denoiser": True},
                  "step_cache": {"step_cache": 0.05}}  # fmt: skip


def choose(real: str, shape: str, task: str, rehearsal: bool) -> str:
    return shape if rehearsal or not local_weights(get_preset(real, task), environment.models_dir()) else real


def lever_options(lever: str, tiny: bool) -> LoadOptions:
    if lever.startswith("attention_"):
        return LoadOptions(shape_tiny=tiny, attention_backend=lever.removeprefix("attention_"))
    return LoadOptions(shape_tiny=tiny, **_LEVER_OPTIONS.get(lever, {}))


def sync() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def time_clips(model: str, preset, options: LoadOptions, sizes: dict, clips: int, out: Path, tag: str) -> dict:
    """Load `preset` with `options`, render a warm-up clip (cold: where torch.compile compiles), then `clips`
    timed ones; per-phase seconds per clip and the last clip's path."""
    started = time.perf_counter()
    pipeline = PipelineCache().get(preset, environment.models_dir(), options=options)
    sync()
    load_s = time.perf_counter() - started
    params = sizes[model]
    if model == "svd" and "decode_chunk" in tag:
        params = replace(params, decode_chunk_size=params.num_frames)  # the whole clip in one VAE pass
    keyframe = _keyframe(params)

    def one(path: Path):
        if model == "wan":  # denoise, then the pipeline's own decode: the two phases timed apart
            return split_text_to_video(pipeline, ShotInputs("a lighthouse at dusk", "blurry"), params, None)(path)
        if tag.endswith("-batch"):  # this clip and `DENOISE_BATCH - 1` others at other seeds, in one call
            return _batched(pipeline, keyframe, path, params)
        return render_clip(pipeline, keyframe, path, params)

    started = time.perf_counter()
    one(out / f"{tag}-warmup.mp4")
    sync()
    first_s = time.perf_counter() - started
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    results = []
    for number in range(clips):
        results.append(one(out / f"{tag}-{number}.mp4"))
        sync()
    denoise_s = sum(r.denoise_s for r in results) / clips
    decode_s = sum(r.decode_encode_s for r in results) / clips
    tflops = 0.0
    if tag.endswith("baseline"):  # one more clip, untimed, its FLOPs counted by PyTorch (after: they slow it)
        counter = FlopCounterMode(display=False)
        with counter:
            one(out / f"{tag}-flops.mp4")
        tflops = counter.get_total_flops() / (denoise_s + decode_s) / 1e12
    if model == "wan":  # scale the timed steps (not the decode) to the model's full count; the rate stays
        denoise_s *= sizes["wan_steps"] / params.num_inference_steps
    del pipeline
    return {
        "tflops_achieved": tflops, "load_s": load_s, "first_clip_s": first_s, "denoise_s": denoise_s,
        "decode_encode_s": decode_s, "s_per_clip": denoise_s + decode_s, "peak_mem_gb": _peak_gb(),
        "path": out / f"{tag}-{clips - 1}.mp4",
    }  # fmt: skip


def _batched(pipeline, keyframe, path: Path, params: ClipParams) -> ClipResult:
    """The clip at `params.seed` denoised in a batch of `DENOISE_BATCH`; seconds per clip of the batch."""
    started = time.perf_counter()
    batch = [replace(params, seed=params.seed + n) for n in range(DENOISE_BATCH)]
    latents = denoise_clips(pipeline, [keyframe] * DENOISE_BATCH, batch)
    sync()
    denoised = time.perf_counter()
    frames = decode_clip(pipeline, latents[0], path, params)
    for number, others in enumerate(latents[1:], start=1):
        decode_clip(pipeline, others, path.with_name(f"{path.stem}-other{number}.mp4"), params)
    sync()
    return ClipResult(frames, (denoised - started) / DENOISE_BATCH, (time.perf_counter() - denoised) / DENOISE_BATCH)


def _keyframe(params: ClipParams):
    return Image.linear_gradient("L").convert("RGB").resize((params.width, params.height))


def _peak_gb() -> float:
    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # process peak RSS (kB on Linux)


def measure_model(model: str, preset, sizes: dict, clips: int, out: Path, only: set[str]) -> dict:
    """The baseline and each lever for one video model: seconds, phases, PSNR and the fastest set."""
    tiny = sizes is SIZES["cpu"]
    base = time_clips(model, preset, LoadOptions(shape_tiny=tiny), sizes, clips, out, f"{model}-baseline")
    report, raw = {"baseline": _rounded(base), "levers": {}, "skipped": {}}, {}
    for lever in LEVERS[model]:
        if only and f"{model}:{lever}" not in only:
            continue
        try:
            if lever.startswith("attention_"):
                check_attention_backend(lever.removeprefix("attention_"))
            run = time_clips(model, preset, lever_options(lever, tiny), sizes, clips, out, f"{model}-{lever}")
        except LeverUnavailableError as error:
            report["skipped"][lever] = str(error)
            print(f"{model} {lever}: skipped: {error}")
            continue
        run.update(clip_similarity(run["path"], base["path"]))
        if lever == "compile":  # what compiling added to the first clip (top-level `compile_cache`: cold or warm)
            run["compile_s"] = max(0.0, run["first_clip_s"] - base["first_clip_s"])
        raw[lever], report["levers"][lever] = run, _rounded(run)
        print(f"{model} {lever}: {run['s_per_clip']:.3f}s per clip (baseline {base['s_per_clip']:.3f}s), "
              f"PSNR {run['psnr_db']:.1f} dB, SSIM {run['ssim']:.4f}")  # fmt: skip
    report["fastest_set"] = sorted(
        lever for lever, run in raw.items()
        if run["s_per_clip"] < base["s_per_clip"] and run["psnr_db"] >= PSNR_TOLERANCE_DB and run["ssim"] >= SSIM_TOLERANCE
    )  # fmt: skip
    return report


def _rounded(run: dict) -> dict:
    # JSON has no infinity: identical pixels are written as PSNR null.
    return {k: (round(v, 4) if math.isfinite(v) else None) for k, v in run.items() if isinstance(v, float)}


def measure_images(preset, sizes: dict, images: int, only: set[str]) -> dict:
    """SDXL-Turbo seconds per image at batch 8, the baseline and each lever."""
    results = {}
    requests = [KeyframeRequest(f"a lighthouse at dusk, take {n}", seed=n) for n in range(images)]
    for lever in ("baseline", *(lever for lever in LEVERS["sdxl"] if not only or f"sdxl:{lever}" in only)):
        options = lever_options(lever, sizes is SIZES["cpu"])
        pipeline = PipelineCache().get(preset, environment.models_dir(), options=options)
        list(render_keyframes(pipeline, requests[:8], batch_size=8, **sizes["sdxl"]))  # warm-up (and compile)
        sync()
        started = time.perf_counter()
        list(render_keyframes(pipeline, requests, batch_size=8, **sizes["sdxl"]))
        sync()
        results[lever] = round((time.perf_counter() - started) / images, 5)
        print(f"sdxl {lever}: {results[lever]:.4f}s per image")
    return {"s_per_image": results}


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=_positive, default=1, help="timed clips per lever, after one warm-up")
    parser.add_argument("--images", type=_positive, default=16, help="SDXL-Turbo images per lever (batches of 8)")
    parser.add_argument("--cpu-rehearsal", action="store_true", help="the same path on the CPU at tiny sizes")
    parser.add_argument("--out", type=Path, help="keep the JSON report here")
    parser.add_argument("--levers", default="", help="only these, e.g. svd:compile,wan:step_cache (default: all)")
    args = parser.parse_args(argv)
    rehearsal = args.cpu_rehearsal or not torch.cuda.is_available()
    sizes = SIZES["cpu" if rehearsal else "gpu"]
    image_name = choose("sdxl-turbo", "sdxl-turbo-shape", "text-to-image", rehearsal)
    video_name = choose("svd-xt", "svd-xt-shape", "image-to-video", rehearsal)
    wan_name = choose("wan2.1-t2v-1.3b", "wan2.1-t2v-1.3b-shape", "text-to-video", rehearsal)
    only = {name.strip() for name in args.levers.split(",") if name.strip()}
    # A typo would measure nothing and still end well: on a GPU lent for minutes, refuse it before any work.
    if unknown := sorted(only - {f"{model}:{lever}" for model, levers in LEVERS.items() for lever in levers}):
        known = ", ".join(f"{model}:{lever}" for model, levers in LEVERS.items() for lever in levers)
        parser.error(f"unknown lever(s) {', '.join(unknown)}; known: {known}")
    # Kernels compiled by an earlier run on this models directory: then `compile_s` is the warm start.
    compile_cache = "warm" if any(use_compile_cache(environment.models_dir()).iterdir()) else "cold"
    images = measure_images(get_preset(image_name, "text-to-image"), sizes, args.images, only)
    with tempfile.TemporaryDirectory() as out:
        svd = measure_model("svd", get_preset(video_name, "image-to-video"), sizes, args.clips, Path(out), only)
        wan = measure_model("wan", get_preset(wan_name, "text-to-video"), sizes, args.clips, Path(out), only)
    levers = {f"{model}:{lever}": run["s_per_clip"] for model, report in (("svd", svd), ("wan", wan))
              for lever, run in report["levers"].items()}  # fmt: skip
    levers |= {f"sdxl:{lever}": s for lever, s in images["s_per_image"].items() if lever != "baseline"}
    name = torch.cuda.get_device_name() if not rehearsal else "cpu rehearsal (tiny shape presets: proves the path only)"
    result = {
        "device": name, "preset": f"{image_name} + {video_name} + {wan_name}",
        "svd_xt_s_per_clip": svd["baseline"]["s_per_clip"], "sdxl_turbo_s_per_image": images["s_per_image"]["baseline"],
        "peak_mem_gb": round(max(svd["baseline"]["peak_mem_gb"], wan["baseline"]["peak_mem_gb"]), 2),
        "svd_xt_unet_s": svd["baseline"]["denoise_s"], "svd_xt_decode_s": svd["baseline"]["decode_encode_s"],
        "sdxl_turbo_batch8_s_per_image": images["s_per_image"]["baseline"],
        "tflops_achieved": svd["baseline"]["tflops_achieved"], "levers": levers,
        "wan_1_3b_s_per_clip": wan["baseline"]["s_per_clip"],
        "wan_steps_timed": f"{sizes['wan'].num_inference_steps} of {sizes['wan_steps']} steps timed, scaled",
        "psnr_tolerance_db": PSNR_TOLERANCE_DB, "ssim_tolerance": SSIM_TOLERANCE, "compile_cache": compile_cache,
        "fastest_set": {"svd": svd["fastest_set"], "wan": wan["fastest_set"]},
        "skipped": {f"{model}:{lever}": why for model, report in (("svd", svd), ("wan", wan))
                    for lever, why in report["skipped"].items()},
        "phases": {"svd": svd, "wan": wan},
    }  # fmt: skip
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, default=str))
    print(json.dumps(result, default=str))
    return result


if __name__ == "__main__":
    main()

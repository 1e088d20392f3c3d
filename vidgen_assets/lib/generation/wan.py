"""Wan text-to-video in two halves, denoise then decode, like SVD's: its latents can be stashed before the
decode (a step stopped or out of memory there resumes without denoising again), the decode can run on
the encode worker, and a benchmark times the two phases apart.

The decode is the one WanPipeline runs after its loop (diffusers' pipeline_wan.py: the latents
un-normalized with the VAE's `latents_mean`/`latents_std`, one causal-VAE pass, the video processor),
so a split render writes the same bytes as the pipeline's own decode.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .latents import LatentStash
from .shots import ShotInputs
from .videos import ClipParams, ClipResult, text_to_video_call, write_float_frames


def denoise_text_to_video(pipeline, shot: ShotInputs, params: ClipParams, stash: LatentStash | None = None):
    """The clip's latents: the stash's if it holds them, else the pipeline's (stored in the stash first)."""
    if stash is not None and (stored := stash.load()) is not None:
        return stored
    latents = text_to_video_call(pipeline, shot.prompt, shot.negative_prompt, params, output_type="latent")
    if stash is not None:
        stash.save(latents)
    return latents


def decode_text_to_video(pipeline, latents) -> np.ndarray:
    """The clip's frames, (F, H, W, 3) floats in [0, 1], decoded as WanPipeline decodes them."""
    import torch
    from diffusers.utils.torch_utils import get_module_execution_device

    vae = pipeline.vae
    latents = latents.to(get_module_execution_device(vae), dtype=vae.dtype)
    shape = (1, vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(vae.config.latents_mean).view(shape).to(latents.device, latents.dtype)
    inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(shape).to(latents.device, latents.dtype)
    with torch.inference_mode():
        video = vae.decode(latents / inverse_std + mean, return_dict=False)[0]
    return pipeline.video_processor.postprocess_video(video, output_type="np")[0]


def split_text_to_video(pipeline, shot: ShotInputs, params: ClipParams, stash: LatentStash | None):
    """Denoise now; return the decode (latents to an H.264 MP4 at a path), to run now or on the encode worker."""
    started = time.perf_counter()
    latents = denoise_text_to_video(pipeline, shot, params, stash)
    denoise_s = time.perf_counter() - started

    def decode(out_path: Path) -> ClipResult:
        decode_started = time.perf_counter()
        written = write_float_frames(decode_text_to_video(pipeline, latents), out_path, params)
        return ClipResult(written, denoise_s, time.perf_counter() - decode_started)

    return decode

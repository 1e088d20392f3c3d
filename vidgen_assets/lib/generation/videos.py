"""Image-to-video clips with frames streamed into the encoder chunk by chunk.

The denoiser runs once per clip; the VAE then decodes `decode_chunk_size` frames at a
time and each chunk goes straight to the encoder, so a clip's decoded frames are never
all in memory at once.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from ..video import ClipWriter


@dataclass(frozen=True)
class ClipParams:
    num_frames: int = 8
    fps: int = 8
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    num_inference_steps: int = 2
    min_guidance_scale: float = 1.0
    max_guidance_scale: float = 1.0
    decode_chunk_size: int = 4
    width: int = 64
    height: int = 64
    seed: int = 0
    guidance_scale: float = 1.0  # text-to-video models (from the preset); image-to-video uses min/max above
    strength: float = 1.0  # video-to-video: how far a restyle may move from its source (the row's `strength`)
    takes: int = 1  # takes after the first continue from the previous take's last frame (lib/generation/takes.py)
    take_crossfade_frames: int = 0  # frames blended at each join of a long take (0: a plain cut)


@dataclass(frozen=True)
class ClipResult:
    frames: int
    denoise_s: float
    decode_encode_s: float


def render_clip(pipeline, image, out_path: str | Path, params: ClipParams, first_frame=None) -> ClipResult:
    """Render one clip from a keyframe (PIL image) into an H.264 MP4 at `out_path`; `first_frame`
    (H, W, 3 uint8), if given, is written as frame 0 (a continuation starts exactly on it)."""
    started = time.perf_counter()
    latents = denoise_clip(pipeline, image, params)
    denoised = time.perf_counter()
    frames_written = decode_clip(pipeline, latents, out_path, params, first_frame)
    return ClipResult(frames_written, denoised - started, time.perf_counter() - denoised)


def denoise_clip(pipeline, image, params: ClipParams, stash=None):
    """The clip's denoised latents: the `stash`'s (lib/generation/latents.py) if it holds them, else the
    pipeline's, stored in the stash before they are returned (a step stopped during the decode resumes there)."""
    import torch

    if stash is not None and (stored := stash.load()) is not None:
        return stored
    latents = pipeline(
        image=image,
        width=params.width,
        height=params.height,
        num_frames=params.num_frames,
        fps=params.fps,
        motion_bucket_id=params.motion_bucket_id,
        noise_aug_strength=params.noise_aug_strength,
        num_inference_steps=params.num_inference_steps,
        min_guidance_scale=params.min_guidance_scale,
        max_guidance_scale=params.max_guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(params.seed),
        output_type="latent",
    ).frames
    if stash is not None:
        stash.save(latents)
    return latents


def render_text_to_video(
    pipeline, prompt: str, negative_prompt: str, out_path: str | Path, params: ClipParams
) -> ClipResult:
    """Render one clip straight from text (no keyframe) into an H.264 MP4 at `out_path`."""
    import numpy as np
    import torch

    started = time.perf_counter()
    # Wan's and LTX's causal video VAEs decode a clip in one pass, so the pipeline decodes and we
    # encode its frames chunk by chunk; only this clip's frames are in memory.
    frames = pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        width=params.width,
        height=params.height,
        num_frames=params.num_frames,
        num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(params.seed),
        output_type="np",
    ).frames[0]
    denoised = time.perf_counter()
    with ClipWriter(out_path, fps=params.fps, width=params.width, height=params.height) as writer:
        for start in range(0, len(frames), params.decode_chunk_size):
            chunk = frames[start : start + params.decode_chunk_size]
            writer.write((np.clip(chunk, 0, 1) * 255).round().astype(np.uint8))
        written = writer.frames_written
    return ClipResult(written, denoised - started, time.perf_counter() - denoised)


def prepare_decode(pipeline) -> None:
    """Upcast an fp16 VAE that overflows (SVD's), as diffusers does for decoding. Called in the denoising
    thread before a decode is handed to the encode worker, so the worker never changes the VAE in use."""
    import torch

    vae = pipeline.vae
    if vae.dtype == torch.float16 and vae.config.force_upcast:
        vae.to(torch.float32)


def decode_clip(pipeline, latents, out_path: str | Path, params: ClipParams, first_frame=None) -> int:
    """Decode `latents` `decode_chunk_size` frames at a time straight into the encoder; the frames written."""
    import torch

    prepare_decode(pipeline)
    vae = pipeline.vae
    latents = latents.to(vae.device).flatten(0, 1).to(vae.dtype) / vae.config.scaling_factor
    with ClipWriter(out_path, fps=params.fps, width=params.width, height=params.height, first_frame=first_frame) as writer:
        for start in range(0, latents.shape[0], params.decode_chunk_size):
            chunk = latents[start : start + params.decode_chunk_size]
            with torch.inference_mode():
                pixels = vae.decode(chunk, num_frames=chunk.shape[0]).sample
            frames = ((pixels.float() / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8)
            writer.write(frames.permute(0, 2, 3, 1).cpu().numpy())
            del pixels, frames
        return writer.frames_written

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
    if stash is not None and (stored := stash.load()) is not None:
        return stored
    (latents,) = denoise_clips(pipeline, [image], [params])
    if stash is not None:
        stash.save(latents)
    return latents


def denoise_clips(pipeline, images: list, params: list[ClipParams]) -> list:
    """Several clips' latents from one pipeline call (a batch), each with its own keyframe and seed; every
    other parameter is shared, taken from the first clip's. Each clip's latents as a batch of one."""
    import torch

    shared = params[0]
    latents = pipeline(
        image=images,
        width=shared.width,
        height=shared.height,
        num_frames=shared.num_frames,
        fps=shared.fps,
        motion_bucket_id=shared.motion_bucket_id,
        noise_aug_strength=shared.noise_aug_strength,
        num_inference_steps=shared.num_inference_steps,
        min_guidance_scale=shared.min_guidance_scale,
        max_guidance_scale=shared.max_guidance_scale,
        # One generator per clip: each clip's noise is the one it gets when rendered alone.
        generator=[torch.Generator(device="cpu").manual_seed(p.seed) for p in params],
        output_type="latent",
    ).frames
    return [latents[index : index + 1] for index in range(len(params))]


def render_text_to_video(
    pipeline, prompt: str, negative_prompt: str, out_path: str | Path, params: ClipParams
) -> ClipResult:
    """Render one clip straight from text (no keyframe) into an H.264 MP4 at `out_path`, the pipeline decoding."""
    started = time.perf_counter()
    # LTX's causal video VAE decodes a clip in one pass, so the pipeline decodes and we encode its frames
    # chunk by chunk; only this clip's frames are in memory. (Wan's is split: lib/generation/wan.py.)
    frames = text_to_video_call(pipeline, prompt, negative_prompt, params, output_type="np")[0]
    denoised = time.perf_counter()
    written = write_float_frames(frames, out_path, params)
    return ClipResult(written, denoised - started, time.perf_counter() - denoised)


def text_to_video_call(pipeline, prompt: str, negative_prompt: str, params: ClipParams, output_type: str):
    """A text-to-video pipeline's `frames` for one clip: decoded ("np") or its latents ("latent")."""
    import torch

    return pipeline(
        prompt=prompt,
        negative_prompt=negative_prompt or None,
        width=params.width,
        height=params.height,
        num_frames=params.num_frames,
        num_inference_steps=params.num_inference_steps,
        guidance_scale=params.guidance_scale,
        generator=torch.Generator(device="cpu").manual_seed(params.seed),
        output_type=output_type,
    ).frames


def write_float_frames(frames, out_path: str | Path, params: ClipParams) -> int:
    """Encode (F, H, W, 3) floats in [0, 1] `decode_chunk_size` frames at a time; the frames written."""
    import numpy as np

    with ClipWriter(out_path, fps=params.fps, width=params.width, height=params.height) as writer:
        for start in range(0, len(frames), params.decode_chunk_size):
            chunk = frames[start : start + params.decode_chunk_size]
            writer.write((np.clip(chunk, 0, 1) * 255).round().astype(np.uint8))
        return writer.frames_written


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

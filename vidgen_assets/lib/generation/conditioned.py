"""Renderers of conditioned shots: first-and-last frame (Wan), restyle (Wan video-to-video), LTX conditioning.

Each runs the pipeline once (its causal video VAE decodes the clip in one pass) and streams the frames into
the encoder `decode_chunk_size` at a time through `shot_writer`, so a continuation starts exactly on the
previous shot's last frame. Noise comes from a CPU generator seeded with the row's seed, as everywhere.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from .shots import ShotInputs, fitted, shot_writer
from .videos import ClipParams, ClipResult


def _generator(params: ClipParams):
    import torch

    return torch.Generator(device="cpu").manual_seed(params.seed)


def _render(call: Callable[[], np.ndarray], shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    """Run `call` (frames, float in [0, 1], (F, H, W, 3)) and encode its frames chunk by chunk."""
    started = time.perf_counter()
    frames = call()
    denoised = time.perf_counter()
    with shot_writer(out_path, params, shot) as writer:
        for start in range(0, len(frames), params.decode_chunk_size):
            chunk = frames[start : start + params.decode_chunk_size]
            writer.write((np.clip(chunk, 0, 1) * 255).round().astype(np.uint8))
        written = writer.frames_written
    return ClipResult(written, denoised - started, time.perf_counter() - denoised)


def _clip_images(pipeline) -> int | None:
    """How many images' CLIP tokens the Wan transformer reads, exactly: 2 for Wan 2.1 FLF2V (first and last;
    a position table over both), 1 for Wan 2.1 I2V (the first only), None without CLIP (Wan 2.2: either).
    Diffusers offers no way around it: the wrong count fails deep in the transformer with a shape error."""
    config = pipeline.transformer.config
    if getattr(config, "image_dim", None) is None:
        return None
    return 2 if getattr(config, "pos_embed_seq_len", None) else 1


def render_first_last(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    """A Wan image-to-video shot from `shot.image`, ending on `shot.last_image` if it has one."""
    if shot.image is None:
        raise ValueError("a first-and-last-frame shot starts from an image (a keyframe, or the previous shot's end)")
    images, expected = 1 + (shot.last_image is not None), _clip_images(pipeline)
    if expected == 2 and images == 1:
        raise ValueError(
            "this first-and-last-frame model (Wan 2.1 FLF2V) needs an end keyframe too: give the row an "
            "end_prompt, or choose an image-to-video model for a shot that only starts from an image"
        )
    if expected == 1 and images == 2:
        raise ValueError(
            "this image-to-video model (Wan 2.1 I2V) takes no end keyframe: drop the row's end_prompt, or "
            "choose a first-and-last-frame model"
        )
    width, height = params.width, params.height
    last = fitted(shot.last_image, width, height) if shot.last_image is not None else None

    def call():
        return pipeline(
            image=fitted(shot.image, width, height), last_image=last, prompt=shot.prompt,
            negative_prompt=shot.negative_prompt or None, width=width, height=height,
            num_frames=params.num_frames, num_inference_steps=params.num_inference_steps,
            guidance_scale=params.guidance_scale, generator=_generator(params), output_type="np",
        ).frames[0]  # fmt: skip

    return _render(call, shot, out_path, params)


def restyle_source(video: Sequence[Image.Image], num_frames: int, width: int, height: int, temporal: int = 4) -> list:
    """The source frames a restyle is given, at the clip's size and exactly as many as the clip has.

    Wan's video-to-video makes as many frames as it is given, and its causal VAE encodes a first frame
    plus whole groups of `temporal` (4): from 10 frames it silently makes 9. So the clip's length is
    `num_frames` rounded down to 4k+1, and the source is cut to it, or, if shorter, its last frame is held
    until it is that long (the clip keeps the length its row asks for, whatever the source's length).
    """
    count = (num_frames - 1) // temporal * temporal + 1
    frames = [fitted(frame, width, height) for frame in itertools.islice(video, count)]
    if not frames:
        raise ValueError("a restyle needs a source clip with at least one frame (restyle_of or source_uri)")
    return frames + [frames[-1]] * (count - len(frames))


def denoising_steps(num_inference_steps: int, strength: float) -> int:
    """The steps diffusers' video-to-video pipelines run: the last `int(steps x strength)` of the schedule."""
    return min(int(num_inference_steps * strength), num_inference_steps)


def strength_error(num_inference_steps: int, strength: float) -> str | None:
    """Why `strength` with `num_inference_steps` renders nothing, or None.

    Diffusers rounds `steps x strength` down: 2 steps at strength 0.4 run no step at all and decode the
    source plus noise. That is refused, not clamped: one step would be strength 1/steps (0.5 here), more
    than the row asked, under a key that says 0.4.
    """
    if not 0 < strength <= 1:
        return f"strength {strength} is outside (0, 1]"
    if denoising_steps(num_inference_steps, strength) >= 1:
        return None
    steps = math.ceil(1 / strength)
    while denoising_steps(steps, strength) < 1:
        steps += 1
    return (
        f"strength {strength} x num_inference_steps {num_inference_steps} rounds down to no denoising step: "
        f"raise strength to at least {1 / num_inference_steps:.3g} or num_inference_steps to at least {steps}"
    )


def render_restyle(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    """Restyle `shot.video` with Wan video-to-video: noise it to `shot.strength`, then denoise to the prompt."""
    if not shot.video:
        raise ValueError("a restyle needs a source clip (restyle_of or source_uri)")
    if problem := strength_error(params.num_inference_steps, shot.strength):
        raise ValueError(problem)
    width, height = params.width, params.height
    source = restyle_source(shot.video, params.num_frames, width, height, pipeline.vae_scale_factor_temporal)

    def call():
        return pipeline(
            video=source, prompt=shot.prompt, negative_prompt=shot.negative_prompt or None, width=width,
            height=height, num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
            strength=shot.strength, generator=_generator(params), output_type="np",
        ).frames[0]  # fmt: skip

    return _render(call, shot, out_path, params)


def ltx_conditions(shot: ShotInputs, num_frames: int, width: int, height: int) -> list:
    """The shot's inputs as LTX conditions: the start image on frame 0, the end image on the last frame,
    a source clip from frame 0.

    LTX's condition strength is how much of the source is *kept* (1: frozen, never denoised; its latents
    start at noise level 1 - strength), the opposite of a restyle's `strength`, how far it may move (as
    in Wan's video-to-video, where it is the noise level): so the clip is given `1 - shot.strength`.
    """
    from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

    conditions = []
    if shot.video:  # the pipeline cuts it to the clip's length and to 8k+1 frames itself
        frames = [fitted(frame, width, height) for frame in itertools.islice(shot.video, num_frames)]
        conditions.append(LTXVideoCondition(video=frames, frame_index=0, strength=1 - shot.strength))
    if shot.image is not None:
        conditions.append(LTXVideoCondition(image=fitted(shot.image, width, height), frame_index=0))
    if shot.last_image is not None:
        conditions.append(LTXVideoCondition(image=fitted(shot.last_image, width, height), frame_index=num_frames - 1))
    return conditions


def render_ltx_conditioned(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    """An LTX-Video shot conditioned on any of a start image, an end image and a source clip (or on none)."""
    width, height = params.width, params.height
    conditions = ltx_conditions(shot, params.num_frames, width, height)

    def call():
        return pipeline(
            conditions=conditions or None, prompt=shot.prompt, negative_prompt=shot.negative_prompt or None,
            width=width, height=height, num_frames=params.num_frames, frame_rate=params.fps,
            num_inference_steps=params.num_inference_steps, guidance_scale=params.guidance_scale,
            generator=_generator(params), output_type="np",
        ).frames[0]  # fmt: skip

    return _render(call, shot, out_path, params)

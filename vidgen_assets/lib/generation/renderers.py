"""The renderer of each local pipeline: one call, `render_shot`, for every kind of shot."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .conditioned import render_first_last, render_ltx_conditioned, render_restyle
from .latents import LatentStash
from .presets import ModelPreset
from .shots import ShotInputs, fitted
from .videos import ClipParams, ClipResult, decode_clip, denoise_clip, prepare_decode, render_text_to_video
from .wan import split_text_to_video

Renderer = Callable[[Any, ShotInputs, Path, ClipParams], ClipResult]
Decode = Callable[[Path], ClipResult]  # decodes denoised latents into an MP4 at the path


def _image_to_video(pipeline, shot: ShotInputs, params: ClipParams, stash: LatentStash | None) -> Decode:
    first = np.asarray(fitted(shot.image, params.width, params.height)) if shot.anchor_first_frame else None
    started = time.perf_counter()
    latents = denoise_clip(pipeline, shot.image, params, stash)
    denoise_s = time.perf_counter() - started
    prepare_decode(pipeline)

    def decode(out_path: Path) -> ClipResult:
        decode_started = time.perf_counter()
        frames = decode_clip(pipeline, latents, out_path, params, first)
        return ClipResult(frames, denoise_s, time.perf_counter() - decode_started)

    return decode


def _text_to_video(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    return render_text_to_video(pipeline, shot.prompt, shot.negative_prompt, out_path, params)


# Keyed by the preset's pipeline class: a new local model family is a new entry here.
RENDERERS: dict[str, Renderer] = {
    "LTXPipeline": _text_to_video,
    "WanImageToVideoPipeline": render_first_last,
    "WanVideoToVideoPipeline": render_restyle,
    "LTXConditionPipeline": render_ltx_conditioned,
}
# Renderers that denoise to latents and decode them separately: their latents can be stashed (resume at the
# decode) and their decode can run on the encode worker while the next clip denoises.
SPLIT_RENDERERS: dict[str, Callable[[Any, ShotInputs, ClipParams, LatentStash | None], Decode]] = {
    "StableVideoDiffusionPipeline": _image_to_video,
    "WanPipeline": split_text_to_video,
}


def denoise_shot(
    pipeline, preset: ModelPreset, shot: ShotInputs, params: ClipParams, stash: LatentStash | None = None
) -> Decode | None:
    """Denoise a shot of a split renderer now (or take its stashed latents); returns its decode, to run now
    or on the encode worker. None for a renderer whose pipeline decodes itself."""
    split = SPLIT_RENDERERS.get(preset.pipeline_class)
    return None if split is None else split(pipeline, shot, params, stash)


def render_shot(
    pipeline, preset: ModelPreset, shot: ShotInputs, out_path: str | Path, params: ClipParams,
    stash: LatentStash | None = None,
) -> ClipResult:  # fmt: skip
    """Render one shot of `preset` into an H.264 MP4 at `out_path` (a split renderer stashes its latents in `stash`)."""
    if decode := denoise_shot(pipeline, preset, shot, params, stash):
        return decode(Path(out_path))
    try:
        renderer = RENDERERS[preset.pipeline_class]
    except KeyError:
        raise ValueError(f"no renderer for {preset.pipeline_class} (preset {preset.name!r})") from None
    return renderer(pipeline, shot, Path(out_path), params)

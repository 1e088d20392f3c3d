"""The renderer of each local pipeline: one call, `render_shot`, for every kind of shot."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .conditioned import render_first_last, render_ltx_conditioned, render_restyle
from .presets import ModelPreset
from .shots import ShotInputs, fitted
from .videos import ClipParams, ClipResult, render_clip, render_text_to_video

Renderer = Callable[[Any, ShotInputs, Path, ClipParams], ClipResult]


def _image_to_video(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    first = np.asarray(fitted(shot.image, params.width, params.height)) if shot.anchor_first_frame else None
    return render_clip(pipeline, shot.image, out_path, params, first_frame=first)


def _text_to_video(pipeline, shot: ShotInputs, out_path: Path, params: ClipParams) -> ClipResult:
    return render_text_to_video(pipeline, shot.prompt, shot.negative_prompt, out_path, params)


# Keyed by the preset's pipeline class: a new local model family is a new entry here.
RENDERERS: dict[str, Renderer] = {
    "StableVideoDiffusionPipeline": _image_to_video,
    "WanPipeline": _text_to_video,
    "LTXPipeline": _text_to_video,
    "WanImageToVideoPipeline": render_first_last,
    "WanVideoToVideoPipeline": render_restyle,
    "LTXConditionPipeline": render_ltx_conditioned,
}


def render_shot(pipeline, preset: ModelPreset, shot: ShotInputs, out_path: str | Path, params: ClipParams) -> ClipResult:
    """Render one shot of `preset` into an H.264 MP4 at `out_path`."""
    try:
        renderer = RENDERERS[preset.pipeline_class]
    except KeyError:
        raise ValueError(f"no renderer for {preset.pipeline_class} (preset {preset.name!r})") from None
    return renderer(pipeline, shot, Path(out_path), params)

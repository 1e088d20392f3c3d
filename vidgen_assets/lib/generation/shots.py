"""What a shot is rendered from: one face for every kind of shot.

The plan gathers a shot's inputs from its row and from the shots it depends on (a keyframe, the previous
shot's last frame, an end keyframe, a source clip); `renderers.render_shot` picks the renderer by the
preset's pipeline. Renderers open their encoder with `shot_writer`, which keeps a continuation's promise:
a shot that starts from the previous shot's last frame begins with exactly that frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..video import ClipWriter
from .videos import ClipParams


@dataclass(frozen=True)
class ShotInputs:
    """Everything a renderer may read besides the clip params; a model reads the ones its modes name."""

    prompt: str = ""
    negative_prompt: str = ""
    image: Image.Image | None = None  # the start: a keyframe, or the previous shot's last frame
    last_image: Image.Image | None = None  # the end keyframe of a first-and-last-frame shot
    video: Sequence[Image.Image] | None = None  # the clip a video-to-video shot restyles, frame by frame
    strength: float = 1.0  # how far a restyle may move from its source (0 < s <= 1)
    anchor_first_frame: bool = False  # a continuation: its first frame is `image`, exactly


def fitted(image: Image.Image, width: int, height: int) -> Image.Image:
    """`image` at the clip's size: what a model is given and what a continuation starts with."""
    image = image.convert("RGB")
    return image if image.size == (width, height) else image.resize((width, height), Image.Resampling.LANCZOS)


def shot_writer(out_path: str | Path, params: ClipParams, shot: ShotInputs | None = None) -> ClipWriter:
    """The clip's encoder; a continuation's frame 0 is the previous shot's last frame at this clip's size."""
    first = None
    if shot is not None and shot.anchor_first_frame and shot.image is not None:
        first = np.asarray(fitted(shot.image, params.width, params.height), dtype=np.uint8)
    return ClipWriter(out_path, fps=params.fps, width=params.width, height=params.height, first_frame=first)

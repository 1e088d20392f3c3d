"""An animated preview of a reel itself, small enough for the Dagster event log, showing every clip."""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image

from vidgen_assets.lib.video.probe import iter_frames

PathLike = str | os.PathLike[str]

PREVIEW_MAX_BYTES = 120_000  # the WebP file; its base64 in the event log is a third larger
_BACKGROUND = (24, 24, 24)
_MIN_SIDE = 32  # a tile's longer side below which nothing useful shows


@dataclass(frozen=True)
class ReelPreview:
    webp: bytes
    frames: int  # animation frames
    clips_per_frame: int  # clips tiled side by side in each frame (1 unless the day has very many)
    side: int  # a tile's longer side in pixels


def clip_starts(clip_frames: Sequence[int], crossfade_frames: int = 0) -> list[int]:
    """The reel frame at which each clip starts (clips overlap by `crossfade_frames`)."""
    starts, at = [], 0
    for frames in clip_frames:
        starts.append(at)
        at += frames - crossfade_frames
    return starts


def reel_preview(
    reel_path: PathLike,
    clip_frames: Sequence[int],
    *,
    crossfade_frames: int = 0,
    fps: float = 8.0,
    max_bytes: int = PREVIEW_MAX_BYTES,
    max_side: int = 192,
    max_frames: int = 96,
) -> ReelPreview:
    """An animated WebP sampled from the reel: every clip gets at least one frame (up to three, from its
    start, middle and end, while the preview stays under `max_frames`), shrunk and, for days with very
    many clips, tiled several clips to a frame, until the file is at most `max_bytes`.
    """
    if not clip_frames:
        raise ValueError("a reel preview needs at least one clip")
    per_clip = max(1, min(3, max_frames // len(clip_frames)))
    picks = []  # (clip index, reel frame)
    for index, (start, frames) in enumerate(zip(clip_starts(clip_frames, crossfade_frames), clip_frames)):
        # Inside the clip's own frames, clear of the crossfades at either end.
        first, last = start + min(crossfade_frames, frames - 1), start + frames - 1 - min(crossfade_frames, frames - 1)
        first, last = min(first, last), max(first, last)
        picks += [(index, first + round(n * (last - first) / max(1, per_clip - 1))) for n in range(per_clip)]
    wanted = {frame for _, frame in picks}
    thumbs: dict[int, Image.Image] = {}
    last_frame = None
    for number, frame in enumerate(iter_frames(reel_path)):
        last_frame = frame
        if number in wanted:
            thumbs[number] = _thumb(frame, max_side)
    for frame in wanted - set(thumbs):  # a reel a frame short of the sum (rounding): its last frame stands in
        if last_frame is None:
            raise ValueError(f"{reel_path} has no frames to preview")
        thumbs[frame] = _thumb(last_frame, max_side)
    duration_ms = max(100, min(600, round(1000 * (sum(clip_frames) / len(clip_frames)) / fps / per_clip)))
    side, per_frame = max_side, 1
    while True:
        webp = _encode([thumbs[frame] for _, frame in picks], per_clip, side, per_frame, duration_ms)
        if len(webp) <= max_bytes:
            return ReelPreview(webp, frames=math.ceil(len(picks) / per_clip / per_frame) * per_clip,
                               clips_per_frame=per_frame, side=side)  # fmt: skip
        # WebP bytes grow about with pixels × frames: aim just under the budget in one step where possible.
        over = len(webp) / max_bytes
        if side > _MIN_SIDE * 2:
            side = max(_MIN_SIDE * 2, int(side * min(0.75, 0.9 / math.sqrt(over))))
        elif per_frame < len(clip_frames):
            # Tiling k clips a frame keeps the pixels but divides the frames by k; the grid stays square.
            columns = max(math.isqrt(per_frame) + 1, math.ceil(math.sqrt(per_frame * over * 1.1)))
            per_frame = min(len(clip_frames), columns**2)
        else:
            raise ValueError(f"{len(clip_frames)} clips do not fit a {max_bytes}-byte preview")


def _thumb(frame: np.ndarray, side: int) -> Image.Image:
    image = Image.fromarray(np.asarray(frame))
    image.thumbnail((side, side))
    return image


def _encode(thumbs: list[Image.Image], per_clip: int, side: int, per_frame: int, duration_ms: int) -> bytes:
    """Frames of `per_frame` clips tiled in a square grid, each clip's `per_clip` samples in turn."""
    clips = [[image.copy() for image in thumbs[n : n + per_clip]] for n in range(0, len(thumbs), per_clip)]
    columns = math.isqrt(per_frame)
    # Tiles shrink with the grid so the frame stays about `side` on its longer edge.
    tile = max(_MIN_SIDE // 2, side // columns)
    # Frames of an animation share one size: the reel's frames do, and the grid is the same in every frame.
    for clip in clips:
        for image in clip:
            image.thumbnail((tile, tile))
    width, height = clips[0][0].size
    rows = math.ceil(min(per_frame, len(clips)) / columns)
    frames = []
    for group in range(0, len(clips), per_frame):
        for step in range(per_clip):
            canvas = Image.new("RGB", (columns * width, rows * height), _BACKGROUND)
            for place, clip in enumerate(clips[group : group + per_frame]):
                canvas.paste(clip[step], ((place % columns) * width, (place // columns) * height))
            frames.append(canvas)
    buffer = io.BytesIO()
    frames[0].save(buffer, format="WEBP", save_all=True, append_images=frames[1:], duration=duration_ms, loop=0,
                   quality=60, method=4)  # fmt: skip
    return buffer.getvalue()

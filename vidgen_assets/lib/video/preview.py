"""Small previews for the Dagster UI: an animated WebP poster and size-capped PNG grids."""

from __future__ import annotations

import base64
import io
import math
import os
import tempfile
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

import av
import numpy as np
from PIL import Image

from vidgen_assets.lib.video.contact_sheet import contact_sheet
from vidgen_assets.lib.video.probe import VideoDecodeError, iter_frames, probe_header

PathLike = str | os.PathLike[str]

_BACKGROUND = (24, 24, 24)  # same as contact sheets
_MIN_THUMB = 8  # below this a grid shows nothing useful


def animated_poster(
    clip_paths: Sequence[PathLike],
    out_path: PathLike,
    *,
    max_clips: int = 4,
    max_side: int = 160,
    frames_per_clip: int = 8,
) -> int:
    """Write an animated WebP of the first ``max_clips`` clips tiled in a grid, playing together.

    Each clip contributes ``frames_per_clip`` frames sampled evenly through it; the poster's
    longer side is at most ``max_side``. Returns the bytes written.
    """
    if not clip_paths:
        raise ValueError("animated_poster needs at least one clip")
    if max_clips < 1 or max_side < 1 or frames_per_clip < 1:
        raise ValueError("max_clips, max_side and frames_per_clip must be positive")
    chosen = list(clip_paths[:max_clips])
    headers = [probe_header(path) for path in chosen]
    columns = math.ceil(math.sqrt(len(chosen)))
    rows = math.ceil(len(chosen) / columns)
    largest = max(max(header.width, header.height) for header in headers)
    tile = max(1, min(largest, max_side // max(columns, rows)))  # never upscale

    tiles = [_sampled_tiles(path, header.frames, frames_per_clip, tile) for path, header in zip(chosen, headers)]
    poster_frames = []
    for step in range(frames_per_clip):
        canvas = Image.new("RGB", (columns * tile, rows * tile), _BACKGROUND)
        for index, clip_tiles in enumerate(tiles):
            # Short clips hold their last frame while longer ones play on.
            image = clip_tiles[min(step, len(clip_tiles) - 1)]
            left = (index % columns) * tile + (tile - image.width) // 2
            top = (index // columns) * tile + (tile - image.height) // 2
            canvas.paste(image, (left, top))
        poster_frames.append(canvas)
    longest_s = max(header.frames / float(header.fps) for header in headers)
    frame_ms = max(20, round(1000 * longest_s / frames_per_clip))
    out = Path(out_path)
    poster_frames[0].save(
        out, format="WEBP", save_all=True, append_images=poster_frames[1:], duration=frame_ms, loop=0, quality=70
    )
    return out.stat().st_size


def _sampled_tiles(path: PathLike, frames: int, wanted: int, tile: int) -> list[Image.Image]:
    """Decode ``path`` once and keep ``wanted`` evenly spaced frames, shrunk to fit ``tile``."""
    picks = {round(i * (frames - 1) / max(1, wanted - 1)) for i in range(wanted)} if frames > 1 else {0}
    tiles = []
    for index, frame in enumerate(iter_frames(path)):
        if index in picks:
            image = Image.fromarray(np.asarray(frame))
            image.thumbnail((tile, tile))
            tiles.append(image)
    if not tiles:
        raise ValueError(f"{path} has no frames to preview")
    return tiles


def png_grid_b64(
    image_paths: Sequence[PathLike],
    *,
    max_bytes: int = 300_000,
    captions: Sequence[str] | None = None,
    columns: int = 4,
    thumb_size: int = 128,
) -> str:
    """Return a base64 PNG contact sheet whose base64 text is at most ``max_bytes`` long.

    Thumbnails shrink until the grid fits, since previews embedded in metadata live in
    the event log. Raises ValueError when even tiny thumbnails do not fit.
    """
    size = thumb_size
    while size >= _MIN_THUMB:
        buffer = io.BytesIO()
        caption_height = 16 if captions else 0
        contact_sheet(image_paths, captions, buffer, columns=columns, thumb_size=size, caption_height=caption_height)
        encoded = base64.b64encode(buffer.getvalue()).decode("ascii")
        if len(encoded) <= max_bytes:
            return encoded
        # PNG size grows roughly with pixel count; aim under the cap, shrinking at least a quarter.
        size = int(size * min(0.75, 0.95 * math.sqrt(max_bytes / len(encoded))))
    raise ValueError(f"{len(image_paths)} images do not fit in {max_bytes} bytes even at {_MIN_THUMB}px")


def data_uri_markdown(b64: str, alt: str, *, mime: str = "image/png") -> str:
    """Markdown that shows a base64 image inline (``MetadataValue.md`` renders it)."""
    safe_alt = " ".join(alt.replace("[", "(").replace("]", ")").split())
    return f"![{safe_alt}](data:{mime};base64,{b64})"


def keyframes_preview_md(store, items: Sequence[dict], *, limit: int = 16, max_bytes: int = 200_000) -> str:
    """Markdown with a PNG grid of the first `limit` keyframes in `items` (read through the media store)."""
    if not items:
        return "no keyframes"
    with ExitStack() as stack:
        paths = [stack.enter_context(store.local_path(i["media_key"])) for i in items[:limit]]
        grid = png_grid_b64(paths, captions=[i["prompt"] for i in items[:limit]], max_bytes=max_bytes)
    return data_uri_markdown(grid, f"{len(items)} keyframes")


def clips_poster_md(store, items: Sequence[dict], *, limit: int = 4) -> str:
    """Markdown with an animated WebP of the first `limit` clips playing side by side.

    A clip that does not decode leaves a note instead: a preview never fails the step (the
    quality check reports the clip).
    """
    if not items:
        return "no clips"
    try:
        with ExitStack() as stack, tempfile.TemporaryDirectory() as scratch:
            paths = [stack.enter_context(store.local_path(i["media_key"])) for i in items[:limit]]
            poster = Path(scratch) / "poster.webp"
            animated_poster(paths, poster, max_clips=limit)
            encoded = base64.b64encode(poster.read_bytes()).decode("ascii")
    except (av.FFmpegError, VideoDecodeError, OSError, ValueError) as error:
        return f"no preview: {type(error).__name__}: {str(error)[:200]}"
    return data_uri_markdown(encoded, f"{min(limit, len(items))} of {len(items)} clips", mime="image/webp")

"""The side-by-side video: one column per variant, one row per sampled prompt, all on one clock.

Every tile's clip is decoded as the grid is written, one frame per tile at a time: clips at another frame
rate are retimed to the fastest, shorter ones hold their last frame. The frame at the middle of the grid
is kept as the contact sheet (PNG), labelled like the video.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from ..storage import MediaStore
from ..video import ClipWriter
from ..video.reel_frames import CaptionBand, letterbox, retime, retimed_count

MAX_TILE_SIDE = 256  # keeps a 4-variant grid of real-preset clips near 1080p wide


def _even(value: float) -> int:
    return max(2, int(value) // 2 * 2)


def tile_size(sizes: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """The largest clip's size, scaled down to fit MAX_TILE_SIDE, even on both sides (yuv420p)."""
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    scale = min(1.0, MAX_TILE_SIDE / max(width, height))
    return _even(width * scale), _even(height * scale)


class _Tile:
    """One clip's frames, retimed to the grid's rate, letterboxed and labelled; its last frame repeats."""

    def __init__(self, container, fps: Fraction, size: tuple[int, int], label: str) -> None:
        stream = container.streams.video[0]
        self._frames = retime((f.to_ndarray(format="rgb24") for f in container.decode(stream)), stream.average_rate, fps)
        self._size, self._band, self._last = size, CaptionBand(label, *size), None

    def next(self) -> np.ndarray:
        frame = next(self._frames, None)
        if frame is not None:
            self._last = self._band.apply(letterbox(frame, *self._size))
        return self._last if self._last is not None else np.zeros((self._size[1], self._size[0], 3), np.uint8)


def _blank(size: tuple[int, int], label: str) -> np.ndarray:
    """A tile for a clip the variant did not make: dark, labelled."""
    return CaptionBand(label, *size).apply(np.full((size[1], size[0], 3), 16, np.uint8))


def side_by_side(
    store: MediaStore,
    labels: Sequence[str],
    rows: Sequence[tuple[str, Sequence[str | None]]],
    video_key: str,
    sheet_key: str,
) -> dict:
    """Write the grid MP4 and its contact sheet to the store. `rows` is (prompt_id, a media key per variant,
    None where it made no clip). Returns their URIs, the grid's size, frame rate and frame count."""
    if not rows or not labels:
        raise ValueError("a side-by-side video needs at least one prompt and one variant")
    with ExitStack() as stack:
        opened = {}
        for _, keys in rows:
            for key in filter(None, keys):
                if key not in opened:
                    opened[key] = stack.enter_context(store.local_path(key))
        probes = {key: _probe(path) for key, path in opened.items()}
        if not probes:
            raise ValueError("no variant made any clip of the sampled prompts")
        fps = Fraction(_rate(max(rate for rate, _, _ in probes.values())))
        size = tile_size([s for _, _, s in probes.values()])
        frames = max(retimed_count(count, rate, fps) for rate, count, _ in probes.values())
        grid = []
        for prompt_id, keys in rows:
            cells = []
            for label, key in zip(labels, keys):
                caption = f"{label} | {prompt_id}"
                cells.append(_Tile(stack.enter_context(av.open(str(opened[key]))), fps, size, caption) if key
                             else _blank(size, f"{caption}: no clip"))  # fmt: skip
            grid.append(cells)
        width, height = size[0] * len(labels), size[1] * len(rows)
        middle = None
        with store.writing(video_key) as path, ClipWriter(path, fps=int(fps), width=width, height=height) as writer:
            for index in range(frames):
                picture = np.concatenate(
                    [np.concatenate([c.next() if isinstance(c, _Tile) else c for c in cells], axis=1) for cells in grid], axis=0
                )
                writer.write(picture)
                if index == frames // 2:
                    middle = picture
    with store.writing(sheet_key) as path:
        Image.fromarray(middle).save(path, format="PNG")
    return {
        "video_key": video_key, "video_uri": store.uri(video_key), "sheet_key": sheet_key, "sheet_uri": store.uri(sheet_key),
        "width": width, "height": height, "fps": float(fps), "frames": frames, "tile": list(size),
    }  # fmt: skip


def _probe(path) -> tuple[Fraction, int, tuple[int, int]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        count = stream.frames or sum(1 for _ in container.decode(stream))
        return Fraction(stream.average_rate or 8), count, (stream.codec_context.width, stream.codec_context.height)


def _rate(fps: Fraction) -> int:
    """ClipWriter takes whole frame rates; every preset's is one."""
    return max(1, round(float(fps)))

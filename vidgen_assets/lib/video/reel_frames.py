"""Frame-stream stages for re-encoded reels: retiming, cuts moved to the beat, letterboxing, captions, crossfades.

Each stage takes and yields (H, W, 3) RGB uint8 frames one at a time, so a reel never
holds more than a crossfade's worth of frames in memory.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from fractions import Fraction

import numpy as np
from PIL import Image, ImageDraw, ImageFont, ImageOps

from vidgen_assets.lib.video.contact_sheet import fit_text

_CAPTION_BACKDROP = (0, 0, 0, 150)  # translucent black keeps the picture visible behind text
_CAPTION_TEXT = (255, 255, 255, 255)


def retime(frames: Iterable[np.ndarray], source_fps: Fraction, target_fps: Fraction) -> Iterator[np.ndarray]:
    """Repeat or drop frames so the clip keeps its real-time length at ``target_fps``.

    Output frame ``j`` shows the source frame on screen at time ``j / target_fps``, so
    ``n`` source frames become ``ceil(n * target_fps / source_fps)``.
    """
    if source_fps == target_fps:
        yield from frames
        return
    source_per_output = Fraction(source_fps) / Fraction(target_fps)
    next_output = 0
    for index, frame in enumerate(frames):
        while math.floor(next_output * source_per_output) == index:
            yield frame
            next_output += 1


def retimed_count(frames: int, source_fps: Fraction, target_fps: Fraction) -> int:
    """How many frames ``retime`` yields for a clip of ``frames`` frames."""
    return math.ceil(frames * Fraction(target_fps) / Fraction(source_fps))


def trim_or_hold(frames: Iterable[np.ndarray], delta: int) -> Iterator[np.ndarray]:
    """The clip with ``-delta`` frames trimmed from its tail (delta < 0) or its last frame held ``delta`` more
    times (delta > 0): how a cut plan moves the cut after it. Holds back only ``-delta`` frames to trim."""
    if delta >= 0:
        last = None
        for last in frames:
            yield last
        for _ in range(delta if last is not None else 0):
            yield last
        return
    held: deque[np.ndarray] = deque()
    for frame in frames:
        held.append(frame)
        if len(held) > -delta:
            yield held.popleft()


def crossfade_frames(lengths: Sequence[int], crossfade_s: float, fps: int) -> int:
    """Frames each transition between clips of ``lengths`` frames (at ``fps``) overlaps: ``crossfade_s``,
    capped by what the shortest clips allow."""
    wanted = round(crossfade_s * fps)
    if wanted == 0 or len(lengths) < 2:
        return 0
    # End clips fade once; middle clips fade in and out, and the two fades must not meet.
    return min([wanted, lengths[0], lengths[-1]] + [length // 2 for length in lengths[1:-1]])


def letterbox(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale ``frame`` to fit width x height, keeping its aspect ratio, centred on black."""
    if frame.shape[:2] == (height, width):
        return frame
    fitted = ImageOps.pad(Image.fromarray(frame), (width, height), Image.Resampling.BILINEAR, color=(0, 0, 0))
    return np.asarray(fitted)


class CaptionBand:
    """A caption burnt into a band along the bottom of every frame; rows above stay untouched."""

    def __init__(self, text: str, width: int, height: int) -> None:
        # About an eighth of the frame, within what stays legible without covering the picture.
        self.band_height = min(height, max(10, min(48, height // 8)))
        font = ImageFont.load_default(size=max(6, self.band_height - 4))
        band = Image.new("RGBA", (width, self.band_height), _CAPTION_BACKDROP)
        draw = ImageDraw.Draw(band)
        line = fit_text(draw, " ".join(text.split()), font, width - 4)
        left, top, right, bottom = draw.textbbox((0, 0), line, font=font)
        origin = ((width - (right - left)) // 2 - left, (self.band_height - (bottom - top)) // 2 - top)
        draw.text(origin, line, font=font, fill=_CAPTION_TEXT)
        rgba = np.asarray(band, dtype=np.float32)
        self._opacity = rgba[..., 3:] / 255.0
        self._tint = rgba[..., :3] * self._opacity

    def apply(self, frame: np.ndarray) -> np.ndarray:
        """Return a copy of ``frame`` with the caption composited over its bottom band."""
        out = frame.copy()
        bottom = out[-self.band_height :].astype(np.float32)
        out[-self.band_height :] = np.rint(bottom * (1.0 - self._opacity) + self._tint).astype(np.uint8)
        return out


class Crossfader:
    """Writes clips back to back, blending the last ``overlap`` frames of each with the next's first.

    Every transition overlaps ``overlap`` frames, so a reel of clips with ``n_i`` frames has
    ``sum(n_i) - overlap * (clips - 1)`` frames. Each clip needs at least ``2 * overlap``
    frames (``overlap`` for the last one) so its fade-in and fade-out do not meet.
    """

    def __init__(self, write: Callable[[np.ndarray], None], overlap: int) -> None:
        if overlap < 0:
            raise ValueError(f"overlap must be >= 0, got {overlap}")
        self._write = write
        self._overlap = overlap
        self._tail: deque[np.ndarray] = deque()  # frames held back to blend with the next clip

    def add_clip(self, frames: Iterable[np.ndarray]) -> None:
        fading_out = list(self._tail)
        self._tail.clear()
        count = 0
        for frame in frames:
            if count < len(fading_out):
                weight = (count + 1) / (len(fading_out) + 1)  # share of the incoming clip
                mixed = fading_out[count] * (1.0 - weight) + frame.astype(np.float32) * weight
                frame = np.rint(mixed).astype(np.uint8)
            count += 1
            self._tail.append(frame)
            if len(self._tail) > self._overlap:
                self._write(self._tail.popleft())
        if count < len(fading_out):
            raise ValueError(f"a clip of {count} frames is shorter than the {len(fading_out)}-frame crossfade")

    def finish(self) -> None:
        """Write the frames still held back from the last clip."""
        while self._tail:
            self._write(self._tail.popleft())

"""Stream RGB frames into an H.264 MP4 with PyAV."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import av.container
import numpy as np
from av.video.stream import VideoStream

# movflags belongs to the mp4 muxer; set on the stream it would be silently ignored.
FASTSTART = {"movflags": "+faststart"}
# What every clip and reel is encoded with; part of their content keys, so a change re-encodes them.
ENCODER_SETTINGS = {"codec": "libx264", "crf": 18, "preset": "medium", "pix_fmt": "yuv420p", **FASTSTART}


def add_video_stream(
    container: av.container.OutputContainer,
    *,
    fps: int,
    width: int,
    height: int,
    codec: str = ENCODER_SETTINGS["codec"],
    crf: int = ENCODER_SETTINGS["crf"],
    preset: str = ENCODER_SETTINGS["preset"],
    pix_fmt: str = ENCODER_SETTINGS["pix_fmt"],
) -> VideoStream:
    """Add an encoder stream whose time base counts frames (pts ``i`` is frame ``i``)."""
    _check_geometry(fps, width, height, pix_fmt)
    stream = container.add_stream(codec, rate=fps)
    stream.width = width
    stream.height = height
    stream.pix_fmt = pix_fmt
    stream.time_base = Fraction(1, fps)
    # x264 output is deterministic for identical input and settings by default.
    stream.options = {"crf": str(crf), "preset": preset}
    return stream


def encode_rgb(container: av.container.OutputContainer, stream: VideoStream, pixels: np.ndarray, *, pts: int) -> None:
    """Encode one (H, W, 3) RGB uint8 frame at ``pts`` and mux whatever packets come out."""
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
    frame.pts = pts
    container.mux(stream.encode(frame))


def _check_geometry(fps: int, width: int, height: int, pix_fmt: str) -> None:
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if width <= 0 or height <= 0:
        raise ValueError(f"frame size must be positive, got {width}x{height}")
    # 4:2:0 chroma halves both axes; libx264 otherwise fails with an opaque error.
    if width % 2 or height % 2:
        raise ValueError(f"width and height must be even for {pix_fmt}, got {width}x{height}")


class ClipWriter:
    """Context manager that encodes RGB uint8 frames into an MP4 file.

    Frame ``i`` gets pts ``i`` in a ``1/fps`` time base, so timestamps count frames.
    If the ``with`` body raises, the partial file is removed.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        fps: int,
        width: int,
        height: int,
        codec: str = ENCODER_SETTINGS["codec"],
        crf: int = ENCODER_SETTINGS["crf"],
        preset: str = ENCODER_SETTINGS["preset"],
        pix_fmt: str = ENCODER_SETTINGS["pix_fmt"],
        first_frame: np.ndarray | None = None,
    ) -> None:
        """`first_frame` (H, W, 3) replaces frame 0: a continuation starts exactly where the shot before ended."""
        _check_geometry(fps, width, height, pix_fmt)
        self.path = Path(path)
        self._first_frame = first_frame
        self.width = width
        self.height = height
        self._frames_written = 0
        self._closed = False
        # format is explicit because callers write to temp names without an .mp4 suffix.
        self._container = av.open(str(self.path), "w", format="mp4", container_options=FASTSTART)
        try:
            self._stream = add_video_stream(
                self._container, fps=fps, width=width, height=height,
                codec=codec, crf=crf, preset=preset, pix_fmt=pix_fmt,
            )  # fmt: skip
        except BaseException:  # an interrupt too: the container's file handle must not leak
            self._abort()
            raise

    @property
    def frames_written(self) -> int:
        """Number of frames handed to the encoder so far."""
        return self._frames_written

    def write(self, frames: np.ndarray) -> None:
        """Encode one frame (H, W, 3) or a batch (N, H, W, 3) of RGB uint8 pixels."""
        if self._closed:
            raise ValueError(f"ClipWriter for {self.path} is already closed")
        batch = np.asarray(frames)
        if batch.ndim == 3:
            batch = batch[np.newaxis]
        expected = (self.height, self.width, 3)
        if batch.ndim != 4 or batch.shape[1:] != expected:
            raise ValueError(
                f"expected frames shaped (H, W, 3) or (N, H, W, 3) with (H, W, 3) == {expected}, "
                f"got {batch.shape}"
            )
        if batch.dtype != np.uint8:
            raise ValueError(f"expected uint8 frames, got {batch.dtype}")
        for pixels in batch:
            if self._frames_written == 0 and self._first_frame is not None:
                pixels = self._first_frame
            encode_rgb(self._container, self._stream, pixels, pts=self._frames_written)
            self._frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalise the file; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._container.mux(self._stream.encode(None))
        finally:
            self._container.close()

    def _abort(self) -> None:
        """Close without flushing and remove the partial output."""
        self._closed = True
        try:
            self._container.close()
        except Exception:
            pass  # The file is being discarded; the original error matters more.
        self.path.unlink(missing_ok=True)

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self._abort()
            return
        try:
            self.close()
        except BaseException:
            # A failed (or interrupted) flush leaves an unplayable file; do not let it look finished.
            self.path.unlink(missing_ok=True)
            raise


def encode_frames(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    fps: int,
    width: int,
    height: int,
    **writer_options: Any,
) -> int:
    """Encode an iterable of frames (or frame batches) into ``path``; return the frame count."""
    with ClipWriter(path, fps=fps, width=width, height=height, **writer_options) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.frames_written

"""Stream RGB frames into an H.264 MP4 with PyAV."""

from __future__ import annotations

import os
from collections.abc import Iterable
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np

# movflags belongs to the mp4 muxer; set on the stream it would be silently ignored.
_FASTSTART = {"movflags": "+faststart"}


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
        codec: str = "libx264",
        crf: int = 18,
        preset: str = "medium",
        pix_fmt: str = "yuv420p",
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        if width <= 0 or height <= 0:
            raise ValueError(f"frame size must be positive, got {width}x{height}")
        # 4:2:0 chroma halves both axes; libx264 otherwise fails with an opaque error.
        if width % 2 or height % 2:
            raise ValueError(f"width and height must be even for {pix_fmt}, got {width}x{height}")
        self.path = Path(path)
        self.width = width
        self.height = height
        self._frames_written = 0
        self._closed = False
        # format is explicit because callers write to temp names without an .mp4 suffix.
        self._container = av.open(str(self.path), "w", format="mp4", container_options=_FASTSTART)
        try:
            self._stream = self._container.add_stream(codec, rate=fps)
            self._stream.width = width
            self._stream.height = height
            self._stream.pix_fmt = pix_fmt
            self._stream.time_base = Fraction(1, fps)
            # x264 output is deterministic for identical input and settings by default.
            self._stream.options = {"crf": str(crf), "preset": preset}
        except Exception:
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
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = self._frames_written
            self._container.mux(self._stream.encode(frame))
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
        except Exception:
            # A failed flush leaves an unplayable file; do not let it look finished.
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

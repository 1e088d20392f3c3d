"""Inspect and decode video files, trusting decoded frames over container metadata."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


class VideoDecodeError(ValueError):
    """A video file is missing, truncated, undecodable or empty."""

    def __init__(self, path: str | os.PathLike[str], reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot decode video {self.path}: {reason}")

    def __reduce__(self) -> tuple[type[VideoDecodeError], tuple[str, str]]:
        # Default exception pickling would call __init__ with the message alone.
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class VideoInfo:
    """Facts about a video file, with ``frames`` counted by decoding."""

    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str
    pix_fmt: str
    bytes: int


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Decode every frame of the first video stream and describe the file.

    Raises VideoDecodeError when the file is missing, truncated, undecodable or has no frames.
    """
    file = _existing_file(path)
    try:
        with av.open(str(file)) as container:
            if not container.streams.video:
                raise VideoDecodeError(file, "no video stream")
            stream = container.streams.video[0]
            decoded = sum(1 for _ in container.decode(stream))
            promised = stream.frames
            rate = stream.average_rate or stream.guessed_rate
            context = stream.codec_context
            codec, pix_fmt = context.name, context.pix_fmt or ""
            width, height = context.width, context.height
    except av.FFmpegError as exc:
        raise VideoDecodeError(file, str(exc)) from exc
    if decoded == 0:
        raise VideoDecodeError(file, "no decodable frames")
    # Header counts are not trusted for the total, but fewer decoded frames than the
    # index lists means the sample data was cut off.
    if promised and decoded < promised:
        raise VideoDecodeError(file, f"truncated: decoded {decoded} of {promised} frames")
    if not rate:
        raise VideoDecodeError(file, "unknown frame rate")
    fps = float(rate)
    return VideoInfo(
        frames=decoded,
        fps=fps,
        width=width,
        height=height,
        duration_s=decoded / fps,
        codec=codec,
        pix_fmt=pix_fmt,
        bytes=file.stat().st_size,
    )


@dataclass(frozen=True)
class StreamHeader:
    """What the container says about its first video stream, read without decoding."""

    frames: int
    fps: Fraction
    width: int
    height: int
    codec: str
    pix_fmt: str


def probe_header(path: str | os.PathLike[str]) -> StreamHeader:
    """Read the first video stream's header; count packets when it lists no frame total.

    Cheap planning data only: a truncated file can promise more frames than it decodes.
    """
    file = _existing_file(path)
    try:
        with av.open(str(file)) as container:
            if not container.streams.video:
                raise VideoDecodeError(file, "no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            context = stream.codec_context
            # Each H.264 packet in MP4 is one frame; the demuxer's final flush packet is empty.
            frames = stream.frames or sum(1 for packet in container.demux(stream) if packet.size)
            header = (frames, context.width, context.height, context.name, context.pix_fmt or "")
    except av.FFmpegError as exc:
        raise VideoDecodeError(file, str(exc)) from exc
    if not rate:
        raise VideoDecodeError(file, "unknown frame rate")
    frames, width, height, codec, pix_fmt = header
    return StreamHeader(frames, Fraction(rate), width, height, codec, pix_fmt)


def iter_frames(path: str | os.PathLike[str], *, every: int = 1) -> Iterator[np.ndarray]:
    """Yield every ``every``-th frame as an (H, W, 3) RGB uint8 array, decoding lazily."""
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    file = _existing_file(path)
    try:
        with av.open(str(file)) as container:
            if not container.streams.video:
                raise VideoDecodeError(file, "no video stream")
            for index, frame in enumerate(container.decode(container.streams.video[0])):
                if index % every == 0:
                    yield frame.to_ndarray(format="rgb24")
    except av.FFmpegError as exc:
        raise VideoDecodeError(file, str(exc)) from exc


def _existing_file(path: str | os.PathLike[str]) -> Path:
    """Return ``path`` as a Path, or raise VideoDecodeError if it is not a file."""
    file = Path(path)
    if not file.is_file():
        raise VideoDecodeError(file, "file does not exist")
    return file

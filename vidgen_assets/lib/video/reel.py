"""Join clips into one reel: lossless stream copy when possible, re-encode otherwise."""

from __future__ import annotations

import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.container
import numpy as np
from av.video.stream import VideoStream
from PIL import Image

from vidgen_assets.lib.video.encode import FASTSTART, ClipWriter
from vidgen_assets.lib.video.probe import VideoDecodeError, VideoInfo, iter_frames, probe_video

PathLike = str | os.PathLike[str]


def clips_share_encoding(clip_paths: Sequence[PathLike]) -> bool:
    """True when every clip's video stream can be stream-copied into one output stream."""
    if not clip_paths:
        raise ValueError("clips_share_encoding needs at least one clip")
    first, *rest = (_encoding_signature(path) for path in clip_paths)
    return all(signature == first for signature in rest)


def concat_clips(clip_paths: Sequence[PathLike], out_path: PathLike) -> VideoInfo:
    """Join clips in order into ``out_path`` (MP4) and return the probed result."""
    if not clip_paths:
        raise ValueError("concat_clips needs at least one clip")
    out = Path(out_path)
    try:
        if clips_share_encoding(clip_paths):
            _remux(clip_paths, out)
        else:
            _reencode(clip_paths, out)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return probe_video(out)


def _encoding_signature(path: PathLike) -> tuple[object, ...]:
    """Everything that must match for packets of two clips to share one stream."""
    if not Path(path).is_file():
        raise VideoDecodeError(path, "file does not exist")
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            stream = container.streams.video[0]
            context = stream.codec_context
            return (
                context.name,
                context.width,
                context.height,
                context.pix_fmt,
                stream.average_rate,
                stream.time_base,
                # SPS/PPS live here for H.264; different headers cannot share a stream.
                bytes(context.extradata or b""),
            )
    except av.FFmpegError as exc:
        raise VideoDecodeError(path, str(exc)) from exc


def _remux(clip_paths: Sequence[PathLike], out: Path) -> None:
    """Copy packets of all clips into one stream, shifting timestamps clip by clip."""
    with av.open(str(out), "w", format="mp4", container_options=FASTSTART) as output:
        out_stream = add_stream_like(output, clip_paths[0])
        offset = 0
        for path in clip_paths:
            offset = copy_clip_packets(output, out_stream, path, offset)


def add_stream_like(output: av.container.OutputContainer, template_path: PathLike) -> VideoStream:
    """Add an output stream that accepts the packets of ``template_path``'s video stream."""
    with av.open(str(template_path)) as container:
        return output.add_stream_from_template(container.streams.video[0])


def copy_clip_packets(
    output: av.container.OutputContainer, out_stream: VideoStream, path: PathLike, offset: int
) -> int:
    """Mux one clip's video packets, shifted by ``offset`` ticks; return the offset after it.

    Ticks are in the clip's own time base, which the clips of one stream copy share;
    mux() rescales them to the output's.
    """
    with av.open(str(path)) as container:
        in_stream = container.streams.video[0]
        default_ticks = _ticks_per_frame(in_stream)
        clip_end = 0
        for packet in container.demux(in_stream):
            # The demuxer ends with an empty flush packet that has no timestamps.
            if packet.dts is None or packet.pts is None:
                continue
            # Measure on pts, not dts: with B-frames dts starts below zero.
            clip_end = max(clip_end, packet.pts + (packet.duration or default_ticks))
            packet.pts += offset
            packet.dts += offset
            packet.stream = out_stream
            output.mux(packet)
    return offset + clip_end


def _ticks_per_frame(stream: VideoStream) -> int:
    """One frame's duration in the stream time base, for packets missing a duration."""
    rate = stream.average_rate or stream.guessed_rate
    if not rate or not stream.time_base:
        return 1
    return max(1, round(1 / (Fraction(rate) * stream.time_base)))


def _reencode(clip_paths: Sequence[PathLike], out: Path) -> None:
    """Decode every clip and encode one stream at the first clip's size and frame rate."""
    first = probe_video(clip_paths[0])
    # ClipWriter counts time in whole frames per second.
    fps = max(1, round(first.fps))
    with ClipWriter(out, fps=fps, width=first.width, height=first.height) as writer:
        for path in clip_paths:
            for frame in iter_frames(path):
                writer.write(_fit(frame, first.width, first.height))


def _fit(frame: np.ndarray, width: int, height: int) -> np.ndarray:
    """Resize ``frame`` to width x height unless it already has that size."""
    if frame.shape[:2] == (height, width):
        return frame
    resized = Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(resized)

"""Stream-copy helpers for compile_reel: compare clip encodings and copy packets between files."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import av.container
from av.video.stream import VideoStream

from vidgen_assets.lib.video.probe import VideoDecodeError

PathLike = str | os.PathLike[str]


def stream_signature(container: av.container.InputContainer, path: PathLike) -> tuple[object, ...]:
    """Everything about an open clip's first video stream that must match for packets to share one stream."""
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


def copy_clip_packets(
    output: av.container.OutputContainer, out_stream: VideoStream, clip: av.container.InputContainer, offset: int
) -> int:
    """Mux an open clip's video packets, shifted by ``offset`` ticks; return the offset after it.

    Ticks are in the clip's own time base, which the clips of one stream copy share;
    mux() rescales them to the output's.
    """
    in_stream = clip.streams.video[0]
    default_ticks = _ticks_per_frame(in_stream)
    clip_end = 0
    for packet in clip.demux(in_stream):
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

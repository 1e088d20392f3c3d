"""Reels with options: clip order, crossfades, burnt-in captions, a soundtrack, cuts on its beat, a target size.

Identically encoded clips with no pixel-changing option are stream-copied (lossless, fast);
anything else is decoded and re-encoded frame by frame, never holding the reel in memory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidgen_assets.lib.video.cut_plan import CutPlan
from vidgen_assets.lib.video.encode import FASTSTART, add_video_stream, encode_rgb
from vidgen_assets.lib.video.probe import StreamHeader, VideoInfo, iter_frames, probe_header, probe_video
from vidgen_assets.lib.video.reel import copy_clip_packets, stream_signature
from vidgen_assets.lib.video.reel_audio import AudioTrack
from vidgen_assets.lib.video.reel_frames import (
    CaptionBand, Crossfader, crossfade_frames, letterbox, retime, retimed_count, trim_or_hold,
)  # fmt: skip

ORDERS = ("prompt", "style", "subject")


@dataclass(frozen=True)
class ReelSettings:
    """How to compile a reel.

    ``order``: "prompt" (by prompt_id), "style" or "subject" (clips without one go last);
    ties break on prompt_id, then motion_bucket_id. ``width``/``height``/``fps`` default to
    the first clip's; clips at another rate are retimed (frames repeated or dropped) so they
    keep their real-time length. ``crossfade_s`` overlaps neighbouring clips by
    N = round(crossfade_s * fps) frames, so the reel has sum(frames) - N * (clips - 1)
    frames; N shrinks if a clip is too short to fade in and out. ``captions`` burns each
    clip's prompt into the bottom of its frames. ``audio_path``: any file PyAV decodes,
    added as AAC, cut or padded with silence to the video's length. ``reencode`` forces a
    re-encode even when a stream copy would do.
    """

    order: str = "prompt"
    crossfade_s: float = 0.0
    captions: bool = False
    audio_path: str | None = None
    width: int | None = None
    height: int | None = None
    fps: int | None = None
    reencode: bool = False

    def __post_init__(self) -> None:
        if self.order not in ORDERS:
            raise ValueError(f"order must be one of {ORDERS}, got {self.order!r}")
        if self.crossfade_s < 0:
            raise ValueError(f"crossfade_s must be >= 0, got {self.crossfade_s}")
        for name in ("width", "height", "fps"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")


@dataclass(frozen=True)
class ReelClip:
    """One clip of a reel and what it is ordered and captioned by."""

    path: str | os.PathLike[str]
    prompt_id: str
    prompt: str
    style: str | None = None
    subject: str | None = None
    motion_bucket_id: int = 0
    scene: str | None = None  # the shots of a scene play together, in scene_order
    scene_order: int | None = None


@dataclass(frozen=True)
class ReelResult:
    """The probed reel, whether it was stream-copied, its clip paths in order, the crossfade used."""

    info: VideoInfo
    stream_copy: bool
    order: list[str]
    crossfade_frames: int = 0


def order_clips(clips: Sequence[ReelClip], order: str = "prompt") -> list[ReelClip]:
    """Sort clips by the ``order`` field, then prompt_id, then motion_bucket_id; a scene's shots play one after
    another in scene_order, where the first of them falls in that sort."""
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")

    def key(clip: ReelClip) -> tuple[object, ...]:
        if order == "prompt":
            return (clip.prompt_id, clip.motion_bucket_id)
        value = getattr(clip, order)
        return (value is None, (value or "").casefold(), clip.prompt_id, clip.motion_bucket_id)

    def in_scene(clip: ReelClip) -> tuple[object, ...]:
        return (clip.scene_order is None, clip.scene_order or 0, clip.prompt_id, clip.motion_bucket_id)

    scenes: dict[str, list[ReelClip]] = {}
    for clip in clips:
        if clip.scene:
            scenes.setdefault(clip.scene, []).append(clip)
    ordered: list[ReelClip] = []
    for clip in sorted(clips, key=key):
        if not clip.scene:
            ordered.append(clip)
        elif clip.scene in scenes:  # the scene's first clip in this order: the whole scene plays here
            ordered += sorted(scenes.pop(clip.scene), key=in_scene)
    return ordered


def compile_reel(
    clips: Sequence[ReelClip],
    out_path: str | os.PathLike[str],
    settings: ReelSettings = ReelSettings(),
    cut_plan: CutPlan | None = None,
) -> ReelResult:
    """Write the clips as one H.264 yuv420p MP4 (faststart) at ``out_path``.

    ``cut_plan`` (clips in the reel's order, made at its frame rate and crossfade) trims or holds each
    clip's tail so the cuts fall on the beat; a plan that moves no cut leaves a stream copy possible.
    """
    if not clips:
        raise ValueError("compile_reel needs at least one clip")
    ordered = order_clips(clips, settings.order)
    paths = [clip.path for clip in ordered]
    order = [str(path) for path in paths]
    first = probe_header(paths[0])
    out = Path(out_path)
    if cut_plan is not None and len(cut_plan.deltas) != len(ordered):
        raise ValueError(f"the cut plan is for {len(cut_plan.deltas)} clips, the reel has {len(ordered)}")
    moves_cuts = cut_plan is not None and cut_plan.changes_frames
    if not moves_cuts and _may_stream_copy(first, settings):
        try:
            _write_copy(out, paths, settings.audio_path)
            return ReelResult(_copied_info(out), True, order)
        except _MixedEncodings:
            pass  # _write_copy removed its partial output; re-encode instead
    width, height = settings.width or first.width, settings.height or first.height
    fps = settings.fps or max(1, round(first.fps))
    headers = [first] + [probe_header(path) for path in paths[1:]]
    lengths = [retimed_count(header.frames, header.fps, Fraction(fps)) for header in headers]
    overlap = crossfade_frames(lengths, settings.crossfade_s, fps)
    if moves_cuts and (cut_plan.fps, cut_plan.crossfade_frames) != (fps, overlap):
        raise ValueError(f"the cut plan was made for {cut_plan.fps} fps and a {cut_plan.crossfade_frames}-frame "
                         f"crossfade, the reel has {fps} fps and a {overlap}-frame one")  # fmt: skip
    deltas = cut_plan.deltas if moves_cuts else (0,) * len(ordered)
    try:
        with av.open(str(out), "w", format="mp4", container_options=FASTSTART) as output:
            _write_encoded(output, ordered, headers, deltas, settings, (width, height, fps), overlap)
    except BaseException:
        out.unlink(missing_ok=True)
        raise
    return ReelResult(probe_video(out), False, order, overlap)


class _MixedEncodings(Exception):
    """A clip's encoding differs from the first clip's, so packets cannot be copied."""


def _may_stream_copy(first: StreamHeader, settings: ReelSettings) -> bool:
    """Copy only when no option changes pixels or timing and the output stays H.264 yuv420p."""
    wants_new_pixels = settings.reencode or settings.crossfade_s > 0 or settings.captions
    size_changes = settings.width not in (None, first.width) or settings.height not in (None, first.height)
    rate_changes = settings.fps is not None and Fraction(settings.fps) != first.fps
    if wants_new_pixels or size_changes or rate_changes:
        return False
    return (first.codec, first.pix_fmt) == ("h264", "yuv420p")


def _write_copy(out: Path, paths: Sequence[str | os.PathLike[str]], audio_path: str | None) -> None:
    """Copy every clip's packets into ``out``, opening each clip once; raise _MixedEncodings on a mismatch."""
    try:
        with av.open(str(out), "w", format="mp4", container_options=FASTSTART) as output:
            with av.open(str(paths[0])) as container:
                expected = stream_signature(container, paths[0])
                # Clips of one stream copy share this time base, so offsets convert to seconds with it.
                time_base = Fraction(container.streams.video[0].time_base)
                video = output.add_stream_from_template(container.streams.video[0])
            audio = AudioTrack(output, audio_path) if audio_path else None
            offset = 0
            for path in paths:
                with av.open(str(path)) as container:
                    if stream_signature(container, path) != expected:
                        raise _MixedEncodings(str(path))
                    offset = copy_clip_packets(output, video, container, offset)
                if audio:
                    audio.write_until(float(offset * time_base))
            if audio:
                audio.finish(float(offset * time_base))
    except BaseException:
        out.unlink(missing_ok=True)
        raise


def _copied_info(out: Path) -> VideoInfo:
    """Describe a stream-copied reel from its index: its packets are the clips' own, not re-decoded."""
    header = probe_header(out)
    return VideoInfo(
        frames=header.frames,
        fps=float(header.fps),
        width=header.width,
        height=header.height,
        duration_s=header.frames / float(header.fps),
        codec=header.codec,
        pix_fmt=header.pix_fmt,
        bytes=out.stat().st_size,
    )


def _write_encoded(
    output: av.container.OutputContainer,
    clips: Sequence[ReelClip],
    headers: Sequence[StreamHeader],
    deltas: Sequence[int],
    settings: ReelSettings,
    geometry: tuple[int, int, int],
    overlap: int,
) -> None:
    width, height, fps = geometry
    stream = add_video_stream(output, fps=fps, width=width, height=height)
    audio = AudioTrack(output, settings.audio_path) if settings.audio_path else None
    written = 0

    def write(frame: np.ndarray) -> None:
        nonlocal written
        encode_rgb(output, stream, frame, pts=written)
        written += 1

    fader = Crossfader(write, overlap)
    for clip, header, delta in zip(clips, headers, deltas):
        retimed = trim_or_hold(retime(iter_frames(clip.path), header.fps, Fraction(fps)), delta)
        frames = (letterbox(frame, width, height) for frame in retimed)
        if settings.captions:
            band = CaptionBand(clip.prompt, width, height)
            frames = (band.apply(frame) for frame in frames)
        fader.add_clip(frames)
        if audio:
            audio.write_until(written / fps)
    fader.finish()
    output.mux(stream.encode(None))
    if audio:
        audio.finish(written / fps)

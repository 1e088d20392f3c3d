"""Video helpers: encode frames to MP4, probe and check clips, build reels and previews."""

from __future__ import annotations

from vidgen_assets.lib.video.compose import ReelClip, ReelResult, ReelSettings, compile_reel, order_clips
from vidgen_assets.lib.video.contact_sheet import contact_sheet
from vidgen_assets.lib.video.encode import ClipWriter, encode_frames
from vidgen_assets.lib.video.ffprobe import FfprobeUnavailableError, ffprobe_info, second_opinion, second_opinion_tool
from vidgen_assets.lib.video.preview import (
    animated_poster,
    clips_poster_md,
    data_uri_markdown,
    keyframes_preview_md,
    png_grid_b64,
)
from vidgen_assets.lib.video.probe import VideoDecodeError, VideoInfo, iter_frames, probe_header, probe_video
from vidgen_assets.lib.video.quality import ClipQuality, QualityThresholds, check_clip

__all__ = [
    "ClipQuality",
    "ClipWriter",
    "FfprobeUnavailableError",
    "QualityThresholds",
    "ReelClip",
    "ReelResult",
    "ReelSettings",
    "VideoDecodeError",
    "VideoInfo",
    "animated_poster",
    "check_clip",
    "clips_poster_md",
    "compile_reel",
    "contact_sheet",
    "data_uri_markdown",
    "encode_frames",
    "ffprobe_info",
    "second_opinion",
    "second_opinion_tool",
    "iter_frames",
    "keyframes_preview_md",
    "order_clips",
    "png_grid_b64",
    "probe_header",
    "probe_video",
]

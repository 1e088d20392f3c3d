"""Video helpers: encode frames to MP4, probe and decode clips, build reels and previews."""

from __future__ import annotations

from vidgen_assets.lib.video.contact_sheet import contact_sheet, thumbnail_png_b64
from vidgen_assets.lib.video.encode import ClipWriter, encode_frames
from vidgen_assets.lib.video.probe import VideoDecodeError, VideoInfo, iter_frames, probe_video
from vidgen_assets.lib.video.reel import clips_share_encoding, concat_clips

__all__ = [
    "ClipWriter",
    "VideoDecodeError",
    "VideoInfo",
    "clips_share_encoding",
    "concat_clips",
    "contact_sheet",
    "encode_frames",
    "iter_frames",
    "probe_video",
    "thumbnail_png_b64",
]

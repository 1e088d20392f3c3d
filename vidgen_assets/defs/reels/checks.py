"""Checks on the day's reel, read by a decoder other than the one that wrote it."""

import dagster as dg

from vidgen_assets.defs.partitions import checked_output
from vidgen_assets.defs.reels.assets import reel
from vidgen_assets.defs.resources import MediaResource
from vidgen_assets.lib.video import ffprobe_info, probe_video


@dg.asset_check(
    asset=reel,
    description="ffprobe reads the reel, and its duration is the sum of the included clips' (less crossfades) within one frame.",
)
def reel_plays_and_adds_up(context: dg.AssetCheckExecutionContext, media: MediaResource) -> dg.AssetCheckResult:
    # The reel's output names its clips with their frame counts; nothing else is read.
    manifest = checked_output(context, "reel")
    with media.open().local_path(manifest["media_key"]) as path:
        probed = ffprobe_info(path)
        ours = probe_video(path)
    fps = ours.fps
    expected_s = sum(clip["num_frames"] / clip["fps"] for clip in manifest["clips"])
    expected_s -= manifest["crossfade_frames"] * (len(manifest["clips"]) - 1) / fps
    within_a_frame = abs(probed["duration_s"] - expected_s) <= 1 / fps + 1e-6
    agree = (probed["frames"], probed["width"], probed["height"]) == (ours.frames, ours.width, ours.height)
    return dg.AssetCheckResult(
        passed=within_a_frame and agree and probed["codec"] == "h264",
        metadata={
            "ffprobe_frames": probed["frames"], "pyav_frames": ours.frames,
            "ffprobe_duration_s": round(probed["duration_s"], 4), "expected_duration_s": round(expected_s, 4),
            "codec": str(probed["codec"]),
        },  # fmt: skip
    )

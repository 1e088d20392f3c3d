"""Checks on the day's reel, read by a decoder other than the one that wrote it."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.partitions import manifest_key
from vidgen_assets.defs.reels.assets import reel
from vidgen_assets.defs.resources import MediaResource
from vidgen_assets.lib.video import probe_video, second_opinion


@dg.asset_check(
    asset=reel,
    description="An FFmpeg tool (system ffprobe, else imageio-ffmpeg's ffmpeg) decodes the reel, and its duration is "
    "the sum of the included clips' (less crossfades) within one frame.",
)
def reel_plays_and_adds_up(context: dg.AssetCheckExecutionContext, media: MediaResource) -> dg.AssetCheckResult:
    day = date.fromisoformat(context.run.tags["dagster/partition"])
    store = media.open()
    manifest = store.get_json(manifest_key("reel", day))
    params = {c["key"]: c["params"] for c in store.get_json(manifest_key("videos", day))["items"]}
    with store.local_path(manifest["media_key"]) as path:
        probed = second_opinion(path)
        ours = probe_video(path)
    fps = ours.fps
    expected_s = sum(params[k]["num_frames"] / params[k]["fps"] for k in manifest["clips"])
    expected_s -= manifest["crossfade_frames"] * (len(manifest["clips"]) - 1) / fps
    within_a_frame = abs(probed["duration_s"] - expected_s) <= 1 / fps + 1e-6
    agree = (probed["frames"], probed["width"], probed["height"]) == (ours.frames, ours.width, ours.height)
    return dg.AssetCheckResult(
        passed=within_a_frame and agree and probed["codec"] == "h264",
        metadata={
            "decoder": str(probed["tool"]), "decoder_frames": probed["frames"], "pyav_frames": ours.frames,
            "decoder_duration_s": round(probed["duration_s"], 4), "expected_duration_s": round(expected_s, 4),
            "codec": str(probed["codec"]),
        },  # fmt: skip
    )

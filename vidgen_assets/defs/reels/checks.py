"""Checks on the day's reel: read by a decoder other than the one that wrote it, and on time."""

import os
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from vidgen_assets.defs.partitions import checked_output
from vidgen_assets.defs.reels.assets import reel
from vidgen_assets.defs.resources import MediaResource
from vidgen_assets.lib.video import probe_video, second_opinion


@dg.asset_check(
    asset=reel,
    description="An FFmpeg tool (system ffprobe, else imageio-ffmpeg's ffmpeg) decodes the reel, and its duration is "
    "the sum of the included clips' (less crossfades) within one frame.",
)
def reel_plays_and_adds_up(context: dg.AssetCheckExecutionContext, media: MediaResource) -> dg.AssetCheckResult:
    # The reel's output names its clips with their frame counts; nothing else is read.
    manifest = checked_output(context, "reel")
    if manifest.get("withdrawn"):
        return dg.AssetCheckResult(passed=True, description=f"no reel to decode: {manifest['withdrawn']}",
                                   metadata={"withdrawn": manifest["withdrawn"]})  # fmt: skip
    with media.open().local_path(manifest["media_key"]) as path:
        probed = second_opinion(path)
        ours = probe_video(path)
    fps = ours.fps
    expected_s = sum(clip["num_frames"] / clip["fps"] for clip in manifest["clips"])
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


REEL_DUE_HOUR = int(os.getenv("VIDGEN_REEL_DUE_HOUR", "6"))
# Read by Dagster's freshness-check sensor: until then a passing check cannot turn overdue.
FRESH_UNTIL_KEY = "dagster/fresh_until_timestamp"


def reel_freshness(instance: dg.DagsterInstance, now: datetime, due_hour: int = REEL_DUE_HOUR) -> dg.AssetCheckResult:
    """Passes when the previous day's reel exists, once that day's deadline (`due_hour` UTC the next day) has passed.

    Before today's deadline the expected reel is the one of the day before yesterday, as the last deadline set it.
    """
    day, deadline = expected_reel_day(now, due_hour)
    found = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=reel.key, asset_partitions=[day.isoformat()]), limit=1
    ).records
    metadata = {"expected_partition": day.isoformat(), "deadline": dg.MetadataValue.timestamp(deadline)}
    if found:
        metadata[FRESH_UNTIL_KEY] = dg.MetadataValue.timestamp(deadline + timedelta(days=1))
        metadata["materialized_at"] = dg.MetadataValue.timestamp(found[0].timestamp)
    else:
        metadata["overdue_s"] = round((now - deadline).total_seconds())
    return dg.AssetCheckResult(
        passed=bool(found),
        severity=dg.AssetCheckSeverity.WARN,
        description=f"the reel of {day} {'exists' if found else 'is late'} (due {deadline:%Y-%m-%d %H:%M} UTC)",
        metadata=metadata,
    )


def expected_reel_day(now: datetime, due_hour: int) -> tuple[date, datetime]:
    """The day whose reel must exist at `now`, and the deadline that made it due."""
    deadline = now.astimezone(timezone.utc).replace(hour=due_hour, minute=0, second=0, microsecond=0)
    if deadline > now:
        deadline -= timedelta(days=1)
    return deadline.date() - timedelta(days=1), deadline


@dg.asset_check(
    asset=reel,
    description="Freshness target: the previous day's reel exists by VIDGEN_REEL_DUE_HOUR (default 06:00) UTC; "
    "WARN when late. Evaluated by every daily run and by `reel_freshness_sensor`.",
)
def reel_due_by_deadline(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return reel_freshness(context.instance, datetime.now(timezone.utc))

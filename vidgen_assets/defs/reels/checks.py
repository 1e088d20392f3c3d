"""Checks on the day's reel: read by a decoder other than the one that wrote it, and on time."""

import os
from datetime import date, datetime, time, timedelta, timezone

import dagster as dg

from vidgen_assets.defs.partitions import checked_output, daily_check
from vidgen_assets.defs.reels.assets import reel
from vidgen_assets.defs.resources import MediaResource
from vidgen_assets.lib.video import probe_video, second_opinion
from vidgen_assets.lib.video.reel_audio import audio_stream_info


@daily_check(
    asset=reel,
    description="An FFmpeg tool (system ffprobe, else imageio-ffmpeg's ffmpeg) decodes the reel, and its duration is "
    "the sum of the included clips' (less crossfades, plus the frames a cut plan held or trimmed) within one frame; "
    "a soundtrack, when the reel has one, lasts as long as the video within one frame.",
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
        audio = audio_stream_info(path)
    fps = ours.fps
    expected_s = sum(clip["num_frames"] / clip["fps"] for clip in manifest["clips"])
    expected_s -= manifest["crossfade_frames"] * (len(manifest["clips"]) - 1) / fps
    expected_s += sum((manifest.get("cut_plan") or {}).get("deltas", [])) / fps  # held (+) or trimmed (-) frames
    within_a_frame = abs(probed["duration_s"] - expected_s) <= 1 / fps + 1e-6
    agree = (probed["frames"], probed["width"], probed["height"]) == (ours.frames, ours.width, ours.height)
    video_s = ours.frames / fps
    # The soundtrack is cut or padded to the video; AAC's last packet may run on by part of a 1024-sample frame.
    audio_fits = audio is None or abs(audio["duration_s"] - video_s) <= 1 / fps + 1e-6
    sound = "no audio" if audio is None else f"{audio['codec']} audio {audio['duration_s']:.2f} s against {video_s:.2f} s of video"
    return dg.AssetCheckResult(
        passed=within_a_frame and agree and probed["codec"] == "h264" and audio_fits,
        description=f"{context.partition_key}: {probed['tool']} reads {probed['frames']} frames, "
        f"{probed['duration_s']:.2f} s against {expected_s:.2f} s expected; {sound}",
        metadata={
            "partition": context.partition_key, "decoder": str(probed["tool"]), "decoder_frames": probed["frames"], "pyav_frames": ours.frames,
            "decoder_duration_s": round(probed["duration_s"], 4), "expected_duration_s": round(expected_s, 4),
            "codec": str(probed["codec"]), "audio_codec": str(audio["codec"]) if audio else "none",
            "audio_duration_s": round(audio["duration_s"], 4) if audio else 0.0, "video_duration_s": round(video_s, 4),
            "audio_within_a_frame": audio_fits,
        },  # fmt: skip
    )


REEL_DUE_HOUR = int(os.getenv("VIDGEN_REEL_DUE_HOUR", "6"))


def reel_deadline(day: date, due_hour: int = REEL_DUE_HOUR) -> datetime:
    """When the reel of `day` is due: `due_hour` UTC the next day."""
    return datetime.combine(day + timedelta(days=1), time(due_hour), tzinfo=timezone.utc)


def reel_freshness(instance: dg.DagsterInstance, day: date, now: datetime, due_hour: int = REEL_DUE_HOUR) -> dg.AssetCheckResult:
    """Whether the reel of `day` was *made* by its deadline: its first materialization's time, not
    whether it exists now. A reel made late stays a (WARN) failure for that day; one not made yet is a
    failure once the deadline has passed.
    """
    deadline = reel_deadline(day, due_hour)
    first = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=reel.key, asset_partitions=[day.isoformat()]), limit=1, ascending=True
    ).records
    metadata = {"partition": day.isoformat(), "deadline": dg.MetadataValue.timestamp(deadline)}
    due = f"due {deadline:%Y-%m-%d %H:%M} UTC"
    if first:
        made = datetime.fromtimestamp(first[0].timestamp, timezone.utc)
        late_s = round((made - deadline).total_seconds())
        metadata |= {"made_at": dg.MetadataValue.timestamp(made), "late_s": max(0, late_s)}
        passed = late_s <= 0
        verdict = "on time" if passed else f"{late_s / 3600:.1f} h late"
        description = f"{day}: reel made {made:%Y-%m-%d %H:%M} UTC, {verdict} ({due})"
    else:
        passed = now <= deadline
        metadata["overdue_s"] = max(0, round((now - deadline).total_seconds()))
        description = f"{day}: no reel yet, " + ("not late yet" if passed else f"{metadata['overdue_s'] / 3600:.1f} h overdue") + f" ({due})"
    return dg.AssetCheckResult(
        passed=passed, severity=dg.AssetCheckSeverity.WARN, description=description, metadata=metadata
    )


def expected_reel_day(now: datetime, due_hour: int) -> tuple[date, datetime]:
    """The latest day whose deadline has passed at `now`, and that deadline."""
    deadline = now.astimezone(timezone.utc).replace(hour=due_hour, minute=0, second=0, microsecond=0)
    if deadline > now:
        deadline -= timedelta(days=1)
    return deadline.date() - timedelta(days=1), deadline


@daily_check(
    asset=reel,
    description="Deadline: the day's reel was made (first materialized) by VIDGEN_REEL_DUE_HOUR (default 06:00) UTC "
    "the next day; WARN when made late or still missing. Evaluated with each reel, and by `reel_freshness_sensor` "
    "for a day whose deadline passed without one.",
)
def reel_due_by_deadline(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    return reel_freshness(context.instance, date.fromisoformat(context.partition_key), datetime.now(timezone.utc))

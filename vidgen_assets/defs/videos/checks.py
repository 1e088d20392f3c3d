"""Quality of the day's clips: bad ones are left out of the reel; too many stop it."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.partitions import manifest_key
from vidgen_assets.defs.resources import MediaResource, ReelResource
from vidgen_assets.defs.videos.assets import videos
from vidgen_assets.lib.video.quality import check_day_clips


@dg.asset_check(
    asset=videos,
    blocking=True,
    description="Every clip decodes fully, has the frames, fps and size its row asked for, and is neither blank "
    "nor frozen. Failing clips are left out of the reel; above the allowed share the reel does not run.",
)
def videos_quality(
    context: dg.AssetCheckExecutionContext, media: MediaResource, reel_settings: ReelResource
) -> dg.AssetCheckResult:
    # Asset checks of a partitioned asset run once per run, so read the run's partition.
    day = date.fromisoformat(context.run.tags["dagster/partition"])
    store = media.open()
    items = store.get_json(manifest_key("videos", day))["items"]
    report = check_day_clips(items, store)
    # The reel reads this to leave failing clips out without decoding them again.
    store.put_json(manifest_key("quality", day), {"clips": report})
    failing = {key: found["problems"] for key, found in report.items() if not found["passed"]}
    share = len(failing) / len(report) if report else 0.0
    return dg.AssetCheckResult(
        passed=share <= reel_settings.max_failed_clip_share,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "clips": len(report),
            "failing": len(failing),
            "failing_share": round(share, 3),
            "allowed_share": reel_settings.max_failed_clip_share,
            "failing_clips": dg.MetadataValue.md(
                "\n".join(f"- `{key}`: {problems}" for key, problems in failing.items()) or "none"
            ),
        },
    )

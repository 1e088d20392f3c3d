"""Quality of the day's clips: bad ones are left out of the reel; too many stop it."""

import dagster as dg

from vidgen_assets.defs.partitions import checked_output, daily_check
from vidgen_assets.defs.resources import ReelResource
from vidgen_assets.defs.videos.assets import videos
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.generation.providers.summary import failing_share


@daily_check(
    asset=videos,
    blocking=True,
    description="Every clip decodes fully, has the frames, fps and size its row asked for, and is neither blank "
    "nor frozen. Failing clips are left out of the reel; above the allowed share the reel does not run. Clips a "
    "provider refused (moderation, invalid input, budget) are left out too, but counted apart, not in the share.",
)
def videos_quality(context: dg.AssetCheckExecutionContext, reel_settings: ReelResource) -> dg.AssetCheckResult:
    # The report `collect_clips` made for exactly these clips, part of the `videos` output.
    report = checked_output(context, "videos")["quality"]
    failing = {key: found["problems"] for key, found in report.items() if not found["passed"] and not found.get("refused")}
    refused = {key: found["problems"] for key, found in report.items() if found.get("refused")}
    _, _, share = failing_share(report)
    day = context.partition_key
    return dg.AssetCheckResult(
        passed=share <= reel_settings.max_failed_clip_share,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(f"{day}: {len(failing)} of {len(report) - len(refused)} clips fail (at most "
                     f"{reel_settings.max_failed_clip_share:.0%} may)" + (f"; {len(refused)} refused" if refused else "")),
        metadata={
            "partition": day,
            "clips": len(report),
            "failing": len(failing),
            "refused": len(refused),
            "failing_share": round(share, 3),  # among the clips not refused
            "allowed_share": reel_settings.max_failed_clip_share,
            # The first few; the `videos` manifest's quality report lists every clip.
            "failing_clips": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- `{key}`: {problems}" for key, problems in failing.items()),
                rest="- …and {count} more (all in the videos manifest's quality report)",
            )) or "none"),
            "refused_clips": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- `{key}`: {problems}" for key, problems in refused.items()),
                rest="- …and {count} more (all in the videos manifest's quality report)",
            )) or "none"),
        },
    )

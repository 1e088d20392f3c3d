"""Quality of the day's clips: bad ones are left out of the reel; too many stop it."""

import dagster as dg

from vidgen_assets.defs.partitions import checked_output, daily_check
from vidgen_assets.defs.resources import ReelResource
from vidgen_assets.defs.videos.assets import videos
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.generation.providers.summary import failing_share
from vidgen_assets.lib.video.metrics import CLIP_SCORE, CLIP_SCORE_UNAVAILABLE, median_metrics


@daily_check(
    asset=videos,
    blocking=True,
    description="Every clip decodes fully, has the frames, fps and size its row asked for, and is neither blank "
    "nor frozen. Failing clips are left out of the reel; above the allowed share the reel does not run. Clips a "
    "provider refused (moderation, invalid input, budget) are left out too, but counted apart, not in the share. "
    "A continuation made here must start on the frame its previous shot ended on.",
)
def videos_quality(context: dg.AssetCheckExecutionContext, reel_settings: ReelResource) -> dg.AssetCheckResult:
    # The report `collect_clips` made for exactly these clips, part of the `videos` output.
    report = checked_output(context, "videos")["quality"]
    failing = {key: found["problems"] for key, found in report.items() if not found["passed"] and not found.get("refused")}
    refused = {key: found["problems"] for key, found in report.items() if found.get("refused")}
    _, _, share = failing_share(report)
    joins = {key: found["continuity"] for key, found in report.items() if found.get("continuity")}
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
            # Continuations: how far each starts from where its previous shot ended (levels, 0-255); end
            # keyframes: how close a first-and-last-frame shot came to its end.
            "continuity": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- `{key}`: {_join_line(join)}" for key, join in joins.items()),
                rest="- …and {count} more (all in the videos manifest's quality report)",
            )) or "no continuations or end keyframes"),
            # Medians over the day's clips; per model in render_stats, per clip in lineage and the manifest.
            "clip_metrics": dg.MetadataValue.md(_metrics_lines(report)),
            "refused_clips": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- `{key}`: {problems}" for key, problems in refused.items()),
                rest="- …and {count} more (all in the videos manifest's quality report)",
            )) or "none"),
        },
    )


def _metrics_lines(report: dict) -> str:
    medians = median_metrics(report.values())
    lines = [f"- {name}: {'-' if value is None else f'{value:.4g}'}" for name, value in medians.items()]
    if CLIP_SCORE not in medians:
        lines.append(f"- {CLIP_SCORE}: {CLIP_SCORE_UNAVAILABLE}")
    return "\n".join(lines)


def _join_line(join: dict) -> str:
    parts = []
    if "start_jump" in join:
        limit = f" (at most {join['max_start_jump']:g})" if join.get("max_start_jump") is not None else " (hosted: reported)"
        parts.append(f"continues {join['continues']}, starts {join['start_jump']:.1f} levels from its last frame{limit}")
    if "end_distance" in join:
        parts.append(f"ends {join['end_distance']:.1f} levels from its end keyframe")
    return "; ".join(parts)

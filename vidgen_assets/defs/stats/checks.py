"""Targets on the day's statistics."""

import os
from datetime import date, timedelta

import dagster as dg

from vidgen_assets.defs.partitions import daily_check
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.defs.stats.assets import render_stats
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.stats.drift import DriftSettingError, DriftSettings, find_drift
from vidgen_assets.lib.warehouse.render_stats import read_stats


def max_queue_minutes() -> float:
    return float(os.getenv("VIDGEN_MAX_QUEUE_MINUTES", "15"))


@daily_check(
    asset=render_stats,
    description="The day's queue wait p95 (run queued + GPU steps waiting for a slot) is at most "
    "VIDGEN_MAX_QUEUE_MINUTES (default 15); WARN above.",
)
def queue_wait_within_target(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    day = date.fromisoformat(context.partition_key)
    stats = read_stats(warehouse.open(), day, day)
    limit_s = max_queue_minutes() * 60
    p95_s = float(stats["queue_wait_p95_s"].max()) if len(stats) else 0.0
    return dg.AssetCheckResult(
        passed=p95_s <= limit_s,
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{day}: queue wait p95 {p95_s / 60:.1f} min against a target of {limit_s / 60:.0f} min",
        metadata={"partition": day.isoformat(), "queue_wait_p95_s": round(p95_s, 3), "target_s": limit_s, "models": len(stats)},
    )


@daily_check(
    asset=render_stats,
    description="Each clip model's median of each clip metric (motion, flicker, sharpness, exposure, colour, joins) "
    "stays within VIDGEN_DRIFT_<METRIC> (relative, e.g. 0.5 = ±50 %) of its median over the trailing "
    "VIDGEN_DRIFT_DAYS (default 14) days; WARN naming the metric, the model and both values. Needs "
    "VIDGEN_DRIFT_MIN_DAYS (default 3) trailing days before it judges.",
)
def clip_metrics_drift(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    day = date.fromisoformat(context.partition_key)
    try:
        settings = DriftSettings.from_env()
    except DriftSettingError as error:
        return dg.AssetCheckResult(passed=False, severity=dg.AssetCheckSeverity.WARN, description=f"cannot judge drift: {error}")
    report = find_drift(read_stats(warehouse.open(), day - timedelta(days=settings.days), day), day, settings)
    drifts = report.drifts
    if drifts:
        description = f"{day}: " + "; ".join(drift.describe() for drift in drifts)
    elif report.judged:
        description = f"{day}: {len(report.judged)} model metrics within their thresholds"
    else:
        description = f"{day}: no judgement yet: " + ("; ".join(report.not_judged[:3]) or "no clip metrics recorded")
    return dg.AssetCheckResult(
        passed=not drifts,
        severity=dg.AssetCheckSeverity.WARN,
        description=description,
        metadata={
            "partition": day.isoformat(),
            "drifted": len(drifts),
            "judged": len(report.judged),
            "trailing_days": settings.days,
            "drifts": dg.MetadataValue.md("\n".join(f"- {drift.describe()}" for drift in drifts) or "none"),
            "compared": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- {drift.describe()}" for drift in report.judged), rest="- …and {count} more",
            )) or "none"),  # fmt: skip
            # Too few trailing days to judge: said here, not warned about.
            "not_judged": dg.MetadataValue.md("\n".join(shown_lines(
                (f"- {reason}" for reason in report.not_judged), rest="- …and {count} more",
            )) or "none"),  # fmt: skip
        },
    )

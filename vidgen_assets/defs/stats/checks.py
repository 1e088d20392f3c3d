"""Targets on the day's statistics."""

import os
from datetime import date

import dagster as dg

from vidgen_assets.defs.partitions import daily_check
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.defs.stats.assets import render_stats
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

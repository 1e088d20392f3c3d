"""The daily job over the whole chain and the schedule that runs it for the previous day."""

import os
from datetime import timedelta

import dagster as dg

from vidgen_assets.defs.partitions import FIRST_DAY, daily_partitions
from vidgen_assets.defs.resources import WarehouseResource

daily_reel_job = dg.define_asset_job(
    "daily_reel_job",
    selection=dg.AssetSelection.assets(
        "theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats"
    ),
    partitions_def=daily_partitions,
    description="Render one day: themes → prompts → keyframes → videos → soundtrack → reel, then its render statistics.",
)

SCHEDULE_HOUR = int(os.getenv("VIDGEN_SCHEDULE_HOUR", "1"))
# A whole cron expression (e.g. "30 2 * * 1-5") overrides the hour; each tick still renders the day before it.
SCHEDULE_CRON = os.getenv("VIDGEN_SCHEDULE_CRON") or f"0 {SCHEDULE_HOUR} * * *"
SCHEDULE_TIMEZONE = os.getenv("VIDGEN_SCHEDULE_TIMEZONE", "UTC")


@dg.schedule(
    name="daily_reel_schedule",
    job=daily_reel_job,
    cron_schedule=SCHEDULE_CRON,
    execution_timezone=SCHEDULE_TIMEZONE,
    description=(
        "Renders the previous, complete day with daily_reel_job (default 01:00 UTC; VIDGEN_SCHEDULE_HOUR, _CRON, "
        f"_TIMEZONE); skips days without prompts. Partition set: daily_reel_job_partition_set (one partition a day, "
        f"UTC, {FIRST_DAY} to today; VIDGEN_FIRST_DAY). Off by default: turn it on with the toggle on Automation → "
        "daily_reel_schedule, or `dagster schedule start daily_reel_schedule`."
    ),
    # Dagster 1.13 shows no partition set for a schedule: the description and metadata name it.
    metadata={"partition_set": "daily_reel_job_partition_set", "first_partition": FIRST_DAY},
)
def daily_reel_schedule(context: dg.ScheduleEvaluationContext, warehouse: WarehouseResource):
    day = context.scheduled_execution_time.date() - timedelta(days=1)
    # An empty day is nothing to render, not a run that fails for want of clips.
    if not warehouse.open().day_count(day):
        return dg.SkipReason(f"no prompts scheduled for {day.isoformat()}")
    return dg.RunRequest(run_key=f"schedule-{day.isoformat()}", partition_key=day.isoformat())

"""Flags a day whose reel deadline passed without a reel, so a late day shows without anyone looking."""

from datetime import date, datetime, timezone

import dagster as dg

from vidgen_assets.defs.partitions import FIRST_DAY
from vidgen_assets.defs.reels.checks import REEL_DUE_HOUR, expected_reel_day, reel_due_by_deadline


@dg.sensor(
    name="reel_freshness_sensor",
    asset_selection=dg.AssetSelection.checks(reel_due_by_deadline),
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Every 10 minutes: once a day's reel deadline (VIDGEN_REEL_DUE_HOUR, default 06:00 UTC the next day) has "
        "passed without a reel, runs reel_due_by_deadline for that day once, so the checks tab shows it overdue. "
        "On by default (it only runs the check); stop it with the toggle on Automation → reel_freshness_sensor."
    ),
)
def reel_freshness_sensor(context: dg.SensorEvaluationContext):
    day, deadline = expected_reel_day(datetime.now(timezone.utc), REEL_DUE_HOUR)
    if day < date.fromisoformat(FIRST_DAY):
        return dg.SkipReason(f"{day} is before the first partition {FIRST_DAY}")
    made = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("reel"), asset_partitions=[day.isoformat()]), limit=1
    ).records
    if made:  # the run that made it evaluated the check for that day
        return dg.SkipReason(f"the reel of {day} exists; its run checked the deadline")
    # The day goes in the partition tag: Dagster 1.13 checks a `partition_key` against the run's selected assets,
    # and a check-only run has none.
    return dg.RunRequest(
        run_key=f"reel_due_by_deadline-{day}", asset_check_keys=[reel_due_by_deadline.check_key],
        tags={"dagster/partition": day.isoformat(), "vidgen/launched_by": "reel_freshness_sensor"},
    )  # fmt: skip

"""Completes a day that a partial run rendered: its statistics follow every new reel, whoever launched it."""

import dagster as dg

from vidgen_assets.defs.reels.schedules import daily_reel_job

SENSOR_NAME = "day_stats_sensor"


@dg.run_status_sensor(
    name=SENSOR_NAME,
    run_status=dg.DagsterRunStatus.SUCCESS,
    request_job=daily_reel_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After a successful run that made a day's reel without its render_stats (e.g. the asset graph's "
        "Materialize on `reel`), runs render_stats and its check for that day in daily_reel_job, so every "
        "rendered day has its statistics. On by default; stop it with the toggle on Automation → day_stats_sensor."
    ),
)
def day_stats_sensor(context: dg.RunStatusSensorContext):
    run = context.dagster_run
    day = run.tags.get("dagster/partition")
    if day is None:  # a range or unpartitioned run: backfills of the day's chain include render_stats
        return dg.SkipReason(f"run {run.run_id} names no single day")
    made = {
        record.event_log_entry.asset_materialization.asset_key.to_user_string()
        for record in context.instance.get_records_for_run(
            run.run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION
        ).records
    }
    if "reel" not in made or "render_stats" in made:
        return dg.SkipReason(f"run {run.run_id} made no reel for {day}, or its statistics too")
    return dg.RunRequest(
        run_key=f"{SENSOR_NAME}-{run.run_id}", partition_key=day, asset_selection=[dg.AssetKey("render_stats")],
        tags={"vidgen/launched_by": SENSOR_NAME, "vidgen/after_run": run.run_id},
    )  # fmt: skip

"""Re-evaluates the reel's freshness target between runs, so a late day shows without anyone looking."""

import dagster as dg

from vidgen_assets.defs.reels.checks import reel_due_by_deadline

# Dagster's freshness sensor: it runs the check when its `dagster/fresh_until_timestamp` has passed,
# or after a failure once the reel is materialized again.
reel_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=[reel_due_by_deadline],
    name="reel_freshness_sensor",
    minimum_interval_seconds=600,
    default_status=dg.DefaultSensorStatus.RUNNING,
)

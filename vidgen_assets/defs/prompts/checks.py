"""Checks on the day's prompt snapshot."""

import dagster as dg

from vidgen_assets.defs.partitions import checked_output, daily_check
from vidgen_assets.defs.prompts.assets import prompts


@daily_check(asset=prompts, description="The day's prompt rows: warns on rejected rows (listed in `prompt_rejections`); fails when every row of a non-empty day was rejected.")
def prompts_rejections(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    snapshot = checked_output(context, "prompts")
    day = snapshot["partition"]
    valid, rejected = len(snapshot["rows"]), len(snapshot["rejected"])
    everything_rejected = rejected > 0 and valid == 0
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.ERROR if everything_rejected else dg.AssetCheckSeverity.WARN,
        metadata={"partition": day, "rows_valid": valid, "rows_rejected": rejected},
        description=f"{day}: {rejected} of {valid + rejected} rows rejected" if rejected else f"{day}: no rejected rows",
    )


@daily_check(
    asset=dg.AssetKey("reel"),
    name="day_render_retries",
    description="The day's reel is published (or withdrawn, every row deleted). When a day's runs keep failing for the "
    "same rows, or its last run was cancelled, `prompts_changed_sensor` stops requesting it and reports a WARN here "
    "for that day with the reason.",
)
def day_render_retries(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    # Evaluated in a run only once its reel step succeeded: the day rendered, whatever failed before.
    day = context.partition_key
    withdrawn = checked_output(context, "reel").get("withdrawn")
    said = f"{day}: the day was withdrawn, no reel: {withdrawn}" if withdrawn else f"{day}: the reel is published"
    return dg.AssetCheckResult(passed=True, description=said, metadata={"partition": day})

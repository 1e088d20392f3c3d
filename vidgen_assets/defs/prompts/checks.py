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

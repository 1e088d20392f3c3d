"""Checks on the day's prompt snapshot."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.partitions import manifest_key
from vidgen_assets.defs.prompts.assets import prompts
from vidgen_assets.defs.resources import MediaResource


@dg.asset_check(asset=prompts, description="Warns on rejected rows; fails when every row of a non-empty day was rejected.")
def prompts_rejections(context: dg.AssetCheckExecutionContext, media: MediaResource) -> dg.AssetCheckResult:
    # Asset checks of a partitioned asset run once per run, so read the run's partition.
    day = date.fromisoformat(context.run.tags["dagster/partition"])
    snapshot = media.open().get_json(manifest_key("prompts", day))
    valid, rejected = len(snapshot["rows"]), len(snapshot["rejected"])
    everything_rejected = rejected > 0 and valid == 0
    return dg.AssetCheckResult(
        passed=rejected == 0,
        severity=dg.AssetCheckSeverity.ERROR if everything_rejected else dg.AssetCheckSeverity.WARN,
        metadata={"partition": day.isoformat(), "rows_valid": valid, "rows_rejected": rejected},
        description=f"{rejected} of {valid + rejected} rows rejected" if rejected else "no rejected rows",
    )

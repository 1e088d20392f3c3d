"""One calendar day per partition, shared by every asset in the chain."""

import warnings
from datetime import date

import dagster as dg

from vidgen_assets.lib.environment import first_day

# `VIDGEN_FIRST_DAY`, else the first of the previous month (see `first_day`); read once when the code loads.
FIRST_DAY = first_day().isoformat()

# end_offset=1 makes today a partition too, so today's prompts can render before midnight.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)


def partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def daily_check(**kwargs):
    """`dg.asset_check` partitioned by day like the assets: each result belongs to the day it checked
    (the checks tab shows its partition, and one row per run instead of a "Skipped" and an unpartitioned one).

    Partitioned checks are a preview in Dagster 1.13; its warning would repeat on every load.
    """

    def apply(fn):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", dg.PreviewWarning)
            return dg.asset_check(partitions_def=daily_partitions, **kwargs)(fn)

    return apply


def checked_output(context: dg.AssetCheckExecutionContext, asset: str):
    """The output `asset` stored for the checked day, through its IO manager."""
    return context.op_execution_context.load_asset_value(dg.AssetKey(asset), partition_key=context.partition_key)

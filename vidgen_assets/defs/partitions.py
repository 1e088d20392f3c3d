"""One calendar day per partition, shared by every asset in the chain."""

from datetime import date

import dagster as dg

from vidgen_assets.lib.environment import first_day

# `VIDGEN_FIRST_DAY`, else the first of the previous month (see `first_day`); read once when the code loads.
FIRST_DAY = first_day().isoformat()

# end_offset=1 makes today a partition too, so today's prompts can render before midnight.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)


def partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def checked_output(context: dg.AssetCheckExecutionContext, asset: str):
    """The output `asset` stored for this run's day, through its IO manager.

    A check of a partitioned asset runs once per run and gets no partitioned input, so it loads the value
    for the run's partition itself.
    """
    day = context.run.tags["dagster/partition"]
    return context.op_execution_context.load_asset_value(dg.AssetKey(asset), partition_key=day)


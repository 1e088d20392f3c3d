"""One calendar day per partition, shared by every asset in the chain."""

from datetime import date

import dagster as dg

FIRST_DAY = "2024-01-01"

# end_offset=1 makes today a partition too, so today's prompts can render before midnight.
daily_partitions = dg.DailyPartitionsDefinition(start_date=FIRST_DAY, timezone="UTC", end_offset=1)


def partition_day(context: dg.AssetExecutionContext) -> date:
    return date.fromisoformat(context.partition_key)


def manifest_key(asset: str, day: date) -> str:
    """Where an asset's manifest for a day lives in the media store: what crosses steps."""
    return f"manifests/{asset}/{day.isoformat()}.json"

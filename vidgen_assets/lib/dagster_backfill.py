"""The project's one use of Dagster's private API: a sensor request that starts a real backfill.

Dagster 1.13 lets a sensor launch a backfill (one entry on the Backfills page, runs paced by
the backfill daemon, each asset's backfill policy honoured) only through
`RunRequest.for_asset_graph_subset`, which takes the private `AssetGraphSubset`; there is no
public equivalent (no `RunRequest.for_asset_partition_range` in 1.13). Keeping the import here
means an upgrade touches one file, and `test_sensor.py` fails loudly if the API moves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dagster as dg
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset


def backfill_run_request(
    asset_graph,
    asset_keys: Iterable[dg.AssetKey | str],
    partition_keys: Iterable[str],
    *,
    tags: Mapping[str, str] | None = None,
) -> dg.RunRequest:
    """A `RunRequest` that the sensor daemon turns into one backfill of these assets × partitions.

    `asset_graph` is the code location's graph (`context.repository_def.asset_graph` in a sensor).
    The sensor yielding it must declare an `asset_selection` that covers `asset_keys`.
    """
    partition_keys = sorted(set(partition_keys))
    if not partition_keys:
        raise ValueError("a backfill needs at least one partition key")
    subsets, subset_by_definition = {}, {}
    for key in asset_keys:
        asset_key = dg.AssetKey.from_coercible(key)
        partitions_def = asset_graph.get(asset_key).partitions_def
        if partitions_def is None:
            raise ValueError(f"asset {asset_key.to_user_string()!r} is not partitioned")
        if partitions_def not in subset_by_definition:  # the assets of one chain share a definition
            # with_partition_keys checks only a key's shape (a far-future day passes), and slowly:
            # membership in the definition's keys is the real check, so its own is switched off.
            unknown = set(partition_keys) - set(partitions_def.get_partition_keys())
            if unknown:
                raise ValueError(f"{asset_key.to_user_string()!r} has no partitions {sorted(unknown)}")
            subset = partitions_def.empty_subset()
            if isinstance(partitions_def, dg.TimeWindowPartitionsDefinition):
                subset = subset.with_partition_keys(partition_keys, validate=False)
            else:
                subset = subset.with_partition_keys(partition_keys)
            subset_by_definition[partitions_def] = subset
        subsets[asset_key] = subset_by_definition[partitions_def]
    return dg.RunRequest.for_asset_graph_subset(
        AssetGraphSubset(partitions_subsets_by_asset_key=subsets), tags=dict(tags or {})
    )

"""How many prompt rows a shard step gets: enough GPU work that starting its pod stays a small share.

Each shard step pays a fixed start-up (pod scheduling, image pull, model load: `pod_start_s`) before
it renders its rows. With `s_per_item` seconds of GPU time per output and `items_per_row` outputs per
row, a shard of R rows renders for `R * items_per_row * s_per_item` seconds. The rule picks the smallest
R whose start-up is at most `START_UP_SHARE` (10 %) of that GPU time:

    R = ceil(pod_start_s / (share * items_per_row * s_per_item))

Smaller shards would spread a day over more pods, but each pod would spend more of its time starting;
larger ones waste little start-up but use fewer pods. A size the user set is used as it is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

START_UP_SHARE = 0.10
# Defaults: bench_fanout.py's pod start-up (scheduling, image pull, model load on a GPU node) and the
# per-output GPU times of the default cluster presets (SVD-XT ~12 s/clip, SDXL-Turbo well under 1 s/image).
DEFAULT_POD_START_S = 90.0
DEFAULT_S_PER_CLIP = 12.0
DEFAULT_S_PER_KEYFRAME = 0.5


@dataclass(frozen=True)
class ShardSize:
    """The rows per shard step, why, and the start-up share it leads to."""

    rows: int
    reason: str
    start_up_share: float

    def metadata(self) -> dict:
        return {"shard_rows": self.rows, "shard_rows_reason": self.reason, "est_start_up_share": round(self.start_up_share, 4)}


def start_up_share(rows: int, *, pod_start_s: float, s_per_item: float, items_per_row: float) -> float:
    """A shard step's start-up as a share of its GPU time, for a shard of `rows` rows."""
    return pod_start_s / (rows * items_per_row * s_per_item)


def shard_size(
    *,
    configured: int = 0,
    pod_start_s: float = DEFAULT_POD_START_S,
    s_per_item: float = DEFAULT_S_PER_CLIP,
    items_per_row: float = 1.0,
    share: float = START_UP_SHARE,
    day_rows: int | None = None,
) -> ShardSize:
    """`configured` rows when set (> 0), else the fewest rows keeping start-up at or below `share`.

    The estimated start-up share is that of the day's largest shard: a day of `day_rows` rows smaller
    than a shard makes one smaller shard, whose start-up weighs more.
    """
    if configured < 0 or pod_start_s < 0 or s_per_item <= 0 or not 0 < share < 1:
        raise ValueError(
            f"shard sizing needs shard_size >= 0, pod start-up >= 0 s, seconds per item > 0 and 0 < share < 1; "
            f"got {configured}, {pod_start_s}, {s_per_item}, {share}"
        )
    estimate = {"pod_start_s": pod_start_s, "s_per_item": s_per_item, "items_per_row": max(items_per_row, 1.0)}
    if configured:
        rows, reason = configured, "set by the user (shard_size / VIDGEN_SHARD_SIZE)"
    else:
        # The small tolerance keeps an exact quotient (e.g. 75.0) from rounding up to the next row.
        rows = max(1, math.ceil(pod_start_s / (share * estimate["items_per_row"] * s_per_item) - 1e-9))
        reason = (f"pod start-up {pod_start_s:g} s at most {share:.0%} of a shard's GPU time at {s_per_item:g} s "
                  f"per item × {estimate['items_per_row']:.3g} items per row")  # fmt: skip
    largest = max(1, min(rows, day_rows)) if day_rows is not None else rows
    return ShardSize(rows, reason, start_up_share(largest, **estimate))

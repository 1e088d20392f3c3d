"""What a provider bills for one task, by its own rules: the figure recorded as the clip's `cost_usd`
(lineage, metadata; the budget ledger settles its reservation from it), not only for delivered clips.

Replicate bills the seconds a prediction ran (`metrics.predict_time`), cancelled or failed alike; Runway
and Luma their list price for a task that succeeded, or that ran and was cancelled or deleted (counted as
billed), nothing for one that failed; fal only a success. The table is in this package's README.

A task that never started (queued, refused at create, cancelled in the queue) costs nothing. Where a
provider does not document a case, the rule errs towards counting the money as spent.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from .catalog import HostedModel

# provider → (bills a task cancelled after it started, bills a task that failed after it started)
_STARTED_BILLED = {"replicate": (True, True), "runway": (True, False), "luma": (True, False), "fal": (False, False)}
SUCCEEDED, CANCELLED_AFTER_START, FAILED = "succeeded", "cancelled", "failed"


def billed_usd(
    hosted: HostedModel, params: Mapping[str, Any], outcome: str, *, started_at: float | None,
    finished_at: float | None = None, billed_s: float | None = None,
) -> float:  # fmt: skip
    """The USD the provider bills for a task that ended with `outcome` (succeeded, cancelled, failed)."""
    ran_s = billed_s
    if ran_s is None and started_at is not None:
        ran_s = max(0.0, (finished_at or time.time()) - started_at)
    if outcome == SUCCEEDED:
        return hosted.cost_usd(params, ran_s or 0.0)
    if started_at is None and billed_s is None:
        return 0.0
    cancelled_billed, failed_billed = _STARTED_BILLED.get(hosted.provider, (True, True))
    if not (cancelled_billed if outcome == CANCELLED_AFTER_START else failed_billed):
        return 0.0
    return hosted.cost_usd(params, ran_s or 0.0)  # Replicate's price is per second run: the run time

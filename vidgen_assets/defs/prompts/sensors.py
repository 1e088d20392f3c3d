"""Re-render the days whose prompt rows changed, moved, or no longer match their last render.

The rules (change scan, moves, reconciliation of recent days, future days, "nothing needless")
live in `lib.warehouse.change_rules`, with the clock as an input; this module turns the plan
into requests.

How it requests work: a few changed days become one run per day; many days become one
real backfill, built by `lib.dagster_backfill.backfill_run_request`. The alternative, an
`AutomationConditionSensorDefinition`, reacts to asset events and conditions, not to rows
in an outside table: it would need a per-day observation of the warehouse first, and the
change semantics below (late commits, soft deletes, dedupe) would move into conditions
that are hard to test. A plain sensor keeps those rules in one function with an explicit
cursor; the price is a single private-API import, wrapped and tested in `lib`.
"""

import os
from datetime import date, timedelta

import dagster as dg

from vidgen_assets.defs.partitions import daily_partitions
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.lib.dagster_backfill import backfill_run_request
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.change_rules import DayPlan, plan_days
from vidgen_assets.lib.warehouse.changes import ChangeCursor, CursorError, cursor_looking_back

# The whole day, as `daily_reel_job` renders it: render_stats and its checks too.
RENDERED_ASSETS = ("prompts", "keyframes", "videos", "reel", "render_stats")
SENSOR_NAME = "prompts_changed_sensor"
MIN_INTERVAL_SECONDS = int(os.getenv("VIDGEN_SENSOR_INTERVAL_SECONDS", "60"))


def _setting(name: str, default: float) -> float:
    """Tick-time settings are read on every tick, so a change needs no code-location reload."""
    return float(os.getenv(name, default))


def _start_cursor(context: dg.SensorEvaluationContext, store: Warehouse) -> ChangeCursor:
    """The stored cursor; with none, or an unreadable one, the changes of the last lookback window.

    Starting from a lookback rather than from the table's beginning keeps a first start (or a
    reset) from re-rendering years of days: older days are the schedule's and manual backfills' job.
    """
    lookback = timedelta(hours=_setting("VIDGEN_SENSOR_LOOKBACK_HOURS", 24))
    if context.cursor is None:
        context.log.info(f"no cursor yet: scanning the changes of the last {lookback}")
        return cursor_looking_back(store, lookback)
    try:
        return ChangeCursor.from_json(context.cursor)
    except CursorError as error:
        context.log.warning(
            f"{error}. Reset: rescanning the changes of the last {lookback}; days changed in that "
            "window may render once more, which the media cache makes cheap."
        )
        return cursor_looking_back(store, lookback)


def _shown(days: list[date]) -> str:
    return ", ".join(d.isoformat() for d in days[:5]) + (f" and {len(days) - 5} more" if len(days) > 5 else "")


def _log_plan(context: dg.SensorEvaluationContext, plan: DayPlan) -> None:
    if plan.before_partitions:
        context.log.info(f"skipping changed days before the first partition: {_shown(plan.before_partitions)}")
    if plan.pending:
        context.log.info(f"changed days not yet partitions, requested when they become one: {_shown(plan.pending)}")
    if plan.unchanged:
        context.log.info(f"changed days whose rows equal their last render, not requested: {_shown(plan.unchanged)}")
    if plan.reconciled:
        context.log.info(f"days whose rows differ from their last render without a scanned change: {_shown(plan.reconciled)}")


def _requests(context: dg.SensorEvaluationContext, plan: DayPlan) -> list[dg.RunRequest]:
    tags = {"vidgen/launched_by": SENSOR_NAME}
    days = sorted(plan.requests)
    if len(days) <= int(_setting("VIDGEN_SENSOR_MAX_RUNS", 5)):
        # The run key names the day's rows and its last render: re-evaluating the same state (a tick
        # retried before its cursor was saved, a restart from an old cursor) requests nothing new.
        return [
            dg.RunRequest(
                partition_key=day.isoformat(),
                run_key=plan.requests[day],
                tags={**tags, "vidgen/changed_rows": str(plan.changes.changes_by_day.get(day, 0))},
            )
            for day in days
        ]
    if context.repository_def is None:
        raise dg.DagsterInvariantViolationError(f"{SENSOR_NAME} needs its definitions to request a backfill")
    # Backfill requests carry no run key: the cursor, saved with this tick, keeps them to one.
    keys = [day.isoformat() for day in days]
    context.log.info(f"{len(keys)} changed days: one backfill {keys[0]}..{keys[-1]}")
    tags["vidgen/changed_days"] = str(len(keys))
    return [backfill_run_request(context.repository_def.asset_graph, RENDERED_ASSETS, keys, tags=tags)]


@dg.sensor(
    name=SENSOR_NAME,
    asset_selection=list(RENDERED_ASSETS),
    minimum_interval_seconds=MIN_INTERVAL_SECONDS,
    description=(
        "Renders again the days whose warehouse prompt rows changed (insert, update, soft delete): "
        "one run per day of the whole chain (as daily_reel_job), or one backfill above VIDGEN_SENSOR_MAX_RUNS days (default 5). "
        "Off by default: turn it on with the toggle on Automation → prompts_changed_sensor, "
        "or `dagster sensor start prompts_changed_sensor`."
    ),
)
def prompts_changed_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    """Each tick reads rows changed since its cursor and reconciles the recent days (see the prompts README).

    Settings: VIDGEN_SENSOR_INTERVAL_SECONDS (60), VIDGEN_SENSOR_MAX_RUNS (5),
    VIDGEN_SENSOR_OVERLAP_SECONDS (300), VIDGEN_SENSOR_LOOKBACK_HOURS (24, first start or reset),
    VIDGEN_SENSOR_RECONCILE_DAYS (7).
    """
    store = warehouse.open()
    cursor = _start_cursor(context, store)
    overlap = timedelta(seconds=_setting("VIDGEN_SENSOR_OVERLAP_SECONDS", 300))
    plan = plan_days(
        store, cursor,
        first_partition=date.fromisoformat(daily_partitions.get_first_partition_key()),
        last_partition=date.fromisoformat(daily_partitions.get_last_partition_key()),
        overlap=overlap, reconcile_days=int(_setting("VIDGEN_SENSOR_RECONCILE_DAYS", 7)),
    )  # fmt: skip
    _log_plan(context, plan)
    next_cursor = plan.cursor.to_json()
    if plan.requests:
        return dg.SensorResult(run_requests=_requests(context, plan), cursor=next_cursor)
    changes = plan.changes
    looked_at = f"after {changes.scanned_since} (watermark {cursor.watermark}, overlap {overlap})"
    if changes.rows:
        reason = (
            f"{changes.rows} changed rows, none needing a render: days unchanged since their last render "
            f"{_shown(plan.unchanged) or '(none)'}; not yet partitions {_shown(plan.pending) or '(none)'}; "
            f"before the partitions {_shown(plan.before_partitions) or '(none)'}."
        )
    elif changes.scanned:
        reason = f"No new prompt changes: read {changes.scanned} rows changed {looked_at}, all already handled."
    else:
        reason = f"No prompt rows changed {looked_at}."
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=next_cursor)

"""Re-render the days whose prompt rows or themes changed, moved, or no longer match their last render.

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
from vidgen_assets.lib.dead_runs import reap_dead_cli_runs
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.change_rules import DEFAULT_MAX_ATTEMPTS, Attempts, DayPlan, plan_days
from vidgen_assets.lib.warehouse.changes import ChangeCursor, CursorError, cursor_looking_back

# The whole day, as `daily_reel_job` renders it: render_stats and its checks too.
RENDERED_ASSETS = ("theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats")
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
    if plan.running:
        context.log.info(f"days whose current rows a run is rendering now, not requested: {_shown(plan.running)}")
    for day, failed in sorted(plan.retried.items()):
        context.log.warning(f"{day}: its last run failed ({failed} failed for these rows so far); requested again")
    for day, reason in sorted(plan.gave_up.items()):
        context.log.warning(f"{day}: not requested again until its rows change: {reason}")


ROWS_TAG = "vidgen/rows"  # the fingerprint of the rows a requested run is for


def day_attempts(instance: dg.DagsterInstance, day: date, fingerprint: str, lookback: int = 20) -> Attempts:
    """The runs whose `prompts` step read exactly these rows of the day (its materializations name them).

    Whoever launched them (this sensor, the schedule, `vidgen run`, the UI): a failure is a failure of the day.
    """
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("prompts"), asset_partitions=[day.isoformat()]), limit=lookback
    ).records
    run_ids = {
        record.run_id for record in records
        if getattr(record.asset_materialization.metadata.get("fingerprint"), "value", None) == fingerprint
    }  # fmt: skip
    # Runs this sensor requested for these rows count too, even when they failed before their prompts step.
    tagged = dg.RunsFilter(tags={"dagster/partition": day.isoformat(), ROWS_TAG: fingerprint})
    run_ids |= {record.dagster_run.run_id for record in instance.get_run_records(tagged, limit=lookback)}
    failed, running, reason, cancelled = 0, False, None, None
    runs = instance.get_run_records(dg.RunsFilter(run_ids=sorted(run_ids))) if run_ids else []
    for run in (record.dagster_run for record in sorted(runs, key=lambda r: r.create_timestamp)):  # the last one last
        if not run.is_finished:
            running = True
            continue
        # A cancelled run is a user's decision, not a failure to retry; only the last finished run's counts.
        cancelled = run.run_id if run.status == dg.DagsterRunStatus.CANCELED else None
        if run.status == dg.DagsterRunStatus.FAILURE:
            failed += 1
            reason = _failure(instance, run)
    return Attempts(failed=failed, running=running, reason=reason, cancelled=cancelled)


def _failure(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The failed run's first step error (or its run failure message), in one line."""
    for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        error = event.dagster_event.step_failure_data.error if event.dagster_event else None
        if error is not None:
            return f"run {run.run_id} step {event.step_key}: {error.message.strip().splitlines()[0][:300]}"
    return f"run {run.run_id} {run.status.value.lower()}"


def gave_up_evaluations(plan: DayPlan) -> list[dg.AssetCheckEvaluation]:
    """A WARN of the reel's `day_render_retries` check for each day given up, on that day's partition, with why."""
    return [
        dg.AssetCheckEvaluation(
            asset_key=dg.AssetKey("reel"), check_name="day_render_retries", passed=False,
            severity=dg.AssetCheckSeverity.WARN, partition=day.isoformat(),
            description=f"{day}: not requested again until its rows change: {reason}",
            metadata={"partition": day.isoformat(), "reason": reason},
        )  # fmt: skip
        for day, reason in sorted(plan.gave_up.items())
    ]


def _over_budget(context: dg.SensorEvaluationContext, store: Warehouse, days: list[date]) -> str:
    """When a budget is set: what the requested days' estimate asks beyond what remains, said in the tick's log
    and on each run (the runs still create what fits and refuse the rest with `budget`); "" when it fits."""
    from vidgen_assets.lib.rules.budget import Budgets

    budgets = Budgets.from_env()
    if not budgets.limits_set():
        return ""  # no limit: not worth planning the days here
    from vidgen_assets.defs.resources import media_store_from_env
    from vidgen_assets.lib.rules.estimate import estimate_days, planning_from_env

    found = estimate_days(store, media_store_from_env(), days, budgets, **planning_from_env())
    if not found["over"]:
        return ""
    reason = f"estimate {found['list_usd']:.2f} USD exceeds what remains: " + "; ".join(found["over"][:5])
    context.log.warning(reason + " — clips that do not fit will be refused (budget) until the budget allows")
    return reason


def _requests(context: dg.SensorEvaluationContext, plan: DayPlan, store: Warehouse) -> list[dg.RunRequest]:
    tags = {"vidgen/launched_by": SENSOR_NAME}
    try:
        over = _over_budget(context, store, sorted(plan.requests))
    except Exception as error:  # an estimate must never stop a tick; the runs' own gate still holds the budget
        over = ""
        context.log.warning(f"no estimate for the requested days: {type(error).__name__}: {error}")
    if over:
        tags["vidgen/over_budget"] = over[:200]
    days = sorted(plan.requests)
    if len(days) <= int(_setting("VIDGEN_SENSOR_MAX_RUNS", 5)):
        # The run key names the day's rows and its last render: re-evaluating the same state (a tick
        # retried before its cursor was saved, a restart from an old cursor) requests nothing new.
        return [
            dg.RunRequest(
                partition_key=day.isoformat(),
                run_key=plan.requests[day],
                tags={**tags, "vidgen/changed_rows": str(plan.changes.changes_by_day.get(day, 0)),
                      ROWS_TAG: plan.fingerprints[day]},  # fmt: skip
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
        "Renders again the days whose warehouse prompt rows or themes changed (insert, update, soft delete): "
        "one run per day of the whole chain (as daily_reel_job), or one backfill above VIDGEN_SENSOR_MAX_RUNS days (default 5). "
        "Off by default: turn it on with the toggle on Automation → prompts_changed_sensor, "
        "or `dagster sensor start prompts_changed_sensor`."
    ),
)
def prompts_changed_sensor(context: dg.SensorEvaluationContext, warehouse: WarehouseResource) -> dg.SensorResult:
    """Each tick reads prompt rows and themes changed since its cursor and reconciles the recent days (see the prompts README).

    Settings: VIDGEN_SENSOR_INTERVAL_SECONDS (60), VIDGEN_SENSOR_MAX_RUNS (5),
    VIDGEN_SENSOR_OVERLAP_SECONDS (300), VIDGEN_SENSOR_LOOKBACK_HOURS (24, first start or reset),
    VIDGEN_SENSOR_RECONCILE_DAYS (7), VIDGEN_SENSOR_MAX_ATTEMPTS (3 failed runs for the same rows, then given up).
    """
    # A dead `vidgen run` leaves its run STARTED: reaped first, its day reads as failed below and is retried.
    reap_dead_cli_runs(context.instance, context.log.warning)
    store = warehouse.open()
    cursor = _start_cursor(context, store)
    overlap = timedelta(seconds=_setting("VIDGEN_SENSOR_OVERLAP_SECONDS", 300))
    plan = plan_days(
        store, cursor,
        first_partition=date.fromisoformat(daily_partitions.get_first_partition_key()),
        last_partition=date.fromisoformat(daily_partitions.get_last_partition_key()),
        overlap=overlap, reconcile_days=int(_setting("VIDGEN_SENSOR_RECONCILE_DAYS", 7)),
        attempts=lambda day, fingerprint: day_attempts(context.instance, day, fingerprint),
        max_attempts=int(_setting("VIDGEN_SENSOR_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)),
    )  # fmt: skip
    _log_plan(context, plan)
    next_cursor = plan.cursor.to_json()
    warnings = gave_up_evaluations(plan)
    if plan.requests:
        return dg.SensorResult(run_requests=_requests(context, plan, store), cursor=next_cursor, asset_events=warnings)
    changes = plan.changes
    looked_at = f"after {changes.scanned_since} (watermark {cursor.watermark}, overlap {overlap})"
    if changes.rows:
        reason = (
            f"{changes.rows} changed rows ({changes.themes} of them themes), none needing a render: days unchanged since their last render "
            f"{_shown(plan.unchanged) or '(none)'}; not yet partitions {_shown(plan.pending) or '(none)'}; "
            f"before the partitions {_shown(plan.before_partitions) or '(none)'}."
        )
    elif changes.scanned:
        reason = f"No new prompt or theme changes: read {changes.scanned} rows changed {looked_at}, all already handled."
    else:
        reason = f"No prompt rows changed {looked_at}, nor themes."
    if plan.gave_up:
        reason += f" Given up until their rows change: {_shown(sorted(plan.gave_up))}."
    return dg.SensorResult(skip_reason=dg.SkipReason(reason), cursor=next_cursor, asset_events=warnings)

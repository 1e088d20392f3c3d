"""What the Dagster instance knows about a run's waiting and duration, as plain figures for `lib.stats`."""

import time

import dagster as dg

from vidgen_assets.lib.stats import RunTimings

PEAK_MEMORY_KEYS = ("cuda_peak_gb", "peak_rss_gb")
STAGE_KIND = {"keyframes": "keyframe", "videos": "clip"}  # graph asset → the lineage kind its GPU steps make


def run_timings(instance: dg.DagsterInstance, run_id: str) -> RunTimings:
    """Run queue (created → started), wall time (started → ended, or now while it runs) and GPU step waits.

    A GPU step's wait is approximated as the time from its shard becoming ready (its plan step's
    success) to the step's start: waiting for a `gpu` pool slot, a free worker, or, in process, for the
    shards before it.
    """
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return RunTimings(run_id=run_id)
    created = record.create_timestamp.timestamp()
    started = record.start_time or created
    ended = record.end_time or time.time()
    events = instance.get_records_for_run(
        run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}
    ).records
    ready, waits = {}, []
    for event in events:
        entry = event.event_log_entry
        stage, _, op = (entry.step_key or "").partition(".")
        if op.startswith("plan_") and entry.dagster_event.event_type == dg.DagsterEventType.STEP_SUCCESS:
            ready[stage] = entry.timestamp
        elif op.startswith("render_") and entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            if stage in ready and stage in STAGE_KIND:
                waits.append((STAGE_KIND[stage], max(0.0, entry.timestamp - ready[stage])))
    return RunTimings(run_id=run_id, queue_s=max(0.0, started - created), wall_s=max(0.0, ended - started), pool_waits=waits)


def peak_memory(instance: dg.DagsterInstance, run_id: str) -> dict[str, float]:
    """Peak memory each rendering asset reported in this run (GB), by lineage kind."""
    peaks = {}
    for event in instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION).records:
        materialization = event.event_log_entry.asset_materialization
        kind = STAGE_KIND.get(materialization.asset_key.to_user_string())
        for key in PEAK_MEMORY_KEYS:
            if kind and key in materialization.metadata:
                peaks[kind] = float(materialization.metadata[key].value)
    return peaks

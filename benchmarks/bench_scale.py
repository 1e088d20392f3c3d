"""The platform's own cost per item at ten times the daily volume: a day of 20,000 prompt rows.

The rows are 100 distinct (prompt, seed) pairs repeated, so only 100 keyframes and 100 clips really
render (tiny presets) and the rest are content-addressed reuses: what remains is the platform's work
(planning, fan-out, cache lookups, manifests, lineage, checks, the reel, the event log). The day runs
through `vidgen run`'s path (`runner.run_day`: the job in process, recorded in a fresh Dagster instance)
with a shard size giving `--shards` shard steps per stage, then runs again (every output a cache hit).
Each run is its own process, timed from inside around `run_day`; its peak RSS is the largest step's
(every step runs in that process). Items are keyframes plus clips. Warehouse write locks are timed
around every connection the run opens (all in that process). Final line: JSON.

    python benchmarks/bench_scale.py [--rows 20000] [--distinct 100] [--shards 100] [--profile DIR] [--keep]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import date
from pathlib import Path

DAY = date(2026, 11, 2)
# Step-key patterns → the phases reported (render steps are summed over shards).
PHASES = (
    ("prompts", "prompts"), ("plan", ".plan_"), ("shard steps", ".render_"), ("collect", ".collect_"),
    ("quality check", "videos_quality"), ("render_stats", "render_stats"), ("reel", "reel"),
)  # fmt: skip


def rows_for(count: int, distinct: int) -> list[dict]:
    """`count` rows cycling over `distinct` (prompt, seed) pairs."""
    return [
        {"prompt_id": f"s{n:06d}", "scheduled_for": str(DAY), "prompt": f"scene {n % distinct}", "seed": n % distinct}
        for n in range(count)
    ]


def record_lock_holds(holds: list[float]) -> None:
    """Time every warehouse connection and attachment this process opens (the write-lock windows)."""
    from vidgen_assets.lib.warehouse import store

    for name in ("connect", "attached"):
        original = getattr(store.Warehouse, name)

        def timed(self, *args, _original=original, **kwargs):
            @contextmanager
            def holding():
                with _original(self, *args, **kwargs) as value:
                    yield value
                holds.append(self.last_hold_s)

            return holding()

        setattr(store.Warehouse, name, timed)


def record_lineage_seconds(seconds: list[float]) -> None:
    """Time every lineage write; the stage modules bind `record_lineage` when the definitions load, after this."""
    from vidgen_assets.lib.warehouse import lineage

    original = lineage.record_lineage

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds.append(time.perf_counter() - started)

    lineage.record_lineage = timed


def phase_seconds(run_id: str) -> tuple[dict[str, float], int]:
    """Seconds per phase from the run's step events (start → success), and the number of shard steps."""
    import dagster as dg

    started, seconds, shard_steps = {}, defaultdict(float), 0
    with dg.DagsterInstance.get() as instance:
        records = instance.get_records_for_run(
            run_id, of_type={dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS}, limit=1_000_000
        ).records
    for record in records:
        entry = record.event_log_entry
        if entry.dagster_event.event_type == dg.DagsterEventType.STEP_START:
            started[entry.step_key] = entry.timestamp
            continue
        shard_steps += ".render_" in entry.step_key
        for phase, pattern in PHASES:
            if pattern in entry.step_key:
                seconds[phase] += entry.timestamp - started[entry.step_key]
                break
    return dict(seconds), shard_steps


def render_seconds(run_id: str) -> float:
    """Seconds this run spent rendering (its lineage records of what it did not reuse)."""
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import Warehouse

    with Warehouse(environment.warehouse_target()).connect() as connection:
        query = ("SELECT coalesce(sum(CAST(json_extract(timings, '$.render_s') AS DOUBLE)), 0) FROM clips "
                 "WHERE run_id = ? AND NOT cache_hit")  # fmt: skip
        return connection.execute(query, [run_id]).fetchone()[0]


def child(label: str, profile_dir: str | None) -> None:
    """One run of the day in this process; prints its figures as JSON."""
    import dagster as dg

    from vidgen_assets import runner

    holds: list[float] = []
    lineage_seconds: list[float] = []
    record_lock_holds(holds)
    record_lineage_seconds(lineage_seconds)
    profiler = None
    if profile_dir:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    started = time.perf_counter()
    runner.run_day(DAY)
    wall = time.perf_counter() - started
    if profiler:
        profiler.disable()
        profiler.dump_stats(str(Path(profile_dir) / f"{label}.prof"))
    with dg.DagsterInstance.get() as instance:
        run_id = instance.get_run_records(limit=1)[0].dagster_run.run_id
    phases, shard_steps = phase_seconds(run_id)
    phases["lineage (in collect and reel)"] = sum(lineage_seconds)
    with dg.DagsterInstance.get() as instance:
        events = len(instance.get_records_for_run(run_id, limit=10_000_000).records)
    print(json.dumps({
        "wall_s": wall, "render_s": render_seconds(run_id), "phases": phases, "shard_steps": shard_steps,
        "max_lock_hold_s": max(holds, default=0.0), "lock_holds": len(holds), "run_id": run_id, "events": events,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))  # fmt: skip


def megabytes(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20 if path.exists() else 0.0


def run(label: str, home: Path, env: dict, profile_dir: str | None) -> dict:
    command = [sys.executable, __file__, "--child", label] + (["--profile", profile_dir] if profile_dir else [])
    result = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{label} run failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    found = json.loads(result.stdout.strip().splitlines()[-1])
    # The run's SQLite event log only; the IO manager's pickled step outputs (storage/<run id>/, which hold
    # the items and so grow with rows) are data, reported apart.
    found["event_log_mb"] = (home / "dagster" / "history" / "runs" / f"{found['run_id']}.db").stat().st_size / 2**20
    found["step_outputs_mb"] = megabytes(home / "dagster" / "storage" / found["run_id"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--distinct", type=int, default=100, help="distinct (prompt, seed) pairs")
    parser.add_argument("--shards", type=int, default=100, help="shard steps per stage")
    parser.add_argument("--models-dir", type=Path, default=Path(tempfile.gettempdir()) / "vidgen-bench-models")
    parser.add_argument("--profile", help="directory for a cProfile dump of each run")
    parser.add_argument("--keep", action="store_true", help="keep the day's VIDGEN_HOME and DAGSTER_HOME (path printed)")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.profile)

    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets.lib.warehouse.importer import import_rows

    kept = contextlib.nullcontext(tempfile.mkdtemp(prefix="vidgen-bench-scale-")) if args.keep else None
    with kept or tempfile.TemporaryDirectory(prefix="vidgen-bench-scale-") as scratch:
        home = Path(scratch)
        shard_size = -(-args.rows // args.shards)
        env = {**os.environ, "VIDGEN_HOME": str(home), "DAGSTER_HOME": str(home / "dagster"),
               "VIDGEN_MODELS_DIR": str(args.models_dir), "VIDGEN_SHARD_SIZE": str(shard_size),
               "HF_HUB_OFFLINE": "1", "VIDGEN_EXECUTOR": "in_process"}  # fmt: skip
        env.pop("VIDGEN_MEDIA_URI", None)
        env.pop("VIDGEN_WAREHOUSE", None)
        import_rows(Warehouse(home / "warehouse.duckdb"), rows_for(args.rows, args.distinct), {"tiny"}, {"tiny"})
        first = run("first", home, env, args.profile)
        rerun = run("rerun", home, env, args.profile)
        items = 2 * args.rows  # a keyframe and a clip per row
        manifest_mb = megabytes(home / "media" / "manifests")
        for label, found in (("first run", first), ("re-run", rerun)):
            per_item = (found["wall_s"] - found["render_s"]) / items * 1000
            phases = ", ".join(f"{phase} {s:.1f}s" for phase, s in found["phases"].items())
            print(f"{label}: {found['wall_s']:.1f}s wall, {found['render_s']:.1f}s rendering, "
                  f"{per_item:.2f} ms/item platform; {found['shard_steps']} shard steps; {phases}; "
                  f"peak RSS {found['peak_rss_mb']:.0f} MB; longest lock {found['max_lock_hold_s']:.3f}s "
                  f"of {found['lock_holds']}; event log {found['events']} events, {found['event_log_mb']:.2f} MB; "
                  f"step outputs {found['step_outputs_mb']:.2f} MB")  # fmt: skip
        print(f"manifests: {manifest_mb:.2f} MB for the day (both runs)")
        if args.keep:
            print(f"kept: {home} (event logs under dagster/history/runs)")
        print(json.dumps({
            "rows": args.rows, "items": items, "shards": rerun["shard_steps"] // 2,
            "wall_s": round(first["wall_s"], 2), "rerun_s": round(rerun["wall_s"], 2),
            "platform_ms_per_item": round((rerun["wall_s"] - rerun["render_s"]) / items * 1000, 2),
            "peak_rss_mb": round(max(first["peak_rss_mb"], rerun["peak_rss_mb"]), 1),
            "max_lock_hold_s": round(max(first["max_lock_hold_s"], rerun["max_lock_hold_s"]), 3),
            "manifest_mb": round(manifest_mb, 2),
            "event_log_mb": round(max(first["event_log_mb"], rerun["event_log_mb"]), 2),
            "step_outputs_mb": round(max(first["step_outputs_mb"], rerun["step_outputs_mb"]), 2),
        }))  # fmt: skip


if __name__ == "__main__":
    main()

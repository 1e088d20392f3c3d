"""A 1M-row CSV import through the public import path while another process reads a day every 0.5 s.

Generates a CSV of `--rows` rows (default 1,000,000) over 30 days with varied fields (composed
prompts, motion buckets, frame counts, a few model overrides) and ~1% bad rows, then imports it
with `import_file` (what `vidgen prompts import` runs) in a child process, while a second child
reads one day's rows every 0.5 s and a third runs the change sensor's tick every 5 s (the daemon's
default is 60 s), each counting what failed. The lock hold is measured on the writer side: the
longest time one chunk held the warehouse file. With `--postgres` the warehouse is a throwaway
PostgreSQL 15 server (the tests' `PostgresServer`), and the hold is one chunk's write transaction.

    .venv/bin/python benchmarks/bench_import.py [--rows N] [--chunk-rows K] [--postgres]

The last line printed is a JSON object: rows, import_s, rows_per_s, max_lock_hold_s, peak_rss_mb,
reader_failures, rejected, sensor_ticks, sensor_tick_failures, warehouse ("duckdb" or "postgres").
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from contextlib import ExitStack
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]

GENERATE = """
COPY (SELECT
  printf('imp-%07d', i) AS prompt_id,
  CASE WHEN i % 250 = 5 THEN 'not-a-date' ELSE CAST(DATE '2026-10-01' + CAST(i % 30 AS INTEGER) AS VARCHAR) END AS scheduled_for,
  CASE WHEN i % 3 = 0 THEN '' ELSE 'a ' || ['red fox', 'heron', 'paper boat', 'tram'][i % 4 + 1] || ', take ' || i END AS prompt,
  CASE WHEN i % 2 = 0 THEN 'blurry, low quality' ELSE '' END AS negative_prompt,
  CASE WHEN i % 400 = 7 THEN '-1' ELSE CAST(i * 7919 AS VARCHAR) END AS seed,
  ['a cat', 'a lighthouse keeper', 'a kite'][i % 3 + 1] AS subject,
  ['walking slowly', 'turning around'][i % 2 + 1] AS action,
  CASE WHEN i % 4 = 0 THEN 'on a windy cliff' ELSE '' END AS location,
  ['ink', 'watercolor', 'cinematic, golden hour'][i % 3 + 1] AS style,
  CASE WHEN i % 10 = 0 THEN 'slow dolly in' ELSE '' END AS camera, '' AS lighting,
  CASE WHEN i % 5 = 0 THEN '60;180' WHEN i % 500 = 9 THEN '10;300' ELSE '' END AS motion_bucket_ids,
  CASE WHEN i % 7 = 0 THEN '8' ELSE '' END AS num_frames,
  CASE WHEN i % 11 = 0 THEN '6' ELSE '' END AS fps,
  CASE WHEN i % 13 = 0 THEN 'tiny' WHEN i % 1000 = 3 THEN 'dall-e' ELSE '' END AS keyframe_model,
  '' AS video_model
FROM range($rows) t(i)) TO '{path}' (HEADER)
"""

IMPORTER = """
import json, resource, time
from vidgen_assets.lib.generation import preset_names
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_file
started = time.perf_counter()
result = import_file(Warehouse({target!r}), {path!r}, preset_names("text-to-image"),
                     preset_names("image-to-video", "text-to-video"), chunk_rows={chunk_rows})
print(json.dumps({{"import_s": time.perf_counter() - started, "stored": result.stored, "rejected": result.rejected,
                   "max_lock_hold_s": result.max_hold_s, "chunks": result.chunks,
                   "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}}))
"""

READER = """
import json, os, sys, time
from datetime import date
from vidgen_assets.lib.warehouse import Warehouse
store, reads, failures, slowest, rows = Warehouse({target!r}), 0, 0, 0.0, 0
while not os.path.exists({stop!r}):
    started = time.perf_counter()
    try:
        rows = len(store.day_rows(date(2026, 10, 15)))
    except Exception as error:  # a failed read is what this benchmark counts
        failures += 1
        print(f"read failed: {{error}}", file=sys.stderr)
    slowest = max(slowest, time.perf_counter() - started)
    reads += 1
    time.sleep(0.5)
print(json.dumps({{"reads": reads, "failures": failures, "slowest_read_s": slowest, "last_rows": rows}}))
"""


TICKER = """
import json, os, sys, time
import dagster as dg
from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
definitions, cursor, ticks, failures = build_definitions(), None, 0, 0
with dg.DagsterInstance.ephemeral() as instance:
    while not os.path.exists({stop!r}):
        context = dg.build_sensor_context(cursor=cursor, definitions=definitions, instance=instance,
                                          resources={{"warehouse": WarehouseResource(target={target!r})}})
        try:
            cursor = prompts_changed_sensor.evaluate_tick(context).cursor
        except Exception as error:  # a failed tick is what this benchmark counts
            failures += 1
            print(f"tick failed: {{error}}", file=sys.stderr)
        ticks += 1
        time.sleep(5)
print(json.dumps({{"ticks": ticks, "failures": failures}}))
"""


def child(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--chunk-rows", type=int, default=50_000)
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL server as the warehouse")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp, ExitStack() as cleanup:
        csv_path, target, stop = Path(tmp) / "prompts.csv", str(Path(tmp) / "warehouse.duckdb"), Path(tmp) / "stop"
        if args.postgres:
            sys.path.insert(0, str(REPO_ROOT))
            from vidgen_assets_tests.pg import PostgresServer

            server = PostgresServer().start()
            cleanup.callback(server.stop)
            target = server.new_database("bench")
        started = time.perf_counter()
        with duckdb.connect() as connection:
            connection.execute(GENERATE.format(path=csv_path), {"rows": args.rows})
        print(f"generated {args.rows:,} rows ({csv_path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.1f}s")
        from vidgen_assets.lib.warehouse import Warehouse

        Warehouse(target).schema_version()  # an existing, migrated warehouse, as in production
        reader = child(READER.format(target=target, stop=str(stop)))
        ticker = child(TICKER.format(target=target, stop=str(stop)))  # the change sensor, as the daemon runs it
        time.sleep(5)  # both readers started
        importer = child(IMPORTER.format(target=target, path=str(csv_path), chunk_rows=args.chunk_rows))
        imported = json.loads(importer.communicate()[0].strip().splitlines()[-1])
        stop.touch()
        read = json.loads(reader.communicate()[0].strip().splitlines()[-1])
        ticked = json.loads(ticker.communicate()[0].strip().splitlines()[-1])
    print(f"imported {imported['stored']:,} rows in {imported['chunks']} chunks, {imported['rejected']:,} rejected, "
          f"in {imported['import_s']:.1f}s; longest chunk write {imported['max_lock_hold_s']:.2f}s")  # fmt: skip
    print(f"reader: {read['reads']} reads, {read['failures']} failed, slowest {read['slowest_read_s']:.2f}s; "
          f"sensor: {ticked['ticks']} ticks, {ticked['failures']} failed")  # fmt: skip
    print(json.dumps({
        "rows": args.rows, "import_s": round(imported["import_s"], 2),
        "rows_per_s": round(args.rows / imported["import_s"]), "max_lock_hold_s": round(imported["max_lock_hold_s"], 3),
        "peak_rss_mb": round(imported["peak_rss_mb"]), "reader_failures": read["failures"],
        "rejected": imported["rejected"], "sensor_ticks": ticked["ticks"], "sensor_tick_failures": ticked["failures"],
        "warehouse": "postgres" if args.postgres else "duckdb",
    }))  # fmt: skip


if __name__ == "__main__":
    main()

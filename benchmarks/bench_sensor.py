"""How long one `prompts_changed_sensor` tick takes on a big warehouse, against a bare query.

Builds a DuckDB warehouse of `--rows` prompt rows spread over three years (default 1,000,000),
takes a cursor, changes `--changed` scattered rows (default 1,000) in ten transactions, then
times the full sensor tick (cursor parse, change query, partition check, the backfill request)
and a bare DuckDB query that selects the same rows on an open connection. The tick is repeated
on a 100,000-row warehouse: work should follow the changed rows, not the table.

Then one statement changes `--bulk` rows (default 200,000) of the big warehouse: the tick that
handles it, then the next quiet tick (the cursor that tick saved, nothing changed since), and the
saved cursor's size. Every day counts as rendered before the changes (as after daily runs), so the
reconciliation of the recent days compares real fingerprints.

    .venv/bin/python benchmarks/bench_sensor.py [--rows N] [--changed K] [--bulk B] [--repeat R]

The last line printed is a JSON object: rows, changed, tick_s, bare_query_s, tick_s_100k,
bulk_changed, tick_after_bulk_s, quiet_tick_after_bulk_s, cursor_bytes_after_bulk.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

import dagster as dg

# The rows span three years of days: the partitions must too (set before the definitions load).
os.environ.setdefault("VIDGEN_FIRST_DAY", "2024-01-01")

from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.store import FINGERPRINT_SQL
from vidgen_assets.lib.warehouse.changes import (
    CHANGES_SINCE_QUERY,
    DEFAULT_OVERLAP,
    ChangeCursor,
    database_now,
    find_changes,
)

SMALL_ROWS = 100_000
CHANGE_BATCHES = 10  # changes arrive as several commits, each with its own updated_at


def build_warehouse(path: Path, rows: int, changed: int) -> tuple[Warehouse, ChangeCursor]:
    """`rows` rows over three years, all last touched before the cursor; then `changed` updates after it."""
    warehouse = Warehouse(path)
    started = time.perf_counter()
    with warehouse.connect() as connection:
        connection.execute(
            "INSERT INTO prompts (prompt_id, scheduled_for, prompt, seed, created_at, updated_at) "
            # Days span the partitions (2024-01-01 to yesterday, about three years); each row was
            # last touched a week before its day.
            "SELECT printf('row-%08d', i), day, 'a red fox, take ' || i, i, stamp, stamp FROM ("
            "  SELECT i, DATE '2024-01-01' + CAST(i % (current_date - DATE '2024-01-01') AS INTEGER) AS day,"
            "         CAST(day AS TIMESTAMP) - INTERVAL 7 DAY + to_seconds(i % 86400) AS stamp"
            "  FROM range($rows) t(i))",
            {"rows": rows},
        )
        # Every day rendered as it is now: what the prompts step records after each daily run.
        connection.execute(
            f"INSERT INTO day_renders (scheduled_for, fingerprint) SELECT scheduled_for, {FINGERPRINT_SQL} "
            "FROM prompts WHERE deleted_at IS NULL GROUP BY scheduled_for"
        )
    print(f"built {rows:,} rows in {time.perf_counter() - started:.1f}s")
    cursor = ChangeCursor(watermark=database_now(warehouse))
    time.sleep(0.01)  # the changes must be stamped after the cursor
    with warehouse.connect() as connection:
        first = 0
        for batch in range(CHANGE_BATCHES):
            count = changed // CHANGE_BATCHES + (batch < changed % CHANGE_BATCHES)
            # Distinct rows (a prime stride) scattered over the table, so their days span the years.
            connection.execute(
                "UPDATE prompts SET prompt = prompt || ' (edited)', updated_at = now() WHERE prompt_id IN "
                "(SELECT printf('row-%08d', ($first + j) * 1000003 % $rows) FROM range($count) t(j))",
                {"first": first, "rows": rows, "count": count},
            )
            first += count
        count_query = "SELECT count(*) FROM prompts WHERE updated_at > ?"
        (actual,) = connection.execute(count_query, [cursor.watermark]).fetchone()
    print(f"changed {actual:,} rows after the cursor")
    return warehouse, cursor


def evaluate(definitions, instance, warehouse: Warehouse, cursor: str) -> tuple[float, dg.SensorResult]:
    context = dg.build_sensor_context(
        cursor=cursor, definitions=definitions, instance=instance,
        resources={"warehouse": WarehouseResource(target=warehouse.target)},
    )  # fmt: skip
    started = time.perf_counter()
    result = prompts_changed_sensor.evaluate_tick(context)
    return time.perf_counter() - started, result


def time_bulk(definitions, warehouse: Warehouse, rows: int, bulk: int) -> dict:
    """One statement changes `bulk` rows; then the tick that handles it and the next quiet tick."""
    with dg.DagsterInstance.ephemeral() as instance:
        _, settled = evaluate(definitions, instance, warehouse, None)  # a running sensor's cursor
        with warehouse.connect() as connection:
            connection.execute(
                "UPDATE prompts SET prompt = prompt || ' (bulk)', updated_at = now() WHERE prompt_id IN "
                "(SELECT printf('row-%08d', j * $stride) FROM range($bulk) t(j))",
                {"stride": rows // bulk, "bulk": bulk},
            )
        bulk_s, handled = evaluate(definitions, instance, warehouse, settled.cursor)
        assert handled.run_requests, handled.skip_message
        quiet_s, quiet = evaluate(definitions, instance, warehouse, handled.cursor)
        assert not quiet.run_requests, "a quiet tick requested work"
    print(f"bulk of {bulk:,} rows: tick {bulk_s:.2f}s; next quiet tick {quiet_s * 1000:.1f} ms ({quiet.skip_message})")
    return {"bulk_changed": bulk, "tick_after_bulk_s": round(bulk_s, 4), "quiet_tick_after_bulk_s": round(quiet_s, 4),
            "cursor_bytes_after_bulk": len(handled.cursor.encode())}  # fmt: skip


def time_tick(definitions, warehouse: Warehouse, cursor: ChangeCursor, repeat: int) -> tuple[float, int]:
    """Median seconds of a full sensor evaluation from the same cursor, and the rows it found."""
    times, found = [], 0
    with dg.DagsterInstance.ephemeral() as instance:
        for _ in range(repeat):
            context = dg.build_sensor_context(
                cursor=cursor.to_json(),
                definitions=definitions,
                resources={"warehouse": WarehouseResource(target=warehouse.target)},
                instance=instance,
            )
            started = time.perf_counter()
            result = prompts_changed_sensor.evaluate_tick(context)
            times.append(time.perf_counter() - started)
            assert result.run_requests, result.skip_message
    found = find_changes(warehouse, cursor).rows
    return statistics.median(times), found


def time_bare_query(warehouse: Warehouse, cursor: ChangeCursor, repeat: int) -> tuple[float, int]:
    """The same rows by hand, on a connection that is already open: the floor for any tick."""
    times, rows = [], []
    with warehouse.connect() as connection:
        for _ in range(repeat):
            started = time.perf_counter()
            rows = connection.execute(
                "SELECT prompt_id, scheduled_for, updated_at FROM prompts WHERE updated_at > ?", [cursor.watermark]
            ).fetchall()
            times.append(time.perf_counter() - started)
    return statistics.median(times), len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--changed", type=int, default=1_000)
    parser.add_argument("--bulk", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    definitions = build_definitions()
    with tempfile.TemporaryDirectory(prefix="bench-sensor-") as tmp:
        big, big_cursor = build_warehouse(Path(tmp) / "big.duckdb", args.rows, args.changed)
        with big.connect() as connection:
            # EXPLAIN ANALYZE: DuckDB picks the index at run time; a plain EXPLAIN shows "Seq Scan".
            plan = connection.execute(
                "EXPLAIN ANALYZE " + CHANGES_SINCE_QUERY, {"since": big_cursor.watermark - DEFAULT_OVERLAP, "bulk": []}
            ).fetchall()[0][1]
        scans = re.findall(r"Type: ([\w ]+?)\s*│", plan) + re.findall(r"(Row Groups Scanned: [\d /]+?)\s*│", plan)
        print("change query plan:", "; ".join(scans))
        tick_s, found = time_tick(definitions, big, big_cursor, args.repeat)
        bare_s, bare_rows = time_bare_query(big, big_cursor, args.repeat)
        print(f"{args.rows:,} rows: tick {tick_s * 1000:.1f} ms ({found} changed rows)")
        print(f"{args.rows:,} rows: bare query {bare_s * 1000:.1f} ms ({bare_rows} rows)")
        small, small_cursor = build_warehouse(Path(tmp) / "small.duckdb", SMALL_ROWS, args.changed)
        tick_small_s, _ = time_tick(definitions, small, small_cursor, args.repeat)
        print(f"{SMALL_ROWS:,} rows: tick {tick_small_s * 1000:.1f} ms; ratio {tick_s / tick_small_s:.2f}")
        bulk = time_bulk(definitions, big, args.rows, args.bulk)
    print(json.dumps({
        "rows": args.rows, "changed": found, "tick_s": round(tick_s, 4),
        "bare_query_s": round(bare_s, 4), "tick_s_100k": round(tick_small_s, 4), **bulk,
    }))  # fmt: skip


if __name__ == "__main__":
    main()

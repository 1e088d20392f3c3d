"""Chunked imports on a real warehouse (a DuckDB file; PostgreSQL where marked): readers never fail, rejections stay per row."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from datetime import date

import dagster as dg
import duckdb

from vidgen_assets.defs.prompts.assets import prompts
from vidgen_assets.defs.prompts.checks import prompts_rejections
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_file
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, REPO_ROOT, TEST_DAY

MODELS = {"tiny"}


def write_csv(path, rows: int, bad_every: int = 0) -> None:
    """`rows` rows over 10 days; every `bad_every`-th has a negative seed."""
    with duckdb.connect() as connection:
        connection.execute(
            f"COPY (SELECT printf('row-%07d', i) AS prompt_id, "
            "CAST(DATE '2026-10-01' + CAST(i % 10 AS INTEGER) AS VARCHAR) AS scheduled_for, "
            "'a fox, take ' || i AS prompt, '' AS negative_prompt, "
            f"CASE WHEN {bad_every} > 0 AND i % {max(bad_every, 1)} = 1 THEN '-1' ELSE CAST(i AS VARCHAR) END AS seed "
            f"FROM range({rows}) t(i)) TO '{path}' (HEADER)"
        )


def python(code: str, **env) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT), **env}, cwd=REPO_ROOT,
    )  # fmt: skip


def test_readers_in_other_processes_wait_through_an_import_and_never_fail(vidgen_home, tmp_path):
    path, target = tmp_path / "big.csv", environment.warehouse_target()
    write_csv(path, 60_000)
    Warehouse(target).schema_version()  # migrated before the race starts
    importer = python(f"""
        from vidgen_assets.lib.warehouse import Warehouse
        from vidgen_assets.lib.warehouse.importer import import_file
        result = import_file(Warehouse({target!r}), {str(path)!r}, {{"tiny"}}, {{"tiny"}}, chunk_rows=3_000)
        print(result.chunks, result.stored, round(result.max_hold_s, 3))
    """)
    # Another process reads a day and runs the sensor's scan in a loop until the import is done.
    reader = python(f"""
        import os, sys
        from datetime import date, timedelta
        from vidgen_assets.lib.warehouse import Warehouse
        from vidgen_assets.lib.warehouse.change_rules import plan_days
        from vidgen_assets.lib.warehouse.changes import ChangeCursor
        store, cursor, reads, seen = Warehouse({target!r}), ChangeCursor(), 0, set()
        while True:
            rows = store.day_rows(date(2026, 10, 1))
            plan = plan_days(store, cursor, first_partition=date(2024, 1, 1), last_partition=date(2026, 10, 9),
                             overlap=timedelta(minutes=5), reconcile_days=7)
            cursor, reads = plan.cursor, reads + 1
            seen.add(len(rows))
            if len(rows) == 6_000:
                break
        print(reads, len(seen))
    """)
    out, err = importer.communicate(timeout=300)
    assert importer.returncode == 0, err[-3000:]
    chunks, stored, hold = out.split()
    assert (int(chunks), int(stored)) == (20, 60_000) and float(hold) < 5
    out, err = reader.communicate(timeout=120)
    assert reader.returncode == 0, err[-3000:]
    reads, distinct_counts = map(int, out.split())
    assert reads >= 2 and distinct_counts >= 2  # it read while the import was still going


@BOTH_WAREHOUSES
def test_rejections_name_row_and_field_across_chunks_and_reimports_are_no_change(store, tmp_path):
    path = tmp_path / "p.csv"
    write_csv(path, 1_000, bad_every=100)
    with path.open("a") as handle:
        handle.write("row-0000002,2026-10-05,a duplicate in the last chunk,,5\n")
    first = import_file(store, path, MODELS, MODELS, chunk_rows=300)
    assert (first.chunks, first.stored, first.changed, first.rejected) == (4, 990, 990, 11)
    reasons = [r.reason for r in first.rejections]
    assert "row 302: seed must be between 0 and 9223372036854775807, got -1" in reasons
    assert "row 1001: duplicate prompt_id 'row-0000002'" in reasons
    assert len(store.rejections()) == 11
    again = import_file(store, path, MODELS, MODELS, chunk_rows=300)
    assert (again.changed, again.unchanged) == (0, 990)
    # A valid row under a rejected id clears that id's import rejection.
    path.write_text("prompt_id,scheduled_for,prompt,negative_prompt,seed\nrow-0000301,2026-10-02,fixed,,1\n")
    assert import_file(store, path, MODELS, MODELS).changed == 1
    assert "row-0000301" not in {r["prompt_id"] for r in store.rejections()}


@BOTH_WAREHOUSES
def test_json_lines_and_parquet_stream_in_chunks(store, tmp_path):
    lines = tmp_path / "p.jsonl"
    lines.write_text("\n".join(json.dumps({"prompt_id": f"j{n}", "scheduled_for": "2026-10-01", "prompt": "a kite",
                                           "seed": n}) for n in range(25)))  # fmt: skip
    assert import_file(store, lines, MODELS, MODELS, chunk_rows=10).chunks == 3
    parquet = tmp_path / "p.parquet"
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT 'q' || range AS prompt_id, DATE '2026-10-02' AS scheduled_for, "
                           f"'a tram' AS prompt, range AS seed FROM range(7)) TO '{parquet}' (FORMAT parquet)")  # fmt: skip
    assert import_file(store, parquet, MODELS, MODELS, chunk_rows=5).stored == 7
    assert len(store.day_rows(date(2026, 10, 1))) == 25 and len(store.day_rows(date(2026, 10, 2))) == 7


def test_import_time_rejections_count_in_the_days_check(vidgen_home, tmp_path):
    path = tmp_path / "p.csv"
    path.write_text(f"prompt_id,scheduled_for,prompt,negative_prompt,seed\ngood,{TEST_DAY},a fox,,1\n"
                    f"bad,{TEST_DAY},a fox,,-4\n")  # fmt: skip
    import_file(Warehouse(environment.warehouse_target()), path, MODELS, MODELS)
    definitions = build_definitions()
    result = dg.materialize([prompts, prompts_rejections], partition_key=str(TEST_DAY),
                            resources=definitions.resources, instance=dg.DagsterInstance.ephemeral())  # fmt: skip
    (check,) = result.get_asset_check_evaluations()
    assert not check.passed and check.description == f"{TEST_DAY}: 1 of 2 rows rejected"

"""The warehouse on a real PostgreSQL server: concurrent writers, `vidgen demo` end to end, masked passwords.

The shared behaviours (upserts, rejections, soft deletes, change scans, lineage, stats) run on both
engines in their own test files (`BOTH_WAREHOUSES`); this file holds what only a server has.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from datetime import date

import psycopg
import pytest

from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.connections import WarehouseUnavailable, masked, to_psycopg
from vidgen_assets.lib.warehouse.schema import LATEST_VERSION
from vidgen_assets_tests.conftest import REPO_ROOT, TEST_DAY

WORKERS, CHUNKS, SHARED, OWN, CLIPS = 4, 3, 400, 300, 200

# One collect step, import and sensor at once: each worker migrates on first connect, imports chunks
# that upsert the same shared ids (in its own order) plus its own rows and one bad row, records
# lineage, scans for changes, records a render and soft-deletes some of its rows.
WORKER = """
import sys, time
from datetime import date, timedelta
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.change_rules import plan_days
from vidgen_assets.lib.warehouse.changes import ChangeCursor, soft_delete_ids
from vidgen_assets.lib.warehouse.importer import import_chunks
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage

worker, url, start = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
WORKERS, CHUNKS, SHARED, OWN, CLIPS = {sizes}
time.sleep(max(0.0, start - time.time()))
store, cursor, day = Warehouse(url), ChangeCursor(), date(2026, 10, 1)
for chunk in range(CHUNKS):
    shared = [dict(prompt_id=f"shared-{{n:04d}}", scheduled_for="2026-10-01", prompt=f"w{{worker}} c{{chunk}}", seed=n)
              for n in range(SHARED)]
    rows = (shared[::-1] if worker % 2 else shared) + [
        dict(prompt_id=f"w{{worker}}-{{chunk}}-{{n}}", scheduled_for="2026-10-02", prompt="a fox", seed=n) for n in range(OWN)
    ] + [dict(prompt_id=f"bad-{{worker}}-{{chunk}}", scheduled_for="2026-10-02", prompt="a fox", seed=-1)]
    result = import_chunks(store, [rows], {{"tiny"}}, {{"tiny"}})
    assert (result.stored, result.rejected) == (SHARED + OWN, 1), result
    record_lineage(store, [lineage_row(key=f"clip-{{worker}}-{{chunk}}-{{n}}", kind="clip", day=day, uri="c.mp4",
                                       prompt_id=f"w{{worker}}-{{chunk}}-{{n}}", run_id=f"run-{{worker}}") for n in range(CLIPS)])
    cursor = plan_days(store, cursor, first_partition=date(2024, 1, 1), last_partition=date(2026, 10, 9),
                       overlap=timedelta(minutes=5), reconcile_days=7).cursor
    store.record_render(day, store.day_snapshot(day)[1], f"run-{{worker}}")
assert len(soft_delete_ids(store, [f"w{{worker}}-0-{{n}}" for n in range(10)])) == 10
print("ok", round(store.last_hold_s, 3))
"""


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as connection:
        return connection.execute(query).fetchone()[0]


def test_concurrent_writers_in_several_processes_all_succeed(postgres_url):
    script = textwrap.dedent(WORKER).format(sizes=(WORKERS, CHUNKS, SHARED, OWN, CLIPS))
    start = time.time() + 3  # all processes import first, then start together, migrations included
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(n), postgres_url, str(start)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )  # fmt: skip
        for n in range(WORKERS)
    ]
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0 and out.startswith("ok"), err[-3000:]
    assert count(postgres_url, "SELECT count(*) FROM schema_migrations") == LATEST_VERSION
    assert count(postgres_url, "SELECT count(*) FROM prompts") == SHARED + WORKERS * CHUNKS * OWN
    assert count(postgres_url, "SELECT count(*) FROM prompts WHERE deleted_at IS NOT NULL") == WORKERS * 10
    assert count(postgres_url, "SELECT count(*) FROM clips") == WORKERS * CHUNKS * CLIPS
    assert count(postgres_url, "SELECT count(*) FROM prompt_rejections WHERE source = 'import'") == WORKERS * CHUNKS
    assert count(postgres_url, "SELECT count(*) FROM day_renders") == 1
    # The shared rows hold one writer's last chunk, whole: no row mixes two writers' values.
    assert count(postgres_url, "SELECT count(DISTINCT prompt) FROM prompts WHERE prompt_id LIKE 'shared-%'") == 1


def vidgen(*args: str, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", *args],
        capture_output=True, text=True, timeout=300, env={**os.environ, **env},
    )  # fmt: skip


def test_vidgen_demo_on_postgres_leaves_its_rows_there_and_no_duckdb_file(vidgen_home, postgres_url, postgres_server):
    env = {"VIDGEN_WAREHOUSE": postgres_url}
    demo = vidgen("demo", "--date", TEST_DAY.isoformat(), "--count", "2", env=env)
    assert demo.returncode == 0, demo.stderr[-3000:]
    first = f"demo-{TEST_DAY}-001"
    listed = vidgen("prompts", "list", "--date", TEST_DAY.isoformat(), env=env)
    lineage = vidgen("lineage", first, env=env)
    stats = vidgen("stats", "--days", "1", "--until", TEST_DAY.isoformat(), env=env)
    deleted = vidgen("prompts", "delete", first, env=env)
    doctor = vidgen("doctor", env=env)
    for result in (listed, lineage, stats, deleted):
        assert result.returncode == 0, result.stderr[-3000:]
    assert "2 prompt rows scheduled for" in listed.stdout and first in lineage.stdout
    assert f"{TEST_DAY} clip" in " ".join(stats.stdout.split()) and "deleted 1 prompt rows" in deleted.stdout
    assert masked(postgres_url) in doctor.stdout and f"schema v{LATEST_VERSION} of v{LATEST_VERSION}" in doctor.stdout

    assert count(postgres_url, "SELECT count(*) FROM prompts WHERE deleted_at IS NULL") == 1
    kinds = dict(psycopg.connect(postgres_url).execute("SELECT kind, count(*) FROM clips GROUP BY kind").fetchall())
    assert kinds == {"keyframe": 2, "clip": 2, "reel": 1}
    assert count(postgres_url, "SELECT count(*) FROM render_stats") >= 2 and count(postgres_url, "SELECT count(*) FROM day_renders") == 1
    assert not list(vidgen_home.rglob("*.duckdb*")) and not list(REPO_ROOT.glob("*.duckdb*"))
    # The password is in no output, and in no file the run left (event log, run config, media manifests).
    secret = postgres_server.password
    for result in (demo, listed, lineage, stats, deleted, doctor):
        assert secret not in result.stdout + result.stderr
    leaked = [path for path in vidgen_home.rglob("*") if path.is_file() and secret.encode() in path.read_bytes()]
    assert not leaked


def test_a_wrong_password_or_an_absent_server_is_a_clear_masked_error(postgres_url, postgres_server):
    wrong = postgres_url.replace(postgres_server.password, "not-the-password-123")
    with pytest.raises(WarehouseUnavailable, match="password authentication failed") as error:
        Warehouse(wrong).day_count(date(2026, 10, 1))
    assert "not-the-password-123" not in str(error.value) and "vidgen:***@127.0.0.1" in str(error.value)
    absent = f"postgresql://vidgen:s3cret-pass@127.0.0.1:{postgres_server.port + 1}/nowhere?connect_timeout=2"
    doctor = vidgen("doctor", env={"VIDGEN_WAREHOUSE": absent})
    assert "warehouse" in doctor.stdout and "WarehouseUnavailable" in doctor.stdout
    assert "s3cret-pass" not in doctor.stdout + doctor.stderr


@pytest.mark.parametrize(
    ("target", "shown"),
    [
        ("postgresql://u:p%40ss@db.internal:5432/vidgen", "postgresql://u:***@db.internal:5432/vidgen"),
        ("postgres://u@db/vidgen?sslmode=require&password=x", "postgres://u@db/vidgen?sslmode=require&password=***"),
        ("md:vidgen?motherduck_token=abc", "md:vidgen?motherduck_token=***"),
        ("/data/warehouse.duckdb", "/data/warehouse.duckdb"),
    ],
)
def test_masked_targets(target, shown):
    assert masked(target) == shown


def test_placeholders_are_rewritten_outside_quotes_only():
    sql = "SELECT ?, $days, '?', 'it''s $x', 100 % 7 FROM t WHERE a = ?"
    assert to_psycopg(sql) == "SELECT %s, %(days)s, '?', 'it''s $x', 100 %% 7 FROM t WHERE a = %s"


def test_fingerprints_ignore_row_order_on_postgres(postgres_url, postgres_server):
    from vidgen_assets.lib.warehouse import PromptSpec

    one, other = Warehouse(postgres_url), Warehouse(postgres_server.new_database())
    specs = [PromptSpec(f"r{n}", date(2026, 10, 1), f"a fox {n}", seed=n) for n in range(5)]
    one.upsert_prompts(specs)
    other.upsert_prompts(specs[::-1])
    assert one.day_snapshot(date(2026, 10, 1))[1] == other.day_snapshot(date(2026, 10, 1))[1]
    one.upsert_prompts([PromptSpec("r0", date(2026, 10, 1), "a heron", seed=0)])
    assert one.day_snapshot(date(2026, 10, 1))[1] != other.day_snapshot(date(2026, 10, 1))[1]

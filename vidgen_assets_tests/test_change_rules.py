"""Change rules on a real warehouse (DuckDB file; PostgreSQL where marked): moves, hard deletes, silent edits, future days, bounded cursors, UTC."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import date, datetime, timedelta, timezone

import dagster as dg

from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.change_rules import Attempts, plan_days
from vidgen_assets.lib.warehouse.changes import ChangeCursor, database_now, find_changes
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, REPO_ROOT, add, sql

FIRST = date(2024, 1, 1)
LAST = date(2026, 10, 20)  # "today" for the lib-level plans: the clock is an input there
OVERLAP = timedelta(minutes=5)


def render(store: Warehouse, *days: date) -> None:
    """What the reel step records once the day's reel is published."""
    for day in days:
        store.record_render(day, store.day_snapshot(day)[1], "run")


def plan(store: Warehouse, cursor: ChangeCursor, last: date = LAST, reconcile_days: int = 7):
    return plan_days(store, cursor, first_partition=FIRST, last_partition=last, overlap=OVERLAP,
                     reconcile_days=reconcile_days)  # fmt: skip


@BOTH_WAREHOUSES
def test_a_moved_row_requests_its_old_and_new_day(store):
    old, new = date(2026, 5, 1), date(2026, 5, 9)
    add(store, ("m", old), ("stay", old))
    render(store, old)
    cursor = plan(store, ChangeCursor()).cursor
    add(store, ("m", new))
    moved = plan(store, cursor)
    assert sorted(moved.requests) == [old, new]
    render(store, old, new)
    assert not plan(store, moved.cursor).requests


@BOTH_WAREHOUSES
def test_hard_deletes_and_silent_edits_are_reconciled_in_the_window_only(store):
    recent, older = LAST - timedelta(days=2), LAST - timedelta(days=30)
    add(store, ("a", recent), ("b", recent), ("c", older), ("d", older))
    render(store, recent, older)
    quiet = plan(store, ChangeCursor(watermark=database_now(store)))
    assert not quiet.requests  # rendered days with the same rows need nothing
    sql(store, "DELETE FROM prompts WHERE prompt_id IN ('a', 'c')")  # invisible to the change scan
    deleted = plan(store, quiet.cursor)
    assert deleted.changes.rows == 0 and sorted(deleted.requests) == [recent] == deleted.reconciled
    # Still unrendered on the next tick: the same request is not made twice.
    assert not plan(store, deleted.cursor).requests
    render(store, recent)
    sql(store, "UPDATE prompts SET prompt = 'edited by hand' WHERE prompt_id = 'b'")  # updated_at untouched
    edited = plan(store, deleted.cursor)
    assert sorted(edited.requests) == [recent]
    assert sorted(plan(store, edited.cursor, reconcile_days=40).requests) == [older]  # recent: already asked


@BOTH_WAREHOUSES
def test_a_rendered_day_whose_rows_are_all_gone_is_requested_but_an_empty_new_day_is_not(store):
    day, never = LAST - timedelta(days=1), LAST - timedelta(days=3)
    add(store, ("x", day))
    render(store, day)
    sql(store, "DELETE FROM prompts")
    result = plan(store, ChangeCursor(watermark=database_now(store)))
    assert sorted(result.requests) == [day] and never not in result.requests


def test_a_future_day_is_requested_when_it_becomes_a_partition(store):
    future = LAST + timedelta(days=3)
    add(store, ("later", future))
    before = plan(store, ChangeCursor(), reconcile_days=1)
    assert not before.requests and before.pending == [future]
    assert plan(store, before.cursor, reconcile_days=1).pending == [future]  # kept across quiet ticks
    arrived = plan(store, before.cursor, last=future, reconcile_days=1)
    assert sorted(arrived.requests) == [future] and not arrived.pending


@BOTH_WAREHOUSES
def test_the_sensor_requests_a_pending_day_once_it_is_a_partition(store):
    day = date(2026, 10, 5)
    add(store, ("p", day))
    # A cursor saved while the day was in the future, with the change already behind its watermark.
    cursor = ChangeCursor(watermark=database_now(store) + timedelta(hours=1), pending=frozenset({day}))
    definitions = build_definitions()
    context = dg.build_sensor_context(cursor=cursor.to_json(), definitions=definitions,
                                      resources={"warehouse": WarehouseResource(target=store.target)},
                                      instance=dg.DagsterInstance.ephemeral())  # fmt: skip
    result = prompts_changed_sensor.evaluate_tick(context)
    assert [r.partition_key for r in result.run_requests] == [day.isoformat()]
    assert not ChangeCursor.from_json(result.cursor).pending


@BOTH_WAREHOUSES
def test_changes_that_leave_a_day_as_rendered_request_nothing(store):
    day = LAST - timedelta(days=20)
    add(store, ("a", day), ("b", day))
    render(store, day)
    # A first start looking back over a rendered day, then the same rows imported again.
    first = plan(store, ChangeCursor(watermark=database_now(store) - timedelta(hours=24)))
    assert not first.requests and first.unchanged == [day]
    add(store, ("a", day), text="changed")
    add(store, ("a", day))  # and back: the day equals its last render again
    assert not plan(store, first.cursor).requests


def test_a_bulk_change_keeps_the_cursor_small_and_the_next_scan_short(store):
    rows = 20_000
    sql(store, "INSERT INTO prompts (prompt_id, scheduled_for, prompt) "
               "SELECT printf('bulk-%08d', i), DATE '2026-01-01' + CAST(i % 300 AS INTEGER), 'x' FROM range(?) t(i)",
        [rows])  # fmt: skip
    bulk = find_changes(store, ChangeCursor(watermark=database_now(store) - timedelta(hours=1)))
    assert bulk.rows == rows and len(bulk.new_cursor.to_json()) <= 64_000
    again = find_changes(store, ChangeCursor.from_json(bulk.new_cursor.to_json()))
    assert again.rows == 0 and again.scanned == 0  # inside the overlap, but its change time is handled
    assert again.new_cursor.bulk == bulk.new_cursor.bulk
    # Once the bulk is older than the overlap window, a quiet scan reads nothing.
    later = find_changes(store, bulk.new_cursor, overlap=timedelta(0))
    assert later.scanned == 0 and later.new_cursor.seen == frozenset()


def test_a_version_1_cursor_is_still_read_as_utc():
    old = '{"version":1,"watermark":"2026-11-01T05:30:00","seen":[["a","2026-11-01T05:29:00"]]}'
    cursor = ChangeCursor.from_json(old)
    assert cursor.watermark == datetime(2026, 11, 1, 5, 30, tzinfo=timezone.utc)
    assert cursor.handled("a", "2026-11-01T05:29:00+00:00")


def in_zone(zone: str, code: str) -> str:
    """Run `code` in a fresh interpreter whose local time zone is `zone`; returns its stdout."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120,
        env={**os.environ, "TZ": zone, "PYTHONPATH": str(REPO_ROOT)}, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout.strip()


def test_a_new_york_writer_is_seen_by_a_utc_sensor_across_the_dst_fall_back(store):
    # 01:30 EDT is 05:30 UTC; 01:20 EST, an hour later, is 06:20 UTC: a local clock goes backwards.
    writer = f"""
        from datetime import date
        from vidgen_assets.lib.warehouse import PromptSpec, Warehouse
        store = Warehouse({store.target!r})
        store.upsert_prompts([PromptSpec("now", date(2026, 10, 3), "a fox")])
        with store.connect() as c:
            c.execute("INSERT INTO prompts (prompt_id, scheduled_for, prompt, updated_at) VALUES "
                      "('edt', DATE '2026-10-01', 'x', TIMESTAMPTZ '2026-11-01 01:30:00-04'), "
                      "('est', DATE '2026-10-02', 'x', TIMESTAMPTZ '2026-11-01 01:20:00-05')")
            print(c.execute("SELECT updated_at FROM prompts WHERE prompt_id = 'now'").fetchone()[0].isoformat())
    """
    written = datetime.fromisoformat(in_zone("America/New_York", writer))
    assert written.utcoffset() == timedelta(0) and abs(written - datetime.now(timezone.utc)) < timedelta(minutes=5)
    ticker = f"""
        from datetime import datetime, timedelta
        from vidgen_assets.lib.warehouse import Warehouse
        from vidgen_assets.lib.warehouse.changes import ChangeCursor, find_changes
        cursor = ChangeCursor(watermark=datetime.fromisoformat("2026-11-01T06:00:00+00:00"))
        changes = find_changes(Warehouse({store.target!r}), cursor, overlap=timedelta(0))
        print(",".join(d.isoformat() for d in changes.days))
    """
    expected = "2026-10-02,2026-10-03"  # the EST row and the fresh one; not the earlier EDT row
    assert in_zone("UTC", ticker) == expected
    assert in_zone("America/New_York", ticker) == expected  # the sensor's own zone does not matter either


def test_a_failed_day_is_retried_under_new_keys_then_given_up_once_and_a_running_one_waits(store):
    day = date(2026, 3, 3)  # outside the reconcile window: only its request keeps it a candidate
    add(store, ("a", day))
    outcome = {"attempts": Attempts()}

    def tick(cursor):
        return plan_days(store, cursor, first_partition=FIRST, last_partition=LAST, overlap=OVERLAP, reconcile_days=7,
                         attempts=lambda d, fingerprint: outcome["attempts"], max_attempts=2)  # fmt: skip

    first = tick(ChangeCursor())
    assert list(first.requests) == [day] and first.fingerprints == {day: store.day_fingerprints([day])[day]}
    outcome["attempts"] = Attempts(running=True)
    running = tick(first.cursor)
    assert not running.requests and running.running == [day]
    outcome["attempts"] = Attempts(failed=1, reason="run r1 step videos: boom")
    retried = tick(running.cursor)
    assert retried.retried == {day: 1} and retried.requests[day] == f"{first.requests[day]}:retry-1"
    assert not tick(retried.cursor).requests  # the retry waits for its run like any request
    outcome["attempts"] = Attempts(failed=2, reason="run r2 step videos: boom")
    gave_up = tick(retried.cursor)
    assert not gave_up.requests and gave_up.gave_up == {day: "2 runs failed for the same rows; the last: run r2 step videos: boom"}
    again = tick(gave_up.cursor)
    assert not again.requests and not again.gave_up  # said once
    render(store, day)  # published by hand: the day leaves the cursor
    assert day not in dict(tick(again.cursor).cursor.requested)

"""The change sensor: cursor matrix through `evaluate_tick`, and one change rendered end to end."""

from __future__ import annotations

from datetime import date, timedelta

import dagster as dg
import pytest

from vidgen_assets.defs.prompts.sensors import prompts_changed_sensor
from vidgen_assets.defs.resources import WarehouseResource
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib import environment
from vidgen_assets.lib.dagster_backfill import backfill_run_request
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.changes import ChangeCursor, CursorError, database_now, find_changes, soft_delete
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, add, sql

DAYS = [date(2026, 10, 1) + timedelta(days=n) for n in range(20)]
ASSETS = {dg.AssetKey(name) for name in ("theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats")}


@pytest.fixture(scope="module")
def definitions() -> dg.Definitions:
    return build_definitions()


def tick(definitions, store: Warehouse, cursor: str | None):
    context = dg.build_sensor_context(
        cursor=cursor,
        definitions=definitions,
        resources={"warehouse": WarehouseResource(target=store.target)},
        instance=dg.DagsterInstance.ephemeral(),
    )
    return prompts_changed_sensor.evaluate_tick(context)


def keys(result) -> list[str]:
    return [request.partition_key for request in result.run_requests]


@BOTH_WAREHOUSES
def test_no_change_skips_and_says_what_it_read(definitions, store):
    empty = tick(definitions, store, None)
    assert not empty.run_requests and "No prompt rows changed after" in empty.skip_message
    add(store, ("a", DAYS[0]))
    first = tick(definitions, store, empty.cursor)
    assert keys(first) == [DAYS[0].isoformat()]
    again = tick(definitions, store, first.cursor)
    assert not again.run_requests
    assert "read 1 rows" in again.skip_message and "all already handled" in again.skip_message
    # The watermark follows the database clock even when nothing changes, so quiet ticks read ~nothing.
    assert ChangeCursor.from_json(again.cursor).watermark > ChangeCursor.from_json(first.cursor).watermark


@BOTH_WAREHOUSES
def test_inserts_updates_and_soft_deletes_request_their_days(definitions, store):
    cursor = tick(definitions, store, None).cursor
    add(store, ("a", DAYS[0]), ("b", DAYS[1]), ("c", DAYS[1]))
    inserted = tick(definitions, store, cursor)
    assert keys(inserted) == [DAYS[0].isoformat(), DAYS[1].isoformat()]
    assert inserted.run_requests[1].tags["vidgen/changed_rows"] == "2"

    add(store, ("b", DAYS[1]), text="a heron")  # an update
    add(store, ("a", DAYS[0]))  # re-imported unchanged: not a change
    updated = tick(definitions, store, inserted.cursor)
    assert keys(updated) == [DAYS[1].isoformat()]
    assert updated.run_requests[0].run_key != inserted.run_requests[1].run_key

    store.record_render(DAYS[0], store.day_fingerprints([DAYS[0]])[DAYS[0]], "run-a")  # as the reel step does once published
    assert soft_delete(store, ["a"]) == 1
    deleted = tick(definitions, store, updated.cursor)
    assert keys(deleted) == [DAYS[0].isoformat()]
    # A tool that sets only deleted_at is caught too.
    sql(store, "UPDATE prompts SET deleted_at = now() WHERE prompt_id = 'c'")
    external = tick(definitions, store, deleted.cursor)
    assert keys(external) == [DAYS[1].isoformat()]
    assert not tick(definitions, store, external.cursor).run_requests


@BOTH_WAREHOUSES
def test_late_commit_inside_the_overlap_is_picked_up_once(definitions, store):
    add(store, ("a", DAYS[0]))
    first = tick(definitions, store, None)
    watermark = ChangeCursor.from_json(first.cursor).watermark
    # Committed after the tick, stamped before its watermark: a transaction that began earlier.
    insert = "INSERT INTO prompts (prompt_id, scheduled_for, prompt, updated_at) VALUES (?, ?, 'late', ?)"
    sql(store, insert, ["late", DAYS[3], watermark - timedelta(minutes=2)])
    sql(store, insert, ["too-late", DAYS[4], watermark - timedelta(minutes=10)])  # beyond the 5 min overlap
    late = tick(definitions, store, first.cursor)
    assert keys(late) == [DAYS[3].isoformat()]
    assert not tick(definitions, store, late.cursor).run_requests


def test_many_days_become_one_backfill_of_exactly_those_days(definitions, store, monkeypatch):
    cursor = tick(definitions, store, None).cursor
    add(store, *[(f"p{n}", day) for n, day in enumerate(DAYS[:5])])
    assert len(tick(definitions, store, cursor).run_requests) == 5  # at the limit: one run per day

    changed = DAYS[2:14:2] + [DAYS[15]]
    add(store, *[(f"q{n}", day) for n, day in enumerate(changed)])
    sql(store, "INSERT INTO prompts (prompt_id, scheduled_for, prompt) VALUES ('future', DATE '2031-01-01', 'x')")
    result = tick(definitions, store, cursor)
    (request,) = result.run_requests
    subset = request.asset_graph_subset
    assert subset is not None and request.run_key is None and subset.asset_keys == ASSETS
    expected = sorted({d.isoformat() for d in DAYS[:5] + changed})
    for asset in ASSETS:
        assert sorted(subset.get_partitions_subset(asset).get_partition_keys()) == expected

    monkeypatch.setenv("VIDGEN_SENSOR_MAX_RUNS", "20")
    assert keys(tick(definitions, store, cursor)) == expected


def test_days_outside_the_partitions_are_skipped(definitions, store):
    cursor = tick(definitions, store, None).cursor
    sql(store, "INSERT INTO prompts (prompt_id, scheduled_for, prompt) VALUES ('future', DATE '2031-01-01', 'x')")
    result = tick(definitions, store, cursor)
    assert not result.run_requests and "not yet partitions 2031-01-01" in result.skip_message
    assert ChangeCursor.from_json(result.cursor).pending == {date(2031, 1, 1)}  # kept for when it becomes one
    with pytest.raises(ValueError, match="no partitions"):
        backfill_run_request(definitions.get_repository_def().asset_graph, ["reel"], ["2031-01-01"])


def test_restart_with_an_old_cursor_rescans_with_the_same_run_keys(definitions, store):
    old = tick(definitions, store, None).cursor
    add(store, ("a", DAYS[0]), ("b", DAYS[1]))
    first = tick(definitions, store, old)
    replay = tick(definitions, store, old)  # the new cursor was lost: same changes, same run keys
    assert [r.run_key for r in replay.run_requests] == [r.run_key for r in first.run_requests]
    assert len(first.run_requests) == 2


@BOTH_WAREHOUSES
def test_malformed_cursor_resets_to_a_lookback_instead_of_crashing(definitions, store):
    add(store, ("recent", DAYS[0]))
    sql(store, "INSERT INTO prompts (prompt_id, scheduled_for, prompt, updated_at) VALUES ('old', ?, 'x', ?)",
        [DAYS[1], database_now(store) - timedelta(days=3)])  # fmt: skip
    for broken in ("not json", '{"version": 1, "watermark": "yesterday", "seen": []}', "[1, 2]"):
        result = tick(definitions, store, broken)
        assert keys(result) == [DAYS[0].isoformat()]  # the last 24 h only, not the whole table
        assert ChangeCursor.from_json(result.cursor).watermark is not None


@pytest.mark.parametrize("text", ["", "{}", '{"version": 2}', '{"version": 1, "watermark": null, "seen": [["a"]]}'])
def test_cursor_errors_are_specific(text):
    with pytest.raises(CursorError):
        ChangeCursor.from_json(text)


def test_future_stamps_do_not_move_the_watermark_past_the_clock(store):
    five_rows = "INSERT INTO prompts (prompt_id, scheduled_for, prompt) SELECT 'r' || range, ?, 'x' FROM range(5)"
    sql(store, five_rows, [DAYS[0]])
    first = find_changes(store, ChangeCursor())
    assert first.rows == 5 and ChangeCursor.from_json(first.new_cursor.to_json()) == first.new_cursor
    sql(store, "UPDATE prompts SET updated_at = now() + INTERVAL 1 DAY WHERE prompt_id = 'r0'")
    future = find_changes(store, first.new_cursor)
    assert future.rows == 1 and future.new_cursor.watermark <= database_now(store)
    assert find_changes(store, future.new_cursor).rows == 0


def test_a_changed_row_is_rendered_end_to_end(definitions, store):
    day = DAYS[4].isoformat()
    add(store, ("fox", DAYS[4]), ("boat", DAYS[4]))
    first = tick(definitions, store, None)
    (request,) = first.run_requests
    assert request.partition_key == day and set(request.asset_selection) == ASSETS
    job = definitions.resolve_job_def("daily_reel_job")
    media = open_media_store(environment.media_uri())

    def render(partition_key: str) -> dict[str, bool]:
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(partition_key=partition_key, instance=instance)
            assert result.success
            items = result.output_for_node("videos")["items"]
        assert all(media.exists(item["media_key"]) for item in items)
        return {item["prompt_id"]: item["cache_hit"] for item in items}

    assert render(request.partition_key) == {"fox": False, "boat": False}
    add(store, ("boat", DAYS[4]), text="a paper boat")
    (changed,) = tick(definitions, store, first.cursor).run_requests
    assert changed.partition_key == day and changed.run_key != request.run_key
    assert render(changed.partition_key) == {"fox": True, "boat": False}  # only the changed row renders again

"""Warehouse migrations, upserts and row validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from vidgen_assets.lib.warehouse import PromptSpec, RowError, Warehouse, validate_row, validate_rows
from vidgen_assets.lib.warehouse.fields import parse_day
from vidgen_assets.lib.warehouse.importer import read_chunks
from vidgen_assets.lib.warehouse.schema import LATEST_VERSION
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

MODELS = {"tiny", "sdxl-turbo"}
DAY = "2026-11-01"


def row(**fields) -> dict:
    return {"prompt_id": "r1", "scheduled_for": DAY, "prompt": "a fox", "seed": "3", **fields}


@BOTH_WAREHOUSES
def test_migrations_apply_once_and_are_recorded(store):
    assert store.schema_version() == LATEST_VERSION
    assert Warehouse(store.target).schema_version() == LATEST_VERSION  # a second start changes nothing
    with store.connect() as connection:
        assert connection.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == LATEST_VERSION


@BOTH_WAREHOUSES
def test_upsert_updates_changed_rows_only(store):
    warehouse = store
    spec = PromptSpec("r1", date(2026, 11, 1), "a fox", seed=3)
    warehouse.upsert_prompts([spec])
    with warehouse.connect() as connection:
        (first,) = connection.execute("SELECT updated_at FROM prompts").fetchone()
    warehouse.upsert_prompts([spec])
    with warehouse.connect() as connection:
        (unchanged,) = connection.execute("SELECT updated_at FROM prompts").fetchone()
    warehouse.upsert_prompts([PromptSpec("r1", date(2026, 11, 1), "a fox at dusk", seed=3)])
    with warehouse.connect() as connection:
        prompt, changed = connection.execute("SELECT prompt, updated_at FROM prompts").fetchone()
    assert unchanged == first and changed > first and prompt == "a fox at dusk"


@BOTH_WAREHOUSES
def test_prompt_text_is_data_not_sql(store):
    warehouse = store
    hostile = "'); DROP TABLE prompts; -- ? $x %s %(y)s"
    warehouse.upsert_prompts([PromptSpec("r1", date(2026, 11, 1), hostile)])
    assert warehouse.day_rows(date(2026, 11, 1))[0]["prompt"] == hostile


@BOTH_WAREHOUSES
def test_a_day_whose_rows_are_all_deleted_names_its_deletions_and_the_reel_it_withdraws(store):
    from vidgen_assets.lib.warehouse.changes import soft_delete
    from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage, withdrawal_reason

    day = date.fromisoformat(DAY)
    rows = [PromptSpec("kite", day, "a kite"), PromptSpec("gull", day, "a gull"), PromptSpec("owl", day + timedelta(days=1), "an owl")]
    store.upsert_prompts(rows)
    record_lineage(store, [lineage_row(key="reel-1", kind="reel", day=day, uri="media/reels/reel-1.mp4")])
    assert soft_delete(store, ["kite", "gull"]) == 2
    assert withdrawal_reason(store, day) == "withdrawn: the day has no live prompt rows (2 deleted); withdraws reel-1"
    # Once withdrawn, the newest reel record is the withdrawal itself: nothing more to name.
    record_lineage(store, [lineage_row(key="withdrawn-1", kind="reel", day=day, uri="")])
    assert withdrawal_reason(store, day) == "withdrawn: the day has no live prompt rows (2 deleted)"


def test_valid_row_with_parts_and_overrides():
    spec = validate_row(
        row(prompt="", subject="a heron", action="taking off", style="ink", motion_bucket_ids="1;255", num_frames="6"),
        MODELS, MODELS,
    )  # fmt: skip
    assert spec.prompt == "a heron taking off, ink"
    assert spec.motion_bucket_ids == (1, 255) and spec.num_frames == 6 and spec.seed == 3


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": "x" * 5000}, "5000 characters"),
        ({"prompt": "a\x00b"}, "control character"),
        ({"prompt": "a\udc80b"}, "lone surrogate"),
        ({"seed": "-1"}, "seed must be between"),
        ({"seed": float("nan")}, "seed must be an integer"),
        ({"seed": "12abc"}, "seed must be an integer"),
        ({"scheduled_for": "2026-13-45"}, "scheduled_for must be a date"),
        ({"scheduled_for": "9999-01-01"}, "outside"),
        ({"scheduled_for": None}, "scheduled_for is empty"),
        ({"motion_bucket_ids": "10;256"}, "motion_bucket_ids must be between 0 and 255"),
        ({"keyframe_model": "dall-e"}, "keyframe_model 'dall-e' is unknown"),
        ({"num_frames": "0"}, "num_frames must be between"),
        ({"prompt_id": ""}, "prompt_id is empty"),
    ],
)
def test_bad_rows_name_the_field(fields, reason):
    with pytest.raises(RowError, match=reason):
        validate_row(row(**fields), MODELS, MODELS)


def test_duplicates_are_rejected_and_the_rest_kept():
    valid, rejected = validate_rows([row(), row(prompt="b"), row(prompt_id="r2", seed="x")], MODELS, MODELS)
    assert [s.prompt for s in valid] == ["a fox"]
    assert [r.reason for r in rejected] == ["row 2: duplicate prompt_id 'r1'", "row 3: seed must be an integer, got 'x'"]


def test_migration_to_utc_keeps_existing_rows_and_reads_naive_times_as_utc(tmp_path):
    import duckdb

    from vidgen_assets.lib.warehouse.schema import MIGRATIONS

    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as connection:  # a warehouse as version 3 left it
        connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, "
                           "applied_at TIMESTAMP DEFAULT current_timestamp)")  # fmt: skip
        for version, name, sql in MIGRATIONS[:3]:
            connection.execute(sql)
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name])
        connection.execute("INSERT INTO prompts (prompt_id, scheduled_for, prompt, seed, updated_at) "
                           "VALUES ('old', DATE '2026-11-01', 'a fox', 3, TIMESTAMP '2026-11-01 05:30:00')")  # fmt: skip
    warehouse = Warehouse(path)
    assert warehouse.schema_version() == LATEST_VERSION
    (row,) = warehouse.day_rows(date(2026, 11, 1), extra=("updated_at", "previous_scheduled_for"))
    assert row["prompt"] == "a fox" and row["seed"] == 3 and row["previous_scheduled_for"] is None
    assert row["updated_at"].isoformat() == "2026-11-01T05:30:00+00:00"


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("2026-12-01", date(2026, 12, 1)),
        ("2026-12-01T23:30:00-08:00", date(2026, 12, 2)),  # its UTC date, as a Parquet TIMESTAMPTZ gives
        ("2026-12-01 23:30-08:00", date(2026, 12, 2)),
        ("2026-12-01T00:30+01:00", date(2026, 11, 30)),
        ("2026-12-01T23:30:00Z", date(2026, 12, 1)),
        ("2026-12-01T23:30:00.250", date(2026, 12, 1)),  # naive: taken as UTC
        (datetime(2026, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-8))), date(2026, 12, 2)),
    ],
)
def test_a_day_is_the_utc_date_of_an_instant_whatever_its_spelling(value, day):
    assert parse_day(value) == day


@pytest.mark.parametrize("value", ["2026-12-01 is the day", "2026-12-01\x00", "2026-12-01T", "20261201",
                                   "2026-W48-1", "2026-12-01T25:00", "2026-12-01T10:00+8"])  # fmt: skip
def test_a_day_with_anything_after_it_is_rejected_not_cut_to_ten_characters(value):
    with pytest.raises(RowError, match="scheduled_for must be a date YYYY-MM-DD or an ISO 8601 date-time"):
        parse_day(value)


def test_an_unclosed_csv_quote_rejects_its_row_naming_the_rows_it_swallowed(tmp_path):
    path = tmp_path / "quote.csv"
    lines = [f"q-{i},2026-12-01,p{i},,{i},," for i in range(2, 50)]
    path.write_text("prompt_id,scheduled_for,prompt,negative_prompt,seed,subject,action\n"
                    'q-1,2026-12-01,"unterminated,,1,,\n' + "\n".join(lines) + "\n")  # fmt: skip
    (chunk,) = read_chunks(path)
    valid, (rejection,) = validate_rows(chunk, MODELS, MODELS)
    assert valid == [] and rejection.prompt_id == "q-1"
    assert rejection.reason.startswith("row 1: an unclosed quote in prompt (line 2) appears to have swallowed the "
                                       "following 48 lines, 48 of them rows ('q-2', 'q-3', 'q-4', 'q-5', 'q-6' and 43 more)")  # fmt: skip


def test_a_quoted_prompt_over_several_lines_still_imports(tmp_path):
    path = tmp_path / "excel.csv"  # Excel: Alt+Enter is a LF inside the quoted field, rows end in CRLF;
    # the second line has a comma per column but no date: prose, not a swallowed row
    path.write_bytes(b'prompt_id,scheduled_for,prompt,negative_prompt,seed\r\n'
                     b'm1,2026-12-01,"a fox,\nin the snow, at dusk, slowly, quietly, softly",,1\r\nm2,2026-12-01,a cat,,2\r\n')  # fmt: skip
    (chunk,) = read_chunks(path)
    valid, rejected = validate_rows(chunk, MODELS, MODELS)
    assert rejected == [] and [s.prompt for s in valid] == ["a fox,\nin the snow, at dusk, slowly, quietly, softly", "a cat"]

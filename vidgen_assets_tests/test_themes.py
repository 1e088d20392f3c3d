"""Themes on a real warehouse: imports with quarantined rows, upserts, the CLI, the rows a theme writes, the change plan, PostgreSQL."""

from __future__ import annotations

import json
from datetime import date, timedelta

import duckdb
import pytest

from vidgen_assets.cli import main
from vidgen_assets.lib.warehouse.change_rules import plan_days
from vidgen_assets.lib.warehouse.changes import ChangeCursor, database_now
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.lib.warehouse.themes import (
    day_themes, delete_themes, import_theme_file, import_themes, reject_theme, retire_theme_rows, theme_rejections,
    theme_row_counts, write_theme_rows,
)  # fmt: skip
from vidgen_assets_tests.conftest import add

DAY = date(2026, 11, 1)
MODELS = ({"tiny"}, {"tiny", "tiny-t2v"})
HEADER = "theme_id,scheduled_for,theme,count,style,music_prompt,keyframe_model,video_model"


def themes_of(store, day=DAY) -> dict[str, dict]:
    return {t["theme_id"]: t for t in day_themes(store, day)}


def reasons(store) -> dict[str, str]:
    return {r["theme_id"]: r["reason"] for r in theme_rejections(store)}


def test_imports_keep_good_rows_and_quarantine_bad_ones_in_every_format(store, tmp_path):
    lines = [
        HEADER,
        "birds,2026-11-01,  winter birds  ,3.0,watercolor,soft piano,tiny,tiny-t2v",
        "nul,2026-11-01,bad\x00theme,2,,,,",
        "zero,2026-11-01,fine,0,,,,",
        "half,2026-11-01,fine,2.5,,,,",
        "huge,2026-11-01,fine,1e9,,,,",
        "model,2026-11-01,fine,2,,,sdxl-nope,",
        "baddate,2026-13-01,fine,2,,,,",
        "early,2019-05-01,fine,2,,,,",
        "cafe\u0301,2026-11-02,caf\u0065\u0301 at dawn,1,,,,",
    ]
    path = tmp_path / "themes.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode())  # Excel's "CSV UTF-8"
    result = import_theme_file(store, path, *MODELS, first_day=date(2024, 1, 1))
    assert (result.rows, result.new, result.rejected) == (9, 2, 7)
    birds = themes_of(store)["birds"]
    assert (birds["theme"], birds["count"], birds["style"], birds["video_model"]) == ("winter birds", 3, "watercolor", "tiny-t2v")
    assert themes_of(store, DAY + timedelta(days=1))["café"]["theme"] == "café at dawn"  # ids and text in NFC
    why = reasons(store)
    assert "theme contains control character '\\x00'" in why["nul"]
    assert "count must be between 1 and 200, got 0" in why["zero"]
    assert "count must be a whole number, got '2.5'" in why["half"] and "whole number" in why["huge"]
    assert "keyframe_model 'sdxl-nope' is unknown" in why["model"]
    assert "scheduled_for must be a date" in why["baddate"] and "before 2024-01-01" in why["early"]

    jsonl = tmp_path / "themes.jsonl"
    jsonl.write_text('{"theme_id": "j1", "scheduled_for": "2026-11-01", "theme": "rain", "count": 2}\n{not json\n'
                     '{"theme_id": "j2", "scheduled_for": "2026-11-01", "theme": " ", "count": 2}\n')  # fmt: skip
    result = import_theme_file(store, jsonl, *MODELS)
    assert (result.new, result.rejected) == (1, 2) and "is not valid JSON" in result.rejections[0].reason
    assert "theme is empty" in reasons(store)["j2"]

    parquet = tmp_path / "themes.parquet"
    duckdb.sql("SELECT * FROM (VALUES ('p1', DATE '2026-11-01', 'fog', 4.0), ('p2', DATE '2026-11-01', 'fog', -1.0)) "
               f"t(theme_id, scheduled_for, theme, count)").write_parquet(str(parquet))  # fmt: skip
    result = import_theme_file(store, parquet, *MODELS)
    assert (result.new, result.rejected) == (1, 1) and themes_of(store)["p1"]["count"] == 4
    assert sorted(themes_of(store)) == ["birds", "j1", "p1"]

    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("theme_id;scheduled_for;theme;count\nx;2026-11-01;y;1\n")
    with pytest.raises(ValueError, match="separated by ';'"):
        import_theme_file(store, semicolons, *MODELS)


def test_an_unchanged_theme_is_left_alone_and_a_change_or_a_move_is_stamped(store):
    row = {"theme_id": "t", "scheduled_for": "2026-11-01", "theme": "storm", "count": 2}
    import_themes(store, [[row]], *MODELS)
    first = themes_of(store)["t"]
    again = import_themes(store, [[row]], *MODELS)
    assert (again.unchanged, again.new, again.changed) == (1, 0, 0) and themes_of(store)["t"]["updated_at"] == first["updated_at"]
    changed = import_themes(store, [[{**row, "count": 3}]], *MODELS)
    assert changed.changed == 1 and themes_of(store)["t"]["updated_at"] > first["updated_at"]
    moved = import_themes(store, [[{**row, "count": 3, "scheduled_for": "2026-11-05"}]], *MODELS)
    assert moved.moved == 1 and not themes_of(store)
    assert themes_of(store, date(2026, 11, 5))["t"]["previous_scheduled_for"] == DAY
    assert delete_themes(store, ["t", "missing"]) == ["t"] and not themes_of(store, date(2026, 11, 5))
    assert import_themes(store, [[row]], *MODELS).new == 1  # a deleted theme comes back as new


def test_cli_adds_lists_and_deletes_themes(store, capsys, tmp_path):
    args = ["themes", "add", "--date", "2026-11-01", "--theme", "harbour at night", "--count", "2", "--music-prompt", "slow synths"]
    assert main(args) == 0
    theme_id = capsys.readouterr().out.splitlines()[0].split()[1]
    assert theme_id.startswith("theme-2026-11-01-")
    assert main(args) == 0 and "0 new, 0 changed" in capsys.readouterr().out  # same day and text: same id
    assert main(["themes", "add", "--date", "2026-11-01", "--theme", "x", "--count", "2", "--video-model", "nope"]) == 1
    assert "video_model 'nope' is unknown" in capsys.readouterr().err
    write_theme_rows(store, themes_of(store)[theme_id], [{"prompt_id": f"{theme_id}-001", "subject": "a boat"}], *MODELS)
    assert main(["themes", "list", "--date", "2026-11-01", "--format", "json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(t["theme_id"], t["count"], t["music_prompt"], t["rows_written"]) for t in listed["themes"]] == [
        (theme_id, 2, "slow synths", 1)
    ]
    assert listed["rejections"] == 1
    assert main(["themes", "list", "--date", "2026-11-01"]) == 0 and "slow synths" in capsys.readouterr().out
    assert main(["themes", "delete", theme_id]) == 0 and main(["themes", "delete", theme_id]) == 1
    assert not themes_of(store)
    bad = tmp_path / "bad.csv"
    bad.write_text(f"{HEADER}\nb,2026-11-01,x,0,,,,\n")
    assert main(["themes", "import", str(bad)]) == 1  # nothing usable
    assert main(["themes", "import", str(tmp_path / "missing.csv")]) == 2


def rows_for(theme_id: str, count: int, action: str = "waiting") -> list[dict]:
    return [{"prompt_id": f"{theme_id}-{n:03d}", "subject": f"a heron {n}", "action": action} for n in range(1, count + 1)]


def test_a_theme_writes_its_rows_like_an_import_and_lowering_its_count_retires_rows(store):
    import_themes(store, [[{"theme_id": "h", "scheduled_for": "2026-11-01", "theme": "herons", "count": 3,
                            "style": "ink", "video_model": "tiny"}]], *MODELS)  # fmt: skip
    theme = themes_of(store)["h"]
    bad = {"prompt_id": "h-bad", "subject": "a heron", "seed": -5}
    first = write_theme_rows(store, theme, [*rows_for("h", 3), bad], *MODELS)
    assert (first.written, first.unchanged, first.retired, first.rejected) == (3, 0, 0, 1)
    assert "seed must be between" in first.rejections[0].reason
    assert any(r["prompt_id"] == "h-bad" for r in store.rejections(DAY))  # quarantined like an import
    rows = {r["prompt_id"]: r for r in store.day_rows(DAY, extra=("source", "updated_at"))}
    assert sorted(rows) == ["h-001", "h-002", "h-003"]
    assert {(r["source"], r["style"], r["video_model"]) for r in rows.values()} == {("theme:h", "ink", "tiny")}
    assert rows["h-001"]["prompt"] == "a heron 1 waiting, ink"

    one_changed = rows_for("h", 2)
    one_changed[1]["action"] = "flying"
    second = write_theme_rows(store, theme, one_changed, *MODELS)
    assert (second.written, second.unchanged, second.retired) == (1, 1, 1)
    after = {r["prompt_id"]: r for r in store.day_rows(DAY, extra=("updated_at",))}
    assert sorted(after) == ["h-001", "h-002"] and after["h-001"]["updated_at"] == rows["h-001"]["updated_at"]
    assert theme_row_counts(store, ["h"]) == {"h": 2}

    add(store, ("hand-written", DAY))
    assert retire_theme_rows(store, DAY, ["h"]) == 0
    assert retire_theme_rows(store, DAY, []) == 2  # the theme is gone: its rows go, a hand-written row stays
    assert [r["prompt_id"] for r in store.day_rows(DAY)] == ["hand-written"]
    reject_theme(store, theme, "the model replied 2 prompts, 3 asked", "prompt-writer")
    reject_theme(store, theme, "the model replied 1 prompt, 3 asked", "prompt-writer")
    assert [r["reason"] for r in theme_rejections(store) if r["source"] == "prompt-writer"] == ["the model replied 1 prompt, 3 asked"]


def test_a_theme_never_overwrites_a_row_it_does_not_own(store):
    import_themes(store, [[{"theme_id": "k", "scheduled_for": "2026-11-01", "theme": "kites", "count": 2}]], *MODELS)
    theme = themes_of(store)["k"]
    add(store, ("k-002", DAY))  # a hand-written row that happens to have one of the theme's ids
    before = {r["prompt_id"]: r for r in store.day_rows(DAY, extra=("source", "updated_at"))}
    result = write_theme_rows(store, theme, rows_for("k", 2), *MODELS)
    assert (result.written, result.rejected) == (1, 1)
    assert "k-002 is a live row of an import or prompts add, not of theme:k" in result.rejections[0].reason
    rows = {r["prompt_id"]: r for r in store.day_rows(DAY, extra=("source", "updated_at"))}
    assert rows["k-002"] == before["k-002"] and rows["k-001"]["source"] == "theme:k"
    # Imported by hand, a theme's row becomes the user's: the theme leaves it, and never retires it.
    import_rows(store, [{"prompt_id": "k-001", "scheduled_for": "2026-11-01", "prompt": "my own kite", "seed": 1}], *MODELS)
    assert write_theme_rows(store, theme, rows_for("k", 2), *MODELS).rejected == 2
    assert retire_theme_rows(store, DAY, []) == 0
    assert {r["prompt_id"]: r["source"] for r in store.day_rows(DAY, extra=("source",))} == {"k-001": None, "k-002": None}


FIRST, LAST, OVERLAP = date(2024, 1, 1), date(2026, 11, 20), timedelta(minutes=5)


def plan(store, cursor):
    return plan_days(store, cursor, first_partition=FIRST, last_partition=LAST, overlap=OVERLAP, reconcile_days=1)


def render(store, *days):
    for day in days:
        store.record_render(day, store.day_snapshot(day)[1], "run")


def test_the_change_plan_requests_the_days_of_a_changed_or_moved_theme(store):
    other = DAY + timedelta(days=3)
    add(store, ("p", DAY), ("q", other))
    before = store.day_fingerprints([DAY])[DAY]
    with store.connect() as session:  # a day without themes keeps the prompts-only fingerprint
        assert before == session.execute("SELECT count(*) || ':' || bit_xor(hash(prompt_id, scheduled_for, prompt, "
                                         "subject, action, location, style, camera, lighting, negative_prompt, seed, "
                                         "keyframe_model, video_model, motion_bucket_ids, num_frames, fps, noise_aug_strength, "
                                         "num_inference_steps, min_guidance_scale, max_guidance_scale, decode_chunk_size, "
                                         "width, height, takes, take_crossfade_frames, scene, scene_order, start_from, "
                                         "end_prompt, restyle_of, source_uri, strength)) FROM prompts WHERE scheduled_for = ?",
                                         [DAY]).fetchone()[0]  # fmt: skip
    render(store, DAY, other)
    quiet = plan(store, ChangeCursor(watermark=database_now(store)))
    assert not quiet.requests
    row = {"theme_id": "t", "scheduled_for": DAY.isoformat(), "theme": "tides", "count": 2, "music_prompt": "drums"}
    import_themes(store, [[row]], *MODELS)
    added = plan(store, quiet.cursor)
    assert list(added.requests) == [DAY] and added.changes.themes == 1
    render(store, DAY)
    assert not plan(store, added.cursor).requests  # handled: the cursor remembers the theme's change
    import_themes(store, [[{**row, "music_prompt": "strings"}]], *MODELS)  # no prompt row changes, the day does
    music = plan(store, added.cursor)
    assert list(music.requests) == [DAY]
    render(store, DAY)
    import_themes(store, [[{**row, "music_prompt": "strings", "scheduled_for": other.isoformat()}]], *MODELS)
    moved = plan(store, music.cursor)
    assert sorted(moved.requests) == [DAY, other]
    assert store.day_fingerprints([DAY])[DAY] == before  # its theme moved away: as it was without themes
    render(store, DAY, other)
    delete_themes(store, ["t"])
    assert list(plan(store, moved.cursor).requests) == [other]
    # A cursor saved before themes existed still loads, and re-reads nothing as new.
    saved = json.loads(moved.cursor.to_json())
    del saved["theme_seen"]
    assert ChangeCursor.from_json(json.dumps(saved)).theme_seen == frozenset()


def test_themes_on_postgres(postgres_url, tmp_path):
    from vidgen_assets.lib.warehouse import Warehouse

    store = Warehouse(postgres_url)
    assert store.schema_version() >= 10
    path = tmp_path / "themes.csv"
    path.write_text(f"{HEADER}\nw,2026-11-01,wind \u00e9t\u00e9,2,,hum,,\nbad,2026-11-01,x\x00,2,,,,\n")
    result = import_theme_file(store, path, *MODELS)
    assert (result.new, result.rejected) == (1, 1) and "control character" in reasons(store)["bad"]
    theme = day_themes(store, DAY)[0]
    assert (theme["theme_id"], theme["scheduled_for"], theme["count"], theme["music_prompt"]) == ("w", DAY, 2, "hum")
    assert import_theme_file(store, path, *MODELS).unchanged == 1
    assert write_theme_rows(store, theme, rows_for("w", 2), *MODELS).written == 2
    assert write_theme_rows(store, theme, rows_for("w", 1), *MODELS).retired == 1
    assert store.day_snapshot(DAY)[1].startswith("1:") and "|themes 1:" in store.day_snapshot(DAY)[1]
    cursor = plan(store, ChangeCursor(watermark=database_now(store) - timedelta(hours=1)))
    assert list(cursor.requests) == [DAY] and cursor.changes.themes == 1
    add(store, ("w-002", DAY))  # a hand-written row under a theme's id: the theme leaves it
    assert write_theme_rows(store, theme, rows_for("w", 2), *MODELS).rejected == 1
    assert {r["prompt_id"]: r["source"] for r in store.day_rows(DAY, extra=("source",))} == {"w-001": "theme:w", "w-002": None}

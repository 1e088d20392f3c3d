"""A day's life at its edges, through `vidgen` as a user meets it, on PostgreSQL (DuckDB is every other CLI test's warehouse, and the
queries behind a withdrawn day run on both in test_warehouse.py): a deleted contact
sheet is made again, `vidgen lineage` after a failed run still shows what is published, and a day whose rows
are all deleted is withdrawn (no reel, with the reason) by `vidgen run`."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from vidgen_assets.lib import environment
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.test_cli import vidgen

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("store", ["postgres"], indirect=True)]

DAY = TEST_DAY.isoformat()


def add(prompt_id: str, *extra: str) -> None:
    """A row on the tiny local models (2 frames), or with `extra` options instead."""
    added = vidgen("prompts", "add", "--date", DAY, "--prompt", f"a {prompt_id}", "--prompt-id", prompt_id,
                   "--seed", "4", *(extra or ("--num-frames", "2")))  # fmt: skip
    assert added.returncode == 0, added.stderr


def run_day():
    return vidgen("run", "--date", DAY)


def latest_reel_metadata() -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("reel"))
    return {key: value.value for key, value in event.asset_materialization.metadata.items()}


def test_sheet_remade_lineage_after_a_failure_and_a_withdrawn_day(store, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    add("kite")
    add("gull")
    first = run_day()
    assert first.returncode == 0, first.stderr[-3000:]
    reel = Path(first.stdout.strip().splitlines()[-1])
    sheet = Path(str(reel).removesuffix(".mp4") + "-contact.png")
    assert reel.is_file() and sheet.is_file()
    assert environment.media_uri() in str(reel)

    # 13: the contact sheet, deleted, is made again although the reel itself is reused.
    sheet.unlink()
    again = run_day()
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.strip().splitlines()[-1] == str(reel) and sheet.is_file()
    metadata = latest_reel_metadata()
    assert metadata["cache_hit"] is True and metadata["contact_sheet_made"] is True

    # 13: a run that fails after the keyframes (a hosted model without its key) hides nothing published.
    add("kite", "--video-model", "replicate-svd-xt")
    failed = run_day()
    assert failed.returncode == 1 and "REPLICATE_API_TOKEN is not set" in failed.stderr
    lineage = vidgen("lineage", "kite")
    assert lineage.returncode == 0, lineage.stderr
    lines = lineage.stdout.splitlines()
    kinds = [line.split()[0] for line in lines if line.split() and line.split()[0] in ("keyframe", "clip", "reel")]
    assert kinds.count("clip") == 1 and kinds.count("reel") == 1, lineage.stdout
    assert any(line.startswith("reel") and str(reel.name) in line for line in lines), lineage.stdout

    # 3: every row deleted: the run withdraws the day's reel and says so last; lineage says it too.
    deleted = vidgen("prompts", "delete", "kite", "gull")
    assert deleted.returncode == 0, deleted.stderr
    withdrawn = run_day()
    assert withdrawn.returncode == 0, withdrawn.stderr[-3000:]
    last = withdrawn.stdout.strip().splitlines()[-1]
    assert last.startswith(f"no reel for {DAY}: withdrawn: the day has no live prompt rows (2 deleted)"), last
    assert reel.stem in last  # names the reel it withdraws
    assert latest_reel_metadata()["withdrawn"].startswith("withdrawn:")
    assert set(store.last_renders([TEST_DAY]).values()) == {"0:0"}  # rendered as an empty day
    told = vidgen("lineage", "gull")
    assert told.returncode == 0 and "reel     none: withdrawn: the day has no live prompt rows" in told.stdout
    # Nothing left to withdraw: a second run says there is nothing to render.
    assert run_day().returncode == 1

"""A storyboard day through the public CLI on the tiny presets: a scene of four kinds of shot renders in
dependency order, plays in scene order, continues without a jump, and an edit re-renders only what it feeds."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from vidgen_assets.lib.video import ClipWriter
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.test_cli import vidgen

pytestmark = pytest.mark.slow

HEADER = ["prompt_id", "scheduled_for", "prompt", "negative_prompt", "seed", "scene", "scene_order", "start_from",
          "end_prompt", "restyle_of", "source_uri", "strength", "video_model"]  # fmt: skip
SCENE = [
    ["s1", "a fox runs through snow", 1, "A", 1, "", "", "", "", "", "tiny-t2v"],
    ["s2", "a fox sleeps by a tree", 2, "A", 2, "", "", "", "", "", "tiny"],
    ["s3", "the fox wakes up", 3, "A", 3, "previous", "the fox at dawn", "", "", "", "tiny-flf2v"],
    ["s4", "the running fox in watercolour", 4, "A", 4, "", "", "s1", "", "0.6", "tiny-v2v"],
    # An ordinary row whose id sorts inside the scene: the scene still plays whole, in its order.
    ["s25", "a heron stands in a pond", 5, "", "", "", "", "", "", "", ""],
    # A restyle of footage put in the media store by hand.
    ["s9", "the walk, in ink", 6, "", "", "", "", "", "inbox/walk.mp4", "0.8", "tiny-v2v"],
]


def write_storyboard(path: Path, edits: dict[str, str] | None = None) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for prompt_id, prompt, seed, *rest in SCENE:
            writer.writerow([prompt_id, TEST_DAY, (edits or {}).get(prompt_id, prompt), "", seed, *rest])
    return path


def lineage(home: Path, kind: str) -> list[dict]:
    with duckdb.connect(str(home / "warehouse.duckdb"), read_only=True) as connection:
        rows = connection.execute(
            "SELECT prompt_id, key, parent_keys, params, cache_hit, run_id FROM clips WHERE kind = ? ORDER BY recorded_at",
            [kind],
        ).fetchall()
    return [{"prompt_id": r[0], "key": r[1], "parents": json.loads(r[2] or "[]"), "params": json.loads(r[3] or "{}"),
             "cache_hit": r[4], "run_id": r[5]} for r in rows]  # fmt: skip


def latest(rows: list[dict]) -> dict[str, dict]:
    """The latest run's row per prompt_id."""
    run = rows[-1]["run_id"]
    return {r["prompt_id"]: r for r in rows if r["run_id"] == run}


def run_day() -> Path:
    result = vidgen("run", "--date", str(TEST_DAY))
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip().splitlines()[-1])


def test_a_storyboard_renders_in_dependency_order_plays_in_scene_order_and_an_edit_re_renders_only_its_dependents(
    vidgen_home, tmp_path
):
    (vidgen_home / "media" / "inbox").mkdir(parents=True)
    with ClipWriter(vidgen_home / "media" / "inbox" / "walk.mp4", fps=8, width=32, height=32) as writer:
        writer.write(np.random.default_rng(0).integers(0, 255, (12, 32, 32, 3), dtype=np.uint8))
    assert vidgen("prompts", "import", str(write_storyboard(tmp_path / "board.csv"))).returncode == 0
    reel = run_day()
    assert reel.is_file()
    clips = latest(lineage(vidgen_home, "clip"))
    keyframes = latest(lineage(vidgen_home, "keyframe"))
    media = vidgen_home / "media"

    # Each shot is made from what it says: s1 from text, s2 from its keyframe, s3 from s2's clip and an end
    # keyframe, s4 from s1's clip; s1, s3 and s4 need no start keyframe of their own.
    assert clips["s1"]["parents"] == [] and clips["s2"]["parents"] == [keyframes["s2"]["key"]]
    assert clips["s3"]["parents"] == [clips["s2"]["key"], keyframes["s3"]["key"]]
    assert clips["s4"]["parents"] == [clips["s1"]["key"]]
    assert set(keyframes) == {"s2", "s3", "s25"}
    assert clips["s3"]["params"]["continues"] == "s2" and clips["s4"]["params"]["restyles"] == "s1"
    # Rendered in dependency order: each input existed before the shot made from it.
    mtime = {p: (media / "clips" / f"{clips[p]['key']}.mp4").stat().st_mtime for p in clips}
    assert mtime["s2"] <= mtime["s3"] and mtime["s1"] <= mtime["s4"]

    # The reel plays the scene whole and in its order, then the ordinary row (ids alone would put s25 third).
    (reel_row,) = [r for r in lineage(vidgen_home, "reel")]
    quality = _quality(vidgen_home)
    assert all(quality[c["key"]]["passed"] for c in clips.values()), quality
    assert reel_row["parents"] == [clips[p]["key"] for p in ("s1", "s2", "s3", "s4", "s25", "s9")]
    # The footage is copied in under its content, and is the restyle's parent in lineage.
    (source,) = lineage(vidgen_home, "source")
    assert clips["s9"]["parents"] == [source["key"]] and source["params"] == {"source_uri": "inbox/walk.mp4"}

    # The continuation starts on the frame its previous shot ended on (within the encoder's rounding).
    continuity = quality[clips["s3"]["key"]]["continuity"]
    assert continuity["continues"] == "s2" and continuity["start_jump"] <= continuity["max_start_jump"]
    assert quality[clips["s3"]["key"]]["passed"] and "end_distance" in continuity

    # `vidgen lineage` shows the scene as a chain.
    shown = vidgen("lineage", "s3").stdout
    assert "scene    A: s1 → s2 → s3 (continues the shot before, ends on 'the fox at dawn') → s4 (restyles s1)" in shown

    # Editing shot 2 re-renders shot 2 and the shot that starts from it, and the reel; not shots 1 and 4.
    write_storyboard(tmp_path / "board.csv", {"s2": "a fox sleeps under the moon"})
    assert vidgen("prompts", "import", str(tmp_path / "board.csv")).returncode == 0
    edited_reel = run_day()
    again = latest(lineage(vidgen_home, "clip"))
    assert {p for p, r in again.items() if not r["cache_hit"]} == {"s2", "s3"} and len(again) == 6
    assert again["s1"]["key"] == clips["s1"]["key"] and again["s4"]["key"] == clips["s4"]["key"]
    assert again["s3"]["key"] != clips["s3"]["key"] and edited_reel != reel


def _quality(home: Path) -> dict:
    """The latest videos output's quality report, from its readable manifest."""
    from vidgen_assets.lib.storage.manifests import read_manifest
    from vidgen_assets.lib.storage.media import LocalMediaStore

    folder = home / "media" / "manifests" / "videos" / str(TEST_DAY)
    newest = max(folder.glob("*.json"), key=lambda path: path.stat().st_mtime)
    manifest = read_manifest(LocalMediaStore(home / "media"), f"manifests/videos/{TEST_DAY}/{newest.stem}")
    return {record["key"]: record for record in manifest["quality"]}

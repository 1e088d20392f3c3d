"""One day through all four assets on the tiny preset, recorded in a Dagster instance."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import preset_names
from vidgen_assets.lib.video import encode_frames, probe_video
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import TEST_DAY

ROWS = [
    {"prompt_id": "p1", "scheduled_for": TEST_DAY.isoformat(), "prompt": "a fox in snow", "seed": 1},
    {"prompt_id": "p2", "scheduled_for": TEST_DAY.isoformat(), "prompt": "", "subject": "a boat",
     "action": "drifting", "style": "watercolor", "seed": 2, "motion_bucket_ids": "40;200"},
    {"prompt_id": "p3", "scheduled_for": TEST_DAY.isoformat(), "prompt": "a lighthouse", "seed": 3,
     "num_frames": 6, "negative_prompt": "blurry"},
    {"prompt_id": "bad", "scheduled_for": TEST_DAY.isoformat(), "prompt": "x", "motion_bucket_ids": "300"},
]  # fmt: skip


def load(rows) -> None:
    import_rows(
        Warehouse(environment.warehouse_target()), rows,
        preset_names("text-to-image"), preset_names("image-to-video", "text-to-video"),
    )  # fmt: skip


def manifests() -> dict:
    """The latest stored output of each asset for the day, loaded through the IO manager as a downstream would."""
    from vidgen_assets.definitions import build_definitions

    definitions = build_definitions()
    with dg.DagsterInstance.get() as instance:
        return {
            asset: definitions.load_asset_value(asset, instance=instance, partition_key=TEST_DAY.isoformat())
            for asset in ("keyframes", "videos", "reel")
        }


def test_one_day_end_to_end(vidgen_home):
    load(ROWS)
    reel_uri = run_day(TEST_DAY)

    found = manifests()
    keyframes, clips = found["keyframes"]["items"], found["videos"]["items"]
    assert sorted(k["prompt_id"] for k in keyframes) == ["p1", "p2", "p3"]  # "bad" was rejected at import
    for keyframe in keyframes:
        assert Image.open(keyframe["uri"]).size == (64, 64)
    assert sorted((c["prompt_id"], c["motion_bucket_id"]) for c in clips) == [
        ("p1", 127), ("p2", 40), ("p2", 200), ("p3", 127),
    ]  # fmt: skip
    total_frames = 0
    for clip in clips:
        info = probe_video(clip["uri"])
        expected_frames = 6 if clip["prompt_id"] == "p3" else 8
        assert (info.frames, info.fps, info.codec, info.pix_fmt) == (expected_frames, 8.0, "h264", "yuv420p")
        total_frames += info.frames
    reel = probe_video(reel_uri)
    assert reel.frames == total_frames == found["reel"]["frames"]
    assert reel.codec == "h264"

    with dg.DagsterInstance.get() as instance:
        for asset in ("prompts", "keyframes", "videos", "reel"):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event is not None and event.dagster_event.partition == TEST_DAY.isoformat()
        reel_metadata = instance.get_latest_materialization_event(dg.AssetKey("reel")).asset_materialization.metadata
        assert reel_metadata["frames"].value == total_frames


def test_rerun_of_unchanged_day_renders_nothing(vidgen_home):
    load(ROWS[:2])
    first = run_day(TEST_DAY)
    second = run_day(TEST_DAY)
    assert first == second
    assert all(item["cache_hit"] for item in manifests()["videos"]["items"])


def test_same_prompt_and_seed_give_identical_keyframes_in_separate_homes(vidgen_home, tmp_path, monkeypatch):
    pixels = []
    for home in ("first", "second"):
        monkeypatch.setenv("VIDGEN_HOME", str(tmp_path / home))
        monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / home / "dagster"))
        load(ROWS[:1])
        run_day(TEST_DAY)
        (keyframe,) = manifests()["keyframes"]["items"]
        assert str(tmp_path / home) in keyframe["uri"]
        pixels.append(np.asarray(Image.open(keyframe["uri"])))
    assert pixels[0].std() > 0  # a real image, not a blank
    np.testing.assert_array_equal(pixels[0], pixels[1])


def test_day_with_every_row_rejected_fails_with_a_clear_error(vidgen_home):
    Warehouse(environment.warehouse_target()).upsert_prompts([])
    with Warehouse(environment.warehouse_target()).connect() as connection:
        # Written straight to the table, as another tool might: the asset must still quarantine it.
        connection.execute(
            "INSERT INTO prompts (prompt_id, scheduled_for, prompt, keyframe_model) VALUES (?, ?, ?, ?)",
            ["direct", TEST_DAY, "a cat", "no-such-model"],
        )
    from vidgen_assets.runner import RunFailed

    with pytest.raises(RunFailed, match="no usable clips"):
        run_day(TEST_DAY)
    (rejection,) = Warehouse(environment.warehouse_target()).rejections(TEST_DAY)
    assert rejection["prompt_id"] == "direct" and "keyframe_model 'no-such-model' is unknown" in rejection["reason"]


def break_two_clips() -> list[dict]:
    """Replace two finished clips in place: one all black, one cut short, as a bad render or disk would."""
    clips = sorted(manifests()["videos"]["items"], key=lambda c: c["key"])
    black, truncated = clips[0], clips[1]
    encode_frames(black["uri"], [np.zeros((64, 64, 3), np.uint8)] * 8, fps=8, width=64, height=64)
    data = Path(truncated["uri"]).read_bytes()
    Path(truncated["uri"]).write_bytes(data[: len(data) // 2])
    return [black, truncated]


def test_broken_clips_are_left_out_of_the_reel_and_listed(vidgen_home, monkeypatch):
    monkeypatch.setenv("VIDGEN_MAX_FAILED_CLIP_SHARE", "0.5")
    load(ROWS)
    run_day(TEST_DAY)
    broken = break_two_clips()
    reel = probe_video(run_day(TEST_DAY))  # the clips exist, so they are not re-rendered: the check must catch them
    found = manifests()
    assert sorted(found["reel"]["excluded"]) == sorted(c["key"] for c in broken)
    reel_keys = [c["key"] for c in found["reel"]["clips"]]
    kept = [c for c in found["videos"]["items"] if c["key"] in reel_keys]
    assert len(kept) == 2 and reel.frames == sum(c["params"]["num_frames"] for c in kept)
    with dg.DagsterInstance.get() as instance:
        (latest,) = instance.get_runs(limit=1)
        evaluations = [
            entry.dagster_event.event_specific_data
            for entry in instance.all_logs(latest.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        ]
    quality = next(e for e in evaluations if e.check_name == "videos_quality")
    assert quality.passed and quality.metadata["failing"].value == 2  # within the allowed share, and listed
    for clip in broken:
        assert clip["key"] in quality.metadata["failing_clips"].value


def test_too_many_broken_clips_stop_the_reel(vidgen_home, monkeypatch):
    monkeypatch.setenv("VIDGEN_MAX_FAILED_CLIP_SHARE", "0.2")
    load(ROWS)
    first_reel = run_day(TEST_DAY)
    break_two_clips()
    from vidgen_assets.runner import RunFailed

    with pytest.raises(RunFailed, match="videos_quality"):
        run_day(TEST_DAY)
    assert probe_video(first_reel).frames == 8 * 3 + 6  # yesterday's good reel is untouched

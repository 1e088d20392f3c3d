"""Every rule a storyboard row is held to: each bad row rejected with its reason, the good rows kept."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.generation import VIDEO_TASKS, preset_names
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes, shards
from vidgen_assets.lib.generation.shot_plan import source_problem
from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.video import ClipWriter
from vidgen_assets.lib.rules.shots import accepted_rows
from vidgen_assets.lib.video.compose import ReelClip, order_clips
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

DAY = "2026-11-01"


def judge(*rows, other_days=None, source_check=None):
    raw = [{"scheduled_for": DAY, "prompt": f"shot {row['prompt_id']}", **row} for row in rows]
    days_of = (lambda ids: {i: d for i, d in (other_days or {}).items() if i in ids})
    accepted, rejected = accepted_rows(raw, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), "tiny", days_of,
                                       source_check)  # fmt: skip
    return [r["prompt_id"] for r in accepted], {r.prompt_id: r.reason for r in rejected}


STORYBOARD = (
    {"prompt_id": "s1", "scene": "A", "scene_order": 1, "video_model": "tiny-t2v"},
    {"prompt_id": "s2", "scene": "A", "scene_order": 2},
    {"prompt_id": "s3", "scene": "A", "scene_order": 3, "start_from": "previous", "end_prompt": "dawn",
     "video_model": "tiny-flf2v"},
    {"prompt_id": "s4", "scene": "A", "scene_order": 4, "restyle_of": "s1", "strength": "0.6", "video_model": "tiny-v2v"},
)


def test_a_storyboard_of_every_kind_of_shot_is_accepted_whole():
    assert judge(*STORYBOARD, {"prompt_id": "plain"}) == (["s1", "s2", "s3", "s4", "plain"], {})


@pytest.mark.parametrize(
    "row, reason",
    [
        ({"start_from": "sideways"}, "start_from must be keyframe or previous"),
        ({"strength": "0.5"}, "strength is for video-to-video shots"),
        ({"restyle_of": "s1", "strength": "0", "video_model": "tiny-v2v"}, "strength must be above 0"),
        ({"restyle_of": "s1", "strength": "1.5", "video_model": "tiny-v2v"}, "strength must be between 0.0 and 1.0"),
        ({"restyle_of": "s1", "source_uri": "sources/a.mp4", "video_model": "tiny-v2v"}, "give one"),
        ({"restyle_of": "x"}, "restyle_of names the row itself"),
        ({"source_uri": "https://example.com/a.mp4", "video_model": "tiny-v2v"}, "scheme 'https://'"),
        ({"source_uri": "../etc/passwd", "video_model": "tiny-v2v"}, "must stay inside the media store"),
        ({"source_uri": "clips/", "video_model": "tiny-v2v"}, "names no file"),
        ({"start_from": "previous"}, "start_from previous needs scene and scene_order"),
        ({"scene_order": "2"}, "scene_order is given without a scene"),
        ({"restyle_of": "s1", "start_from": "previous", "scene": "A", "scene_order": 9, "video_model": "tiny-v2v"},
         "a restyle starts from its source clip"),
        ({"end_prompt": "dawn"}, "end_prompt needs a video model that takes a last frame; 'tiny' takes image"),
        ({"end_prompt": "dawn", "video_model": "tiny-t2v"}, "'tiny-t2v' takes text"),
        ({"restyle_of": "s1", "video_model": "tiny-flf2v"}, "restyle_of needs a video model that takes a source video"),
        ({"video_model": "tiny-v2v"}, "restyles a clip: give restyle_of"),
        ({"video_model": "tiny-flf2v"}, "ends every shot on a last frame: give end_prompt"),
        ({"scene": "A", "scene_order": 9, "start_from": "previous", "video_model": "tiny-t2v"},
         "start_from previous needs a video model that takes a start image"),
        ({"scene": "A", "scene_order": 9, "start_from": "previous", "takes": "2"}, "takes > 1 extends a shot from its keyframe"),
    ],
)
def test_a_row_asking_for_a_shot_it_cannot_have_is_rejected_with_the_reason(row, reason):
    accepted, rejected = judge({"prompt_id": "s1", "video_model": "tiny-t2v"}, {"prompt_id": "x", **row})
    assert accepted == ["s1"] and reason in rejected["x"]


def test_references_across_days_to_missing_rows_and_in_cycles_are_rejected_and_their_dependents_with_them():
    accepted, rejected = judge(
        {"prompt_id": "far", "restyle_of": "elsewhere", "video_model": "tiny-v2v"},
        {"prompt_id": "gone", "restyle_of": "nobody", "video_model": "tiny-v2v"},
        {"prompt_id": "c1", "restyle_of": "c2", "video_model": "tiny-v2v"},
        {"prompt_id": "c2", "restyle_of": "c1", "video_model": "tiny-v2v"},
        {"prompt_id": "after", "restyle_of": "c1", "video_model": "tiny-v2v"},
        {"prompt_id": "ok"},
        other_days={"elsewhere": date(2026, 11, 5)},
    )
    assert accepted == ["ok"]
    assert "is a row of 2026-11-05, another day" in rejected["far"]
    assert "'nobody' is not a row of this day" in rejected["gone"]
    assert "cycle" in rejected["c1"] and "cycle" in rejected["c2"]
    assert "it starts from 'c1', which cannot render" in rejected["after"]


def test_a_continuation_never_skips_a_rejected_shot_and_the_first_shot_cannot_continue():
    accepted, rejected = judge(
        {"prompt_id": "a1", "scene": "A", "scene_order": 1, "start_from": "previous"},
        {"prompt_id": "b1", "scene": "B", "scene_order": 1},
        {"prompt_id": "b2", "scene": "B", "scene_order": 2, "num_frames": "999"},  # over the tiny model's limit
        {"prompt_id": "b3", "scene": "B", "scene_order": 3, "start_from": "previous"},
        {"prompt_id": "b4", "scene": "B", "scene_order": 3},
        {"prompt_id": "c2", "scene": "C", "scene_order": 2, "seed": "not a number"},  # rejected while read
        {"prompt_id": "c3", "scene": "C", "scene_order": 3, "start_from": "previous"},
    )
    assert accepted == ["b1"]
    assert "first of scene 'A'" in rejected["a1"]
    assert "it starts from 'b2', which cannot render (num_frames 999" in rejected["b3"]
    assert "scene_order 3 of scene 'B' is also 'b3''s" in rejected["b4"]
    assert "it starts from 'c2'" in rejected["c3"]


def test_shots_tied_together_share_a_shard_in_dependency_order_whatever_the_shard_size():
    items = [{"prompt_id": p, "after": a} for p, a in (("s1", []), ("x", []), ("s2", ["s1"]), ("s3", ["s2"]), ("y", []))]
    planned = shards(items, rows_per_shard=1)
    assert [[i["prompt_id"] for i in shard] for shard in planned] == [["s1", "s2", "s3"], ["x"], ["y"]]


def test_a_scene_plays_in_scene_order_where_its_first_shot_falls_whatever_the_reel_order():
    clips = [ReelClip(path=p, prompt_id=p, prompt=prompt, scene=scene, scene_order=order)
             for p, prompt, scene, order in (("a", "zebra", "S", 2), ("b", "apple", None, None),
                                             ("c", "mango", "S", 1), ("d", "kiwi", None, None))]  # fmt: skip
    assert [c.prompt_id for c in order_clips(clips, "prompt")] == ["c", "a", "b", "d"]


@BOTH_WAREHOUSES
def test_storyboard_columns_are_stored_typed_and_an_edit_to_one_is_a_change(store):
    rows = [{"scheduled_for": DAY, "prompt": f"shot {row['prompt_id']}", **row} for row in STORYBOARD]
    stored, rejected = import_rows(store, rows, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), "tiny")
    assert (stored, rejected) == (4, [])
    by_id = {row["prompt_id"]: row for row in store.day_rows(date.fromisoformat(DAY))}
    assert (by_id["s3"]["scene"], by_id["s3"]["scene_order"], by_id["s3"]["start_from"], by_id["s3"]["end_prompt"]) == (
        "A", 3, "previous", "dawn")
    assert (by_id["s4"]["restyle_of"], by_id["s4"]["strength"]) == ("s1", 0.6)
    before = store.day_fingerprints([date.fromisoformat(DAY)])
    rows[3] = {**rows[3], "strength": "0.7"}
    import_rows(store, rows, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), "tiny")
    assert store.day_fingerprints([date.fromisoformat(DAY)]) != before
    # The import itself turns away a shot its model cannot make, with the reason.
    _, rejected = import_rows(store, [{**rows[1], "prompt_id": "e1", "end_prompt": "dawn"}],
                              preset_names("text-to-image"), preset_names(*VIDEO_TASKS), "tiny")  # fmt: skip
    assert ["end_prompt needs a video model that takes a last frame" in r.reason for r in rejected] == [True]


def test_footage_that_is_missing_an_image_or_cut_short_is_turned_away_before_any_render(tmp_path):
    store = LocalMediaStore(tmp_path / "media")
    (tmp_path / "media" / "inbox").mkdir(parents=True)
    with ClipWriter(tmp_path / "media" / "inbox" / "walk.mp4", fps=8, width=32, height=32) as writer:
        writer.write(np.random.default_rng(0).integers(0, 255, (40, 32, 32, 3), dtype=np.uint8))
    whole = (tmp_path / "media" / "inbox" / "walk.mp4").read_bytes()
    (tmp_path / "media" / "inbox" / "half.mp4").write_bytes(whole[: len(whole) // 2])
    Image.new("RGB", (32, 32), "red").save(tmp_path / "media" / "inbox" / "still.png")
    assert source_problem(store, "inbox/walk.mp4") is None
    assert len(list((tmp_path / "media" / "sources").glob("source-*.mp4"))) == 1  # copied in under its content
    for uri, why in (("inbox/gone.mp4", "no such file"), ("inbox/still.png", "single picture"), ("inbox/half.mp4", "")):
        problem = source_problem(store, uri)
        assert problem and problem.startswith(f"source_uri {uri!r} cannot be restyled") and why in problem
    accepted, rejected = judge({"prompt_id": "ok"}, {"prompt_id": "r", "source_uri": "inbox/half.mp4", "video_model": "tiny-v2v"},
                               {"prompt_id": "after", "restyle_of": "r", "video_model": "tiny-v2v"},
                               source_check=lambda uri: source_problem(store, uri))  # fmt: skip
    assert accepted == ["ok"] and "cannot be restyled" in rejected["r"] and "it starts from 'r'" in rejected["after"]


def test_a_continuation_of_a_shot_with_several_clips_starts_from_the_one_the_reel_plays_last():
    rows = [{"prompt_id": "k1", "prompt": "a kite rises", "scene": "kite", "scene_order": 1, "motion_bucket_ids": (180, 60)},
            {"prompt_id": "k2", "prompt": "the kite dips", "scene": "kite", "scene_order": 2, "start_from": "previous"}]
    clips = plan_clips(rows, plan_keyframes(rows, "tiny", "tiny"), "tiny")
    by_bucket = {c["motion_bucket_id"]: c for c in clips if c["prompt_id"] == "k1"}
    (k2,) = [c for c in clips if c["prompt_id"] == "k2"]
    assert k2["start_clip"]["key"] == by_bucket[180]["key"] and k2["after"] == ["k1"]
    assert [c.prompt_id for c in order_clips([ReelClip(c["key"], c["prompt_id"], "", motion_bucket_id=c["motion_bucket_id"],
                                                       scene="kite", scene_order=1 if c["prompt_id"] == "k1" else 2)
                                              for c in clips], "prompt")][1:] == ["k1", "k2"]  # fmt: skip

"""Content keys hold everything that changes the bytes and nothing else; keyframes don't depend on the batch."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
from vidgen_assets.lib.generation.render import render_keyframe_shard
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.recipe import RENDER_VERSIONS, reel_key
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.video import ReelSettings
from vidgen_assets.lib.video.encode import ENCODER_SETTINGS

ROWS = [
    {"prompt_id": "a", "prompt": "a fox", "seed": 1, "negative_prompt": "blurry"},
    {"prompt_id": "b", "prompt": "a boat", "seed": 2},
    {"prompt_id": "c", "prompt": "a fox", "seed": 1},  # row a without its negative prompt
    {"prompt_id": "d", "prompt": "a tower", "seed": 4, "negative_prompt": "fog"},
    {"prompt_id": "t", "prompt": "a comet", "seed": 5, "video_model": "tiny-t2v"},
]  # fmt: skip


def keys(keyframe_model: str = "tiny", dtype: str = "float64") -> dict[str, list[str]]:
    keyframes = plan_keyframes(ROWS, keyframe_model, "tiny", lambda preset: dtype)
    clips = plan_clips(ROWS, keyframes, "tiny", lambda preset: dtype)
    return {"keyframe": [k["key"] for k in keyframes], "clip": [c["key"] for c in clips]}


@pytest.mark.parametrize("stage, changed", [("keyframe", {"keyframe", "clip"}), ("clip", {"clip"})])
def test_a_render_version_bump_changes_that_stage_and_what_is_made_from_it(monkeypatch, stage, changed):
    before = keys()
    monkeypatch.setitem(RENDER_VERSIONS, stage, RENDER_VERSIONS[stage] + 1)
    after = keys()
    for kind in ("keyframe", "clip"):
        overlap = set(before[kind]) & set(after[kind])
        if kind not in changed:
            assert after[kind] == before[kind]
        elif (stage, kind) == ("keyframe", "clip"):
            assert overlap == {before["clip"][-1]}  # only the text-to-video clip has no keyframe
        else:
            assert not overlap


def test_dtype_and_encoder_settings_are_in_the_keys(monkeypatch):
    base = keys()
    in_half = keys(dtype="float16")
    assert not set(base["keyframe"]) & set(in_half["keyframe"]) and not set(base["clip"]) & set(in_half["clip"])
    monkeypatch.setitem(ENCODER_SETTINGS, "crf", ENCODER_SETTINGS["crf"] + 1)
    reencoded = keys()
    assert reencoded["keyframe"] == base["keyframe"] and not set(base["clip"]) & set(reencoded["clip"])


def test_a_negative_prompt_is_keyed_only_where_the_model_reads_it():
    assert get_preset("sdxl-base", "text-to-image").uses_negative_prompt
    assert get_preset("tiny-cfg", "text-to-image").uses_negative_prompt
    assert not get_preset("sdxl-turbo", "text-to-image").uses_negative_prompt
    assert not get_preset("svd-xt", "image-to-video").uses_negative_prompt
    assert get_preset("wan2.1-t2v-1.3b", "text-to-video").uses_negative_prompt
    unguided, guided = keys("tiny")["keyframe"], keys("tiny-cfg")["keyframe"]
    assert unguided[0] == unguided[2]  # rows a and c differ only by a negative prompt the model ignores
    assert guided[0] != guided[2]


def test_clip_keys_ignore_params_the_model_does_not_read():
    rows = [{**ROWS[4], "prompt_id": "t1"}, {**ROWS[4], "prompt_id": "t2", "decode_chunk_size": 1}]
    rows.append({**ROWS[1], "prompt_id": "i1"})
    rows.append({**ROWS[1], "prompt_id": "i2", "decode_chunk_size": 1})
    keyframes = plan_keyframes(rows, "tiny", "tiny")
    t1, t2, i1, i2 = (c["key"] for c in plan_clips(rows, keyframes, "tiny"))
    assert t1 == t2  # text-to-video decodes in one pass: the chunk only splits encoder writes
    assert i1 != i2  # SVD's temporal decoder sees the chunk


def test_reel_key_follows_audio_content_and_clip_order(tmp_path):
    (tmp_path / "one.wav").write_bytes(b"same sound")
    (tmp_path / "two.wav").write_bytes(b"same sound")
    (tmp_path / "other.wav").write_bytes(b"another sound")
    from vidgen_assets.lib.generation.recipe import file_sha256

    def key(clips, audio, **settings):
        return reel_key(clips, ReelSettings(audio_path=str(tmp_path / audio), **settings), file_sha256(tmp_path / audio))

    assert key(["c1", "c2"], "one.wav") == key(["c1", "c2"], "two.wav", order="style")  # content, effective order
    assert key(["c1", "c2"], "one.wav") != key(["c1", "c2"], "other.wav")
    assert key(["c1", "c2"], "one.wav") != key(["c2", "c1"], "one.wav")
    assert key(["c1", "c2"], "one.wav") != key(["c1", "c2"], "one.wav", crossfade_s=0.5)


class RecordingPipeline:
    """The real pipeline, recording what each call was given."""

    def __init__(self, pipeline):
        self.pipeline, self.negatives = pipeline, []

    def __call__(self, prompt, negative_prompt=None, **kwargs):
        self.negatives.append(negative_prompt)
        return self.pipeline(prompt=prompt, negative_prompt=negative_prompt, **kwargs)


def test_guided_keyframes_are_identical_in_batches_of_1_and_n_with_and_without_negatives(models_dir, tmp_path):
    pipeline = PIPELINES.get(get_preset("tiny-cfg", "text-to-image"), models_dir)
    rows = ROWS[:4] + [{"prompt_id": "e", "prompt": "a lake", "seed": 6, "negative_prompt": "noise"}]
    pixels = {}
    for batch_size in (1, 4):
        store, recording = LocalMediaStore(tmp_path / str(batch_size)), RecordingPipeline(pipeline)
        items = plan_keyframes(rows, "tiny-cfg", "tiny")
        render_keyframe_shard(items, store, lambda *_: recording, StepProfile(total=len(rows)), batch_size=batch_size)
        # No call mixes rows with and without a negative prompt.
        assert all(n is None or all(n) for n in recording.negatives), recording.negatives
        for item in items:
            with store.local_path(item["media_key"]) as path:
                pixels[batch_size, item["prompt_id"]] = np.asarray(Image.open(path))
    for row in rows:
        np.testing.assert_array_equal(pixels[1, row["prompt_id"]], pixels[4, row["prompt_id"]])
    assert not np.array_equal(pixels[1, "a"], pixels[1, "c"])  # the negative prompt does change the image


def test_a_clip_version_bump_re_renders_every_clip_and_no_keyframe_and_an_unchanged_reel_is_reused(
    vidgen_home, monkeypatch
):
    from pathlib import Path

    from vidgen_assets.runner import run_day
    from vidgen_assets_tests.conftest import TEST_DAY
    from vidgen_assets_tests.test_end_to_end import ROWS as DAY_ROWS
    from vidgen_assets_tests.test_end_to_end import load, manifests

    load(DAY_ROWS[:2])
    first = Path(run_day(TEST_DAY))
    written = first.stat().st_mtime_ns
    assert Path(run_day(TEST_DAY)) == first and first.stat().st_mtime_ns == written  # same key: not rewritten
    assert manifests()["reel"]["cache_hit"]

    monkeypatch.setitem(RENDER_VERSIONS, "clip", RENDER_VERSIONS["clip"] + 1)
    assert Path(run_day(TEST_DAY)) != first
    found = manifests()
    assert all(k["cache_hit"] for k in found["keyframes"]["items"])
    assert not any(c["cache_hit"] for c in found["videos"]["items"]) and not found["reel"]["cache_hit"]


def test_the_rendering_step_keys_outputs_by_the_dtype_it_really_uses(models_dir, tmp_path):
    pipeline = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    planned = plan_keyframes(ROWS[:2], "tiny", "tiny", lambda preset: "float32")  # a planning step on another device
    rendered = render_keyframe_shard(planned, LocalMediaStore(tmp_path), lambda *_: pipeline, StepProfile(total=2))
    assert [k["dtype"] for k in rendered] == ["float64", "float64"]  # what the tiny preset loads in
    assert [k["key"] for k in rendered] == [k["key"] for k in plan_keyframes(ROWS[:2], "tiny", "tiny")]

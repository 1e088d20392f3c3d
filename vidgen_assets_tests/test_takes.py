"""Long takes: a clip extended take by take from each take's last frame, every take content-addressed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation.params import preset_limit_error
from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
from vidgen_assets.lib.generation.render import render_clip_shard, render_keyframe_shard
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.video import probe_video
from vidgen_assets.lib.video.quality import check_day_clips
from vidgen_assets.lib.warehouse.validation import RowError, validate_row
from vidgen_assets_tests.conftest import TEST_DAY

FRAMES = 4
ROW = {"prompt_id": "t1", "prompt": "a long pan over dunes", "seed": 3, "negative_prompt": "",
       "num_frames": FRAMES, "motion_bucket_ids": (127,)}  # fmt: skip


class CountingPipeline:
    """A real tiny pipeline that counts its renders; raises (as a killed pod stops) after `fail_after`."""

    def __init__(self, pipeline, fail_after: int | None = None):
        self.pipeline, self.fail_after, self.calls = pipeline, fail_after, 0

    def __call__(self, **kwargs):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise RuntimeError("pod killed between takes")
        self.calls += 1
        return self.pipeline(**kwargs)

    def __getattr__(self, name):
        return getattr(self.pipeline, name)  # the VAE decodes the latents


@pytest.fixture
def keyframes(models_dir, tmp_path):
    store = LocalMediaStore(tmp_path / "media")
    t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    items = render_keyframe_shard(plan_keyframes([ROW], "tiny", "tiny"), store, lambda *_: t2i, StepProfile(total=1))
    return store, items


def render(store, keyframes, takes: int, pipeline) -> dict:
    (item,) = render_clip_shard(plan_clips([{**ROW, "takes": takes}], keyframes, "tiny"), store,
                                lambda *_: pipeline, StepProfile(total=1), report=lambda _: None)  # fmt: skip
    return item


def mtimes(store, item) -> dict[str, int]:
    return {t["key"]: os.stat(store.uri(t["media_key"])).st_mtime_ns for t in item["takes"]}


def test_three_takes_join_into_one_clip_and_extending_to_four_reuses_them(models_dir, keyframes):
    store, frames = keyframes
    pipeline = CountingPipeline(PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir))
    three = render(store, frames, 3, pipeline)
    assert pipeline.calls == 3 and three["frames"] == 3 * FRAMES - 2
    info = probe_video(store.uri(three["media_key"]))
    assert (info.frames, info.codec, info.pix_fmt) == (3 * FRAMES - 2, "h264", "yuv420p")
    assert check_day_clips([three], store)[three["key"]]["passed"]
    (single,) = plan_clips([ROW], frames, "tiny")
    assert three["takes"][0]["key"] == single["key"]  # take 1 is the one-take clip
    written = mtimes(store, three)

    pipeline.calls = 0
    four = render(store, frames, 4, pipeline)
    assert pipeline.calls == 1 and four["frames"] == 4 * FRAMES - 3 and four["key"] != three["key"]
    assert [t["key"] for t in four["takes"][:3]] == [t["key"] for t in three["takes"]]
    assert {k: v for k, v in mtimes(store, four).items() if k in written} == written  # reused, not rewritten

    pipeline.calls = 0
    again = render(store, frames, 4, pipeline)
    assert pipeline.calls == 0 and again["cache_hit"] and again["key"] == four["key"]


def test_a_run_killed_between_takes_resumes_from_the_last_finished_take(models_dir, keyframes):
    store, frames = keyframes
    i2v = PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir)
    with pytest.raises(RuntimeError, match="killed"):
        render(store, frames, 3, CountingPipeline(i2v, fail_after=2))
    (planned,) = plan_clips([{**ROW, "takes": 3}], frames, "tiny")
    assert [store.exists(t["media_key"]) for t in planned["takes"]] == [True, True, False]
    assert not store.exists(planned["media_key"])

    resumed = CountingPipeline(i2v)
    clip = render(store, frames, 3, resumed)
    assert resumed.calls == 1 and clip["frames"] == 3 * FRAMES - 2
    assert [t["cache_hit"] for t in clip["takes"]] == [True, True, False]


def test_lineage_has_a_row_per_take_linked_to_its_predecessor(models_dir, keyframes):
    store, frames = keyframes
    clip = render(store, frames, 3, PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir))
    rows = clip_lineage([clip], date.fromisoformat(str(TEST_DAY)), "run-1")
    (clip_row,) = [r for r in rows if r["kind"] == "clip"]
    takes = [r for r in rows if r["kind"] == "take"]
    assert clip_row["params"]["take_keys"] == [r["key"] for r in takes]
    assert [r["parent_keys"] for r in takes] == [[frames[0]["key"]], [takes[0]["key"]], [takes[1]["key"]]]
    assert [r["params"]["seed"] for r in takes] == [3, 4, 5]


def test_takes_are_validated_and_limited_by_the_video_model():
    row = {"prompt_id": "v", "scheduled_for": str(TEST_DAY), "prompt": "a cat"}
    assert validate_row({**row, "takes": "3"}, {"tiny"}, {"tiny"}).takes == 3
    assert validate_row(row, {"tiny"}, {"tiny"}).takes is None
    with pytest.raises(RowError, match="takes"):
        validate_row({**row, "takes": "0"}, {"tiny"}, {"tiny"})


def test_prompts_add_takes_then_run_makes_a_reel_with_the_long_shot(vidgen_home):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def vidgen(*args):
        result = subprocess.run([sys.executable, "-m", "vidgen_assets.cli", *args], capture_output=True, text=True,
                                timeout=300, env=env)  # fmt: skip
        assert result.returncode == 0, result.stderr
        return result.stdout.strip().splitlines()

    vidgen("prompts", "add", "--date", str(TEST_DAY), "--prompt", "a long shot", "--prompt-id", "long",
           "--num-frames", str(FRAMES), "--motion-bucket-ids", "127", "--takes", "3")  # fmt: skip
    reel = probe_video(vidgen("run", "--date", str(TEST_DAY))[-1])
    assert reel.frames == 3 * FRAMES - 2
    shown = [line.split()[0] for line in vidgen("lineage", "long") if line.split()[:1] in (["take"], ["clip"])]
    assert shown == ["take", "take", "take", "clip"]


def test_takes_beyond_the_video_model_or_on_text_to_video_are_rejected():
    i2v, t2v = get_preset("tiny", "image-to-video"), get_preset("tiny-t2v", "text-to-video")
    assert preset_limit_error({"takes": i2v.max_takes}, i2v) is None
    assert "exceeds" in preset_limit_error({"takes": i2v.max_takes + 1}, i2v)
    assert "image-to-video" in preset_limit_error({"takes": 2}, t2v)
    assert preset_limit_error({"takes": 1}, t2v) is None


def test_a_text_to_video_default_model_makes_one_take_of_a_row_that_asked_for_more():
    (clip,) = plan_clips([{**ROW, "takes": 3}], [], "tiny-t2v")
    assert clip["params"]["takes"] == 1 and "takes" not in clip


def test_crossfaded_joins_reuse_the_takes_and_overlap_their_frames(models_dir, keyframes):
    store, frames = keyframes
    pipeline = CountingPipeline(PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir))
    cut = render(store, frames, 3, pipeline)
    pipeline.calls = 0
    (faded,) = render_clip_shard(plan_clips([{**ROW, "takes": 3, "take_crossfade_frames": 2}], frames, "tiny"), store,
                                 lambda *_: pipeline, StepProfile(total=1), report=lambda _: None)  # fmt: skip
    assert pipeline.calls == 0 and faded["key"] != cut["key"]  # same takes, another join
    assert faded["frames"] == probe_video(store.uri(faded["media_key"])).frames == 3 * FRAMES - 2 * 3
    assert check_day_clips([faded], store)[faded["key"]]["passed"]
    assert "needs takes longer" in preset_limit_error({"take_crossfade_frames": 3, "num_frames": 4}, get_preset("tiny", "image-to-video"))

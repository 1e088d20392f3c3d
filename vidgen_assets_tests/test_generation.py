"""The generation engine on the tiny preset: build once, load like a checkpoint, seed per row."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch

from vidgen_assets.lib.generation import (
    PIPELINES,
    ClipParams,
    KeyframeRequest,
    ModelUnavailableError,
    PipelineCache,
    get_preset,
    render_clip,
    render_keyframes,
    resolve_weights,
)
from vidgen_assets.lib.generation.tiny import BUILD_MARKER
from vidgen_assets.lib.video import probe_video

REQUESTS = [
    KeyframeRequest(f"a fox number {n}", negative_prompt="blurry" if n % 2 else "", seed=1000 + 7 * n)
    for n in range(6)
]
TINY_IMAGE = get_preset("tiny", "text-to-image")
TINY_VIDEO = get_preset("tiny", "image-to-video")


def pixels(pipeline, batch_size: int) -> list[np.ndarray]:
    images = render_keyframes(pipeline, REQUESTS, batch_size=batch_size, width=64, height=64)
    return [np.asarray(image) for _, image in images]


def test_tiny_models_are_saved_as_diffusers_checkpoints_and_built_once(models_dir):
    path = resolve_weights(TINY_VIDEO, models_dir)
    index = json.loads((path / "model_index.json").read_text())
    assert index["_class_name"] == "StableVideoDiffusionPipeline"
    assert (path / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    built_at = (path / BUILD_MARKER).stat().st_mtime_ns
    assert resolve_weights(TINY_VIDEO, models_dir) == path
    assert (path / BUILD_MARKER).stat().st_mtime_ns == built_at  # not rebuilt


def test_two_builders_of_one_tiny_model_build_it_once_and_a_stale_build_is_replaced(tmp_path, monkeypatch):
    """Test workers or two launchers building one model at once: one builds, the other waits and loads it."""
    from vidgen_assets.lib.generation import tiny

    target, builds, started = tmp_path / "tiny-x", [], threading.Event()

    def build(staging):
        builds.append(staging)
        started.set()
        time.sleep(0.5)  # the second builder arrives meanwhile
        (staging / "weights").write_text(f"build {len(builds)}")

    monkeypatch.setitem(tiny.TINY_BUILDERS, "x", build)
    with ThreadPoolExecutor(2) as pool:
        first = pool.submit(tiny.ensure_tiny_model, "x", target)
        started.wait(5)
        second = pool.submit(tiny.ensure_tiny_model, "x", target)
        assert sorted([first.result(), second.result()]) == [False, True]
    assert len(builds) == 1 and (target / "weights").read_text() == "build 1"

    (target / BUILD_MARKER).write_text(json.dumps({"version": tiny.TINY_BUILD_VERSION - 1}))  # an older build
    assert tiny.ensure_tiny_model("x", target) is True
    assert (target / "weights").read_text() == "build 2" and not tiny.ensure_tiny_model("x", target)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".tiny-x.lock", "tiny-x"]  # no staging copy left


def test_pipeline_cache_loads_each_model_once(models_dir):
    cache = PipelineCache()
    first = cache.get(TINY_IMAGE, models_dir)
    assert cache.get(TINY_IMAGE, models_dir) is first
    assert cache.get(TINY_VIDEO, models_dir) is not first
    assert cache.stats.loads == 2


def test_batch_size_does_not_change_a_rows_keyframe(models_dir):
    pipeline = PIPELINES.get(TINY_IMAGE, models_dir)
    one_by_one = pixels(pipeline, 1)
    for batch_size in (4, 6):
        for single, batched in zip(one_by_one, pixels(pipeline, batch_size)):
            np.testing.assert_array_equal(single, batched)
    assert not np.array_equal(one_by_one[0], one_by_one[1])  # different seeds, different images


def test_keyframe_equals_a_direct_diffusers_call_on_the_same_directory(models_dir):
    from diffusers import StableDiffusionPipeline

    direct = StableDiffusionPipeline.from_pretrained(resolve_weights(TINY_IMAGE, models_dir), dtype=torch.float64)
    direct.set_progress_bar_config(disable=True)
    request = REQUESTS[1]
    expected = direct(
        prompt=request.prompt, negative_prompt=request.negative_prompt, width=64, height=64,
        num_inference_steps=2, guidance_scale=1.0, generator=torch.Generator().manual_seed(request.seed),
    ).images[0]  # fmt: skip
    ours = pixels(PIPELINES.get(TINY_IMAGE, models_dir), 4)[1]
    np.testing.assert_array_equal(ours, np.asarray(expected))


def test_clip_streams_the_requested_frames_into_an_h264_file(models_dir, tmp_path):
    keyframe = next(render_keyframes(PIPELINES.get(TINY_IMAGE, models_dir), REQUESTS[:1]))[1]
    params = ClipParams(num_frames=5, fps=12, decode_chunk_size=2, seed=3)
    result = render_clip(PIPELINES.get(TINY_VIDEO, models_dir), keyframe, tmp_path / "clip.mp4", params)
    info = probe_video(tmp_path / "clip.mp4")
    assert result.frames == info.frames == 5
    assert (info.fps, info.width, info.height, info.codec) == (12.0, 64, 64, "h264")


def test_absent_real_weights_raise_a_clear_error(models_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelUnavailableError) as raised:
        resolve_weights(get_preset("svd-xt", "image-to-video"), models_dir)
    message = str(raised.value)
    assert "stabilityai/stable-video-diffusion-img2vid-xt" in message
    assert "9e43909513c6714f1bc78bcb44d96e733cd242aa" in message
    assert str(models_dir / "image-to-video" / "svd-xt") in message


@pytest.mark.parametrize(("config", "model_class", "billions"), [
    ("SDXL_UNET", "UNet2DConditionModel", 2.567), ("SVD_XT_UNET", "UNetSpatioTemporalConditionModel", 1.525),
])  # fmt: skip
def test_shape_presets_have_the_real_denoisers_size(config, model_class, billions):
    import diffusers

    from vidgen_assets.lib.generation import shape

    with torch.device("meta"):  # shapes only: no memory, no time
        denoiser = getattr(diffusers, model_class)(**getattr(shape, config))
    assert sum(p.numel() for p in denoiser.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)


def test_text_to_video_rows_skip_the_keyframe_and_render_a_clip(models_dir, tmp_path):
    from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
    from vidgen_assets.lib.generation.render import render_clip_shard
    from vidgen_assets.lib.generation.profile import StepProfile
    from vidgen_assets.lib.storage import LocalMediaStore

    rows = [{"prompt_id": "t", "prompt": "a comet over a lake", "seed": 5, "video_model": "tiny-t2v"}]
    assert plan_keyframes(rows, "tiny", "tiny") == []
    store = LocalMediaStore(tmp_path)
    (clip,) = render_clip_shard(
        plan_clips(rows, [], "tiny"), store, lambda name, task: PIPELINES.get(get_preset(name, task), models_dir),
        StepProfile(total=1),
    )  # fmt: skip
    info = probe_video(store.uri(clip["media_key"]))
    assert clip["task"] == "text-to-video" and (info.frames, info.width, info.height) == (9, 32, 32)

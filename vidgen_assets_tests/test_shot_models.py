"""Local models for conditioned shots: Wan first-and-last frame, Wan restyle, LTX conditioning (tiny models)."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.generation import (
    VIDEO_TASKS,
    ClipParams,
    ModelUnavailableError,
    PipelineCache,
    get_preset,
    model_revision,
    resolve_weights,
)
from vidgen_assets.lib.generation.conditioned import (
    ltx_conditions,
    render_ltx_conditioned,
    restyle_source,
    strength_error,
)
from vidgen_assets.lib.generation.params import clip_params, preset_limit_error
from vidgen_assets.lib.generation.presets import PRESETS
from vidgen_assets.lib.generation.renderers import render_first_last, render_shot
from vidgen_assets.lib.generation.shots import ShotInputs, fitted
from vidgen_assets.lib.generation.tiny import TINY_BUILDERS, ensure_tiny_model, tiny_kind
from vidgen_assets.lib.video import ClipWriter, iter_frames, probe_video

FLF2V, V2V = get_preset("tiny-flf2v", *VIDEO_TASKS), get_preset("tiny-v2v", *VIDEO_TASKS)
CACHE = PipelineCache()


def gradient(width: int, height: int, shift: int = 0) -> Image.Image:
    """A smooth picture (H.264 keeps it well, unlike noise); `shift` moves it, for a moving source clip."""
    y, x = np.mgrid[0:height, 0:width]
    return Image.fromarray(np.stack([(x + shift) * 5 % 256, y * 5, (x + y) * 2], -1).astype(np.uint8))


START, END = gradient(48, 48), gradient(48, 48).transpose(Image.Transpose.ROTATE_180)


def decoded(path) -> np.ndarray:
    return np.stack(list(iter_frames(path))).astype(int)


def params_for(preset, **row) -> ClipParams:
    return clip_params({"seed": 3, **row}, preset, 127)


def test_each_tiny_preset_builds_its_own_model(models_dir):
    from vidgen_assets.lib.audio.presets import MUSIC_PRESETS

    tiny = [preset for task in PRESETS.values() for preset in task.values() if preset.builder == "tiny"]
    tiny += [preset for preset in MUSIC_PRESETS.values() if preset.builder == "tiny"]  # the soundtrack's
    assert {tiny_kind(p.task, p.name) for p in tiny} == set(TINY_BUILDERS)
    for preset in (FLF2V, V2V):  # keyed by task alone, tiny-flf2v was built as an SVD
        path = resolve_weights(preset, models_dir)
        assert path == models_dir / preset.task / preset.name
        assert json.loads((path / "model_index.json").read_text())["_class_name"] == preset.pipeline_class
    with pytest.raises(ValueError, match="no tiny model builder for 'video-to-video/nope'"):
        ensure_tiny_model("video-to-video/nope", models_dir / "nope")


def test_one_checkpoint_loads_once_per_pipeline_class(models_dir):
    """wan2.1-v2v-1.3b and wan2.1-t2v-1.3b share a repo and revision: each must get its own pipeline class."""
    cache, as_text = PipelineCache(), replace(V2V, pipeline_class="WanPipeline")  # same model id and weights
    restyle = cache.get(V2V, models_dir)
    assert type(cache.get(as_text, models_dir)).__name__ == "WanPipeline"
    assert type(restyle).__name__ == "WanVideoToVideoPipeline" and cache.get(V2V, models_dir) is restyle


def test_first_last_shot_renders_the_requested_clip_the_same_bytes_for_a_seed(models_dir, tmp_path):
    pipeline = CACHE.get(FLF2V, models_dir)
    params = params_for(FLF2V, num_frames=13, width=48, height=32)
    shot = ShotInputs(prompt="a fox", image=START, last_image=END)
    result = render_shot(pipeline, FLF2V, shot, tmp_path / "a.mp4", params)
    info = probe_video(tmp_path / "a.mp4")
    assert result.frames == info.frames == 13 and (info.width, info.height, info.codec) == (48, 32, "h264")
    render_shot(pipeline, FLF2V, shot, tmp_path / "b.mp4", params)
    assert (tmp_path / "a.mp4").read_bytes() == (tmp_path / "b.mp4").read_bytes()
    render_shot(pipeline, FLF2V, shot, tmp_path / "c.mp4", params_for(FLF2V, seed=4, num_frames=13, width=48, height=32))
    assert (tmp_path / "a.mp4").read_bytes() != (tmp_path / "c.mp4").read_bytes()


def test_an_anchored_shot_starts_on_its_start_image(models_dir, tmp_path):
    pipeline, params = CACHE.get(FLF2V, models_dir), params_for(FLF2V)
    start = np.asarray(fitted(START, params.width, params.height))
    with ClipWriter(tmp_path / "still.mp4", fps=params.fps, width=params.width, height=params.height) as writer:
        writer.write(np.repeat(start[None], params.num_frames, axis=0))
    round_trip = np.abs(decoded(tmp_path / "still.mp4")[0] - start).mean()  # what H.264 alone loses: ~2.5 levels
    errors = {}
    for anchored in (True, False):
        shot = ShotInputs(prompt="a fox", image=START, last_image=END, anchor_first_frame=anchored)
        render_shot(pipeline, FLF2V, shot, tmp_path / f"{anchored}.mp4", params)
        errors[anchored] = np.abs(decoded(tmp_path / f"{anchored}.mp4")[0] - start).mean()
    assert errors[True] <= round_trip + 1.5
    assert errors[False] > 20  # the random model's own first frame is nowhere near it


def test_flf2v_needs_a_last_image_and_the_single_image_layout_does_without(models_dir, tmp_path):
    from vidgen_assets.lib.generation.tiny_shots import first_last_pipeline

    params, shot = params_for(FLF2V), ShotInputs(prompt="a fox", image=START)
    with pytest.raises(ValueError, match="needs an end keyframe too"):
        render_shot(CACHE.get(FLF2V, models_dir), FLF2V, shot, tmp_path / "x.mp4", params)
    assert not (tmp_path / "x.mp4").exists()
    single = first_last_pipeline(two_images=False)  # Wan 2.1 I2V's layout: one image's CLIP tokens
    single.set_progress_bar_config(disable=True)
    result = render_first_last(single, shot, tmp_path / "one.mp4", params)
    assert result.frames == probe_video(tmp_path / "one.mp4").frames == 9
    with pytest.raises(ValueError, match="takes no end keyframe"):
        render_first_last(single, replace(shot, last_image=END), tmp_path / "two.mp4", params)


def test_restyle_renders_the_clip_length_and_strength_changes_it(models_dir, tmp_path):
    pipeline = CACHE.get(V2V, models_dir)
    source = [gradient(40, 40, shift=2 * n) for n in range(12)]  # 12 frames: not 4k+1, longer than the clip
    outputs = {}
    for strength in (0.5, 1.0):
        params = params_for(V2V, strength=strength)
        shot = ShotInputs(prompt="a fox", video=source, strength=strength)
        result = render_shot(pipeline, V2V, shot, tmp_path / f"{strength}.mp4", params)
        info = probe_video(tmp_path / f"{strength}.mp4")
        assert result.frames == info.frames == 9 and (info.width, info.height) == (32, 32)
        outputs[strength] = decoded(tmp_path / f"{strength}.mp4")
    assert np.abs(outputs[0.5] - outputs[1.0]).mean() > 1
    with pytest.raises(ValueError, match=r"strength 0\.4 x num_inference_steps 2 rounds down to no denoising step"):
        shot = ShotInputs(prompt="a fox", video=source, strength=0.4)
        render_shot(pipeline, V2V, shot, tmp_path / "x.mp4", params_for(V2V))


def test_a_restyle_source_is_cut_or_held_to_the_clips_4k_plus_1_frames():
    frames = [gradient(8, 8, shift=n) for n in range(12)]
    assert [np.asarray(f)[0, 0, 0] for f in restyle_source(frames, 9, 8, 8)] == [n * 5 for n in range(9)]
    held = restyle_source(frames[:5], 10, 16, 16)  # 10 asks for 9 (4k+1); 5 given: the last one held
    assert len(held) == 9 and held[0].size == (16, 16) and all(f.tobytes() == held[4].tobytes() for f in held[4:])
    assert strength_error(2, 0.5) is None and strength_error(3, 0.34) is None
    assert "num_inference_steps to at least 4" in strength_error(3, 0.3)


def test_row_limits_of_the_new_models():
    v2v = get_preset("wan2.1-v2v-1.3b", *VIDEO_TASKS)
    expected = "num_frames 10 does not fit 'tiny-flf2v': it makes 4k+1 frames (e.g. 9, 17, 33)"
    assert preset_limit_error({"num_frames": 10}, FLF2V) == expected
    assert "4k+1" in preset_limit_error({"num_frames": 80}, v2v) and preset_limit_error({"num_frames": 81}, v2v) is None
    assert "8k+1" in preset_limit_error({"num_frames": 33 - 4}, get_preset("ltx-video-condition", *VIDEO_TASKS))
    assert "multiples of 16" in preset_limit_error({"width": 840}, v2v)
    assert "rounds down to no denoising step" in preset_limit_error({"strength": 0.4}, V2V)
    assert preset_limit_error({"strength": 0.5}, V2V) is None


def test_real_presets_without_weights_fail_clearly(models_dir, tmp_path, monkeypatch):
    import huggingface_hub

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    for name, repo in (("wan2.1-flf2v-14b", "Wan-AI/Wan2.1-FLF2V-14B-720P-diffusers"),
                       ("wan2.1-v2v-1.3b", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers")):  # fmt: skip
        preset = get_preset(name, *VIDEO_TASKS)
        with pytest.raises(ModelUnavailableError) as raised:
            resolve_weights(preset, models_dir)
        assert repo in str(raised.value) and preset.revision in str(raised.value)
    # Not pinned yet: refused before any lookup, even where the hub is reachable.
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: pytest.fail("tried the hub"))
    ltx = get_preset("ltx-video-condition", *VIDEO_TASKS)
    with pytest.raises(ModelUnavailableError, match="has no pinned revision yet"):
        resolve_weights(ltx, models_dir)
    assert model_revision(ltx) == "unpinned"


def tiny_ltx_condition_pipeline():
    """An LTX-Video condition pipeline of random weights (its VAE compresses 32x in space, 8x in time, as the
    real one does)."""
    import torch
    from diffusers import AutoencoderKLLTXVideo, FlowMatchEulerDiscreteScheduler, LTXConditionPipeline
    from diffusers import LTXVideoTransformer3DModel
    from transformers import T5Config, T5EncoderModel

    from vidgen_assets.lib.generation.tiny import unigram_tokenizer

    torch.manual_seed(0)
    tokenizer = unigram_tokenizer()
    vae = AutoencoderKLLTXVideo(
        latent_channels=8, block_out_channels=(8,) * 4, decoder_block_out_channels=(8,) * 4,
        layers_per_block=(1,) * 5, decoder_layers_per_block=(1,) * 5, decoder_inject_noise=(False,) * 5,
        spatio_temporal_scaling=(True, True, True, False), decoder_spatio_temporal_scaling=(True, True, True, False),
    )  # fmt: skip
    pipeline = LTXConditionPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(), vae=vae, tokenizer=tokenizer,
        text_encoder=T5EncoderModel(
            T5Config(vocab_size=len(tokenizer), d_model=32, d_kv=16, d_ff=37, num_layers=2, num_heads=2)
        ),
        transformer=LTXVideoTransformer3DModel(
            in_channels=8, out_channels=8, num_attention_heads=2, attention_head_dim=8, cross_attention_dim=16,
            num_layers=1, caption_channels=32,
        ),
    )  # fmt: skip
    pipeline.set_progress_bar_config(disable=True)
    return pipeline


def test_ltx_conditioning_on_first_last_frames_and_a_clip(tmp_path):
    conditions = ltx_conditions(ShotInputs(image=START, last_image=END), 17, 64, 32)
    assert [(c.frame_index, c.strength, c.image.size) for c in conditions] == [(0, 1.0, (64, 32)), (16, 1.0, (64, 32))]
    (restyle,) = ltx_conditions(ShotInputs(video=[START] * 30, strength=0.7), 17, 64, 32)
    assert restyle.frame_index == 0 and restyle.strength == pytest.approx(0.3) and len(restyle.video) == 17

    pipeline = tiny_ltx_condition_pipeline()
    params = ClipParams(num_frames=17, fps=8, num_inference_steps=2, width=64, height=32, seed=1)
    keys = ShotInputs(prompt="a fox", image=START, last_image=END, anchor_first_frame=True)
    clip = ShotInputs(prompt="a fox", video=[gradient(64, 32, n) for n in range(12)], strength=0.7)
    for name, shot in (("keys", keys), ("clip", clip)):
        result = render_ltx_conditioned(pipeline, shot, tmp_path / f"{name}.mp4", params)
        info = probe_video(tmp_path / f"{name}.mp4")
        assert result.frames == info.frames == 17 and (info.width, info.height) == (64, 32)
    start = np.asarray(fitted(START, 64, 32)).astype(int)
    assert np.abs(decoded(tmp_path / "keys.mp4")[0] - start).mean() < 5

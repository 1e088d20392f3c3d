"""GPU levers and the shape presets on the CPU: the device benchmark's rehearsal runs the GPU run's code path."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from vidgen_assets.lib.generation import ClipParams, get_preset
from vidgen_assets.lib.generation.levers import LeverUnavailableError, check_attention_backend
from vidgen_assets.lib.generation.loader import LoadOptions, PipelineCache
from vidgen_assets.lib.generation.recipe import clip_key

SHAPES = [("sdxl-turbo-shape", "text-to-image"), ("svd-xt-shape", "image-to-video"),
          ("wan2.1-t2v-1.3b-shape", "text-to-video"), ("ltx-video-shape", "text-to-video")]  # fmt: skip
# Every code path the GPU run takes but a UNet's cold torch.compile (a minute on two cores; the full
# `--cpu-rehearsal` runs it): the transformer's compile_repeated_blocks stands for the compile path.
REHEARSED = ",".join(("sdxl:channels_last", "svd:channels_last", "svd:decode_chunk", "svd:batch", "wan:compile",
                      "wan:step_cache", "wan:attention_flash", "wan:attention_sage"))  # fmt: skip


@pytest.mark.parametrize(("name", "task"), SHAPES)
def test_shape_presets_are_registered_and_build_tiny(name, task, tmp_path):
    preset = get_preset(name, task)
    assert preset.builder == "shape" and preset.repo_id is None
    pipeline = PipelineCache().get(preset, tmp_path, device="cpu", options=LoadOptions(shape_tiny=True))
    assert type(pipeline).__name__ == preset.pipeline_class
    assert not list(tmp_path.iterdir())  # built in memory: no weights written or downloaded


@pytest.mark.parametrize(("config", "model_class", "billions"), [
    ("WAN_1_3B", "WanTransformer3DModel", 1.419), ("LTX_VIDEO", "LTXVideoTransformer3DModel", 1.923),
])  # fmt: skip
def test_video_shape_presets_have_the_published_transformer_size(config, model_class, billions):
    import diffusers
    import torch

    from vidgen_assets.lib.generation import shape

    with torch.device("meta"):  # shapes only: no memory, no time
        denoiser = getattr(diffusers, model_class)(**getattr(shape, config))
    assert sum(p.numel() for p in denoiser.parameters()) / 1e9 == pytest.approx(billions, abs=0.01)


def test_missing_attention_kernel_names_what_is_missing(tmp_path):
    with pytest.raises(LeverUnavailableError, match="flash_attn"):
        check_attention_backend("flash")
    with pytest.raises(LeverUnavailableError, match="unknown attention backend 'warp-speed'"):
        check_attention_backend("warp-speed")
    check_attention_backend("native")  # PyTorch's SDPA is always there
    # The loader refuses before building anything.
    with pytest.raises(LeverUnavailableError, match="sageattention"):
        PipelineCache().get(get_preset("wan2.1-t2v-1.3b-shape", "text-to-video"), tmp_path, device="cpu",
                            options=LoadOptions(shape_tiny=True, attention_backend="sage"))  # fmt: skip


def test_step_cache_is_refused_for_unets(tmp_path):
    with pytest.raises(LeverUnavailableError, match="transformer models only"):
        PipelineCache().get(get_preset("svd-xt-shape", "image-to-video"), tmp_path, device="cpu",
                            options=LoadOptions(shape_tiny=True, step_cache=0.05))  # fmt: skip


def test_levers_are_off_by_default_and_keys_unchanged(monkeypatch):
    from vidgen_assets.defs.resources import resources

    for name in ("VIDGEN_ATTENTION_BACKEND", "VIDGEN_COMPILE", "VIDGEN_CHANNELS_LAST", "VIDGEN_OVERLAP_ENCODE",
                 "VIDGEN_STEP_CACHE", "VIDGEN_DECODE_CHUNK", "VIDGEN_DENOISE_BATCH"):
        monkeypatch.delenv(name, raising=False)
    generation = resources().resources["generation"]
    assert (generation.attention_backend, generation.compile_denoiser, generation.channels_last,
            generation.overlap_encode, generation.step_cache, generation.decode_chunk_size,
            generation.denoise_batch) == ("", False, False, False, 0.0, 0, 1)  # fmt: skip
    assert generation.render_settings().plan_options() == {"step_cache": 0.0, "decode_chunk_size": 0}
    item = {"keyframe": "k1", "prompt": "p", "model": "vidgen/image-to-video-tiny", "revision": "r",
            "preset": "tiny", "task": "image-to-video"}  # fmt: skip
    # The key a clip had before the levers existed: none of them enters it while off.
    assert clip_key(item, asdict(ClipParams()), "float32") == "clip-f131d8ece0cd98dcad98392523b10cf7"


def test_levers_are_read_from_the_environment(monkeypatch):
    from vidgen_assets.defs.resources import resources

    monkeypatch.setenv("VIDGEN_COMPILE", "1")
    monkeypatch.setenv("VIDGEN_CHANNELS_LAST", "1")
    monkeypatch.setenv("VIDGEN_OVERLAP_ENCODE", "1")
    monkeypatch.setenv("VIDGEN_ATTENTION_BACKEND", "flash")
    monkeypatch.setenv("VIDGEN_STEP_CACHE", "0.08")
    monkeypatch.setenv("VIDGEN_DECODE_CHUNK", "2")
    monkeypatch.setenv("VIDGEN_DENOISE_BATCH", "3")
    generation = resources().resources["generation"]
    assert (generation.attention_backend, generation.compile_denoiser, generation.channels_last,
            generation.overlap_encode) == ("flash", True, True, True)  # fmt: skip
    settings = generation.render_settings()
    assert (settings.step_cache, settings.decode_chunk_size, settings.denoise_batch) == (0.08, 2, 3)
    # Each lever reaches the load: step caching only where the model has a transformer to cache.
    wan, svd = get_preset("tiny-t2v", "text-to-video"), get_preset("tiny", "image-to-video")
    assert (settings.load_options(wan).step_cache, settings.load_options(svd).step_cache) == (0.08, 0.0)
    assert settings.load_options(svd).channels_last and settings.load_options(svd).attention_backend == "flash"


def test_cpu_rehearsal_reports_every_key(vidgen_home, tmp_path, monkeypatch):
    from benchmarks.bench_gpu import main

    monkeypatch.delenv("TORCHINDUCTOR_CACHE_DIR", raising=False)  # the run sets it; unset again afterwards

    result = main(["--cpu-rehearsal", "--images", "8", "--levers", REHEARSED, "--out", str(tmp_path / "r.json")])
    contract = {"device", "preset", "svd_xt_s_per_clip", "sdxl_turbo_s_per_image", "peak_mem_gb", "svd_xt_unet_s",
                "svd_xt_decode_s", "sdxl_turbo_batch8_s_per_image", "tflops_achieved", "levers",
                "wan_1_3b_s_per_clip"}  # fmt: skip
    assert contract <= result.keys()
    assert result["preset"] == "sdxl-turbo-shape + svd-xt-shape + wan2.1-t2v-1.3b-shape"
    for key in ("svd_xt_s_per_clip", "sdxl_turbo_s_per_image", "wan_1_3b_s_per_clip", "tflops_achieved"):
        assert result[key] > 0, key
    assert result["svd_xt_unet_s"] + result["svd_xt_decode_s"] == pytest.approx(result["svd_xt_s_per_clip"], abs=1e-3)
    assert set(result["levers"]) == {"sdxl:channels_last", "svd:channels_last", "svd:decode_chunk", "svd:batch",
                                     "wan:compile", "wan:step_cache"}  # fmt: skip
    # Quality against the baseline clip: PSNR and SSIM for each lever; levers that keep pixels match exactly.
    svd_levers = result["phases"]["svd"]["levers"]
    assert all(0.0 < run["ssim"] <= 1.0 for run in svd_levers.values())
    assert svd_levers["channels_last"]["psnr_db"] is None or svd_levers["channels_last"]["psnr_db"] > 40
    assert result["compile_cache"] in ("cold", "warm")
    assert result["phases"]["wan"]["levers"]["compile"]["compile_s"] >= 0
    assert all(seconds > 0 for seconds in result["levers"].values())
    assert set(result["skipped"]) == {"wan:attention_flash", "wan:attention_sage"}
    # channels_last changes the memory layout, not the picture: within rounding of the baseline clip.
    assert result["phases"]["svd"]["levers"]["channels_last"]["psnr_db"] >= 40
    assert (tmp_path / "r.json").exists()


@pytest.mark.parametrize(("name", "value", "message"), [
    ("VIDGEN_DENOISE_BATCH", "9", "VIDGEN_DENOISE_BATCH=9 is out of range: it must be from 1 to 4"),
    ("VIDGEN_STEP_CACHE", "abc", "VIDGEN_STEP_CACHE='abc' is not a number"),
    ("VIDGEN_ATTENTION_BACKEND", "abc", "VIDGEN_ATTENTION_BACKEND: unknown attention backend 'abc'; the measured ones: native, flash, _flash_3, sage"),
    ("VIDGEN_SHARD_SIZE", "1_000", "VIDGEN_SHARD_SIZE='1_000' is not a whole number"),
    ("VIDGEN_S_PER_CLIP", "nan", "VIDGEN_S_PER_CLIP='nan' is not a finite number"),
    ("VIDGEN_DECODE_CHUNK", "-3", "VIDGEN_DECODE_CHUNK=-3 is out of range: it must be at least 0"),
    ("VIDGEN_COMPILE", "maybe", "VIDGEN_COMPILE='maybe' is not one of 1/true/yes/on or 0/false/no/off"),
])  # fmt: skip
def test_a_bad_lever_setting_is_one_clear_error(monkeypatch, name, value, message):
    from vidgen_assets.defs.resources import resources
    from vidgen_assets.lib.environment import SettingError

    monkeypatch.setenv("VIDGEN_CHANNELS_LAST", "Yes")  # flags read any case of yes/no
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingError) as raised:
        resources()
    assert str(raised.value) == message


def test_a_lever_this_machine_cannot_apply_fails_the_step_without_retries(monkeypatch):
    import dagster as dg

    from vidgen_assets.defs.fanout import permanent_errors_fail_fast
    from vidgen_assets.defs.resources import resources
    from vidgen_assets.lib.generation.levers import LeverUnavailableError

    with pytest.raises(dg.Failure) as raised:
        with permanent_errors_fail_fast(None):  # the context is read only when the step is interrupted
            raise LeverUnavailableError("attention backend 'flash' needs flash_attn")
    assert raised.value.allow_retries is False and "needs flash_attn" in raised.value.description
    monkeypatch.setenv("VIDGEN_ATTENTION_BACKEND", " Native ")  # trimmed, any case
    assert resources().resources["generation"].attention_backend == "native"


def test_bench_gpu_refuses_an_unknown_lever_before_any_work(capsys):
    from benchmarks.bench_gpu import main

    with pytest.raises(SystemExit) as raised:
        main(["--cpu-rehearsal", "--levers", "svd:compile,wan:step_cach"])
    assert raised.value.code == 2 and "unknown lever(s) wan:step_cach; known: svd:channels_last" in capsys.readouterr().err


def test_doctor_reads_the_levers_as_a_run_does(monkeypatch):
    from vidgen_assets.runner import levers_check

    assert levers_check().ok and levers_check().detail == "all off (the defaults)"
    monkeypatch.setenv("VIDGEN_DENOISE_BATCH", "2")
    assert levers_check().ok and levers_check().detail == "denoise_batch=2"
    monkeypatch.setenv("VIDGEN_ATTENTION_BACKEND", "sage")  # a known backend whose kernel is not installed here
    check = levers_check()
    assert not check.ok and check.required and "needs sageattention" in check.detail

"""The day's soundtrack: the tiny Stable Audio pipeline, content-addressed WAVs, the `soundtrack` asset."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource
from PIL import Image

from vidgen_assets.lib.audio.render import plan_segments, render_soundtrack
from vidgen_assets.lib.audio.tiny import TINY_SAMPLE_RATE
from vidgen_assets.lib.audio.waveform import WAVEFORM_SIZE
from vidgen_assets.lib.generation.loader import ModelUnavailableError, PipelineCache
from vidgen_assets.lib.generation.presets import UnknownPresetError
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets_tests.conftest import TEST_DAY

PROMPT = "slow ambient pads, 90 bpm"


def decoded(path: Path) -> tuple[int, int, int]:
    """(sample rate, channels, samples) of the file's audio, decoded with PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return stream.rate, stream.codec_context.channels, samples


@pytest.fixture(scope="module")
def rendered(tmp_path_factory, models_dir) -> dict:
    """One store, one process-local pipeline cache, and a 1.5 s track rendered into it."""
    store = LocalMediaStore(tmp_path_factory.mktemp("media"))
    cache = PipelineCache()
    track = render_soundtrack("tiny-music", prompt=PROMPT, seconds=1.5, seed=3, store=store, models_dir=models_dir,
                              pipelines=cache)  # fmt: skip
    return {"store": store, "cache": cache, "track": track, "models_dir": models_dir}


def test_the_tiny_pipeline_is_saved_then_loaded_with_from_pretrained_and_renders_the_asked_length(rendered):
    track, store = rendered["track"], rendered["store"]
    index = json.loads((rendered["models_dir"] / "text-to-audio" / "tiny-music" / "model_index.json").read_text())
    assert index["_class_name"] == "StableAudioPipeline" and index["scheduler"][1] == "CosineDPMSolverMultistepScheduler"
    assert rendered["cache"].stats.loaded == ["text-to-audio/tiny-music"]
    assert not track["cache_hit"] and track["segments"] == 1
    assert track["media_key"] == f"soundtracks/{track['key']}.wav"
    with store.local_path(track["media_key"]) as path:
        assert decoded(path) == (TINY_SAMPLE_RATE, 2, 24_000)
    assert (track["duration_s"], track["sample_rate"]) == (1.5, TINY_SAMPLE_RATE)
    with store.local_path(track["waveform_media_key"]) as path:
        assert Image.open(io.BytesIO(path.read_bytes())).size == WAVEFORM_SIZE


def test_the_same_inputs_reuse_the_file_without_loading_a_model(rendered):
    store, first = rendered["store"], rendered["track"]
    with store.local_path(first["media_key"]) as path:
        before = path.stat().st_mtime_ns
    fresh = PipelineCache()
    again = render_soundtrack("tiny-music", prompt=PROMPT, seconds=1.5004, seed=3, store=store,
                              models_dir=rendered["models_dir"], pipelines=fresh)  # fmt: skip
    assert again["key"] == first["key"] and again["cache_hit"] and fresh.stats.loads == 0
    with store.local_path(first["media_key"]) as path:
        assert path.stat().st_mtime_ns == before


def test_rendering_is_deterministic_and_every_input_is_in_the_key(rendered, tmp_path):
    other_store = LocalMediaStore(tmp_path)
    twin = render_soundtrack("tiny-music", prompt=PROMPT, seconds=1.5, seed=3, store=other_store,
                             models_dir=rendered["models_dir"], pipelines=rendered["cache"])  # fmt: skip
    first = rendered["track"]
    with rendered["store"].local_path(first["media_key"]) as a, other_store.local_path(twin["media_key"]) as b:
        assert twin["key"] == first["key"] and not twin["cache_hit"] and a.read_bytes() == b.read_bytes()
    from vidgen_assets.lib.audio.render import soundtrack_inputs
    from vidgen_assets.lib.storage import content_key

    def key(**change):
        args = {"prompt": PROMPT, "seconds": 1.5, "seed": 3, **change}
        return content_key("soundtrack", soundtrack_inputs("tiny-music", **args))

    assert key() == first["key"]
    assert len({key(), key(prompt="a brass band"), key(seconds=1.6), key(seed=4), key(steps=3)}) == 5
    assert key(negative_prompt="noise") == key()  # the tiny model runs without guidance: it never reads it


def test_a_track_longer_than_the_model_makes_is_rendered_in_crossfaded_segments(rendered):
    track = render_soundtrack("tiny-music", prompt=PROMPT, seconds=3.0, seed=3, store=rendered["store"],
                              models_dir=rendered["models_dir"], pipelines=rendered["cache"])  # fmt: skip
    assert track["segments"] == 2
    with rendered["store"].local_path(track["media_key"]) as path:
        assert decoded(path) == (TINY_SAMPLE_RATE, 2, 48_000)


@pytest.mark.parametrize("total", [1, 999, 1000, 1001, 2345, 10_000])
def test_segments_add_up_to_the_track(total):
    lengths = plan_segments(total, 1000, 250)
    assert sum(lengths) - 250 * (len(lengths) - 1) == total
    assert all(n <= 1000 for n in lengths) and (len(lengths) == 1 or lengths[-1] > 250)


def test_absent_real_weights_say_which_and_how_to_get_them(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelUnavailableError) as raised:
        render_soundtrack("stable-audio-open-1.0", prompt=PROMPT, seconds=1.0, store=LocalMediaStore(tmp_path / "m"),
                          models_dir=tmp_path / "models", pipelines=PipelineCache())  # fmt: skip
    message = str(raised.value)
    for part in ("'stable-audio-open-1.0'", "stabilityai/stable-audio-open-1.0", "67351841772475731424cf358c9fb785716ac78f",
                 "huggingface-cli download", "VIDGEN_MUSIC_MODEL=tiny-music"):  # fmt: skip
        assert part in message
    with pytest.raises(UnknownPresetError, match="unknown music model 'stable-audio-9'.*tiny-music"):
        render_soundtrack("stable-audio-9", prompt=PROMPT, seconds=1.0, store=LocalMediaStore(tmp_path / "m"),
                          models_dir=tmp_path / "models")  # fmt: skip


# --- the asset ---------------------------------------------------------------------------------


def clip(key: str, frames: int = 8, fps: int = 8) -> dict:
    return {"key": key, "media_key": f"clips/{key}.mp4", "prompt_id": f"p-{key}", "params": {"num_frames": frames, "fps": fps}}


# Two passing clips of 1 s (one made by two rows), and one failing clip the reel leaves out: 2 s of reel.
VIDEOS = {
    "items": [clip("a"), clip("a"), clip("b", frames=12, fps=12), clip("c")],
    "rows": {}, "read": {},
    "quality": {"a": {"passed": True}, "b": {"passed": True}, "c": {"passed": False}},
}  # fmt: skip


def materialize_day(music_prompt: str | None, model: str = "tiny-music") -> dg.ExecuteInProcessResult:
    """`soundtrack` for TEST_DAY, its inputs given by two upstream assets of the same keys."""
    from vidgen_assets.defs.partitions import daily_partitions
    from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
    from vidgen_assets.defs.soundtrack.assets import soundtrack
    from vidgen_assets.defs.resources import MusicResource

    @dg.asset(partitions_def=daily_partitions)
    def theme_prompts() -> dict:
        themes = [{"theme_id": "t1", "music_prompt": music_prompt, "prompt_ids": [], "calls": 0, "cache_hit": True,
                   "rejection": None}]  # fmt: skip
        return {"partition": TEST_DAY.isoformat(), "music_prompt": music_prompt, "themes": themes}

    @dg.asset(partitions_def=daily_partitions)
    def videos() -> dict:
        return VIDEOS

    resources = {
        "media": MediaResource(s3=S3Resource()), "warehouse": WarehouseResource(),
        "generation": GenerationResource(), "music": MusicResource(model=model),
    }  # fmt: skip
    return dg.materialize([theme_prompts, videos, soundtrack], partition_key=TEST_DAY.isoformat(), resources=resources)


def test_a_day_with_a_music_prompt_gets_a_track_as_long_as_its_reel(vidgen_home):
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import Warehouse

    first = materialize_day(PROMPT)
    value = first.output_for_node("soundtrack")
    assert value["key"] and value["music_prompt"] == PROMPT and value["preset"] == "tiny-music"
    assert not value["cache_hit"] and value["duration_s"] == 2.0 and value["sample_rate"] == TINY_SAMPLE_RATE
    assert decoded(Path(value["uri"]))[2] == 2 * TINY_SAMPLE_RATE
    (materialization,) = first.asset_materializations_for_node("soundtrack")
    assert materialization.metadata["waveform"].value.startswith(f"![soundtrack of {TEST_DAY}")
    again = materialize_day(PROMPT).output_for_node("soundtrack")
    assert again["key"] == value["key"] and again["cache_hit"]
    with Warehouse(environment.warehouse_target()).connect() as session:
        rows = session.rows("SELECT key, params, cache_hit FROM clips WHERE kind = 'soundtrack' ORDER BY recorded_at")
    assert [(r["key"], r["cache_hit"]) for r in rows] == [(value["key"], False), (value["key"], True)]
    params = json.loads(rows[0]["params"])
    assert (params["prompt"], params["preset"], params["seconds"], params["themes"]) == (PROMPT, "tiny-music", 2.0, ["t1"])


def test_a_day_without_a_music_prompt_has_no_soundtrack(vidgen_home):
    result = materialize_day(None)
    value = result.output_for_node("soundtrack")
    assert (value["key"], value["uri"], value["duration_s"]) == (None, None, 0.0)
    (materialization,) = result.asset_materializations_for_node("soundtrack")
    assert materialization.metadata["soundtrack"].value == "no music prompt for the day"
    assert not (vidgen_home / "media" / "soundtracks").exists()


def test_a_hosted_music_model_renders_through_its_provider_once(vidgen_home, monkeypatch):
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets_tests.fakes.harness import running_fake

    with running_fake("vidgen_assets_tests.fakes.replicate_server") as replicate:
        replicate.configure(processing_s=0.1)
        monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_soundtrack-test-token")
        monkeypatch.setenv("REPLICATE_BASE_URL", replicate.base_url)
        first = materialize_day(PROMPT, model="replicate-musicgen")
        again = materialize_day(PROMPT, model="replicate-musicgen").output_for_node("soundtrack")
        creates = replicate.stats()["creates"]
    value = first.output_for_node("soundtrack")
    assert value["preset"] == "replicate-musicgen" and not value["cache_hit"] and creates == 1
    assert again["key"] == value["key"] and again["cache_hit"]
    assert abs(value["duration_s"] - 2.0) < 1 / value["sample_rate"] + 1e-9 and Path(value["uri"]).exists()
    (materialization,) = first.asset_materializations_for_node("soundtrack")
    assert materialization.metadata["cost_usd"].value > 0
    with Warehouse(environment.warehouse_target()).connect() as session:
        (row,) = session.rows("SELECT models, timings FROM clips WHERE kind = 'soundtrack' AND NOT cache_hit")
    assert json.loads(row["timings"])["cost_usd"] == materialization.metadata["cost_usd"].value
    assert json.loads(row["models"])["music"]["provider_task_id"]
    assert Path(vidgen_home / "media" / value["waveform_media_key"]).exists()

"""A day's soundtrack: one content-addressed WAV per (model, prompt, length, seed, steps), rendered once.

Stable Audio renders at most ~47 s a call (the tiny model ~2 s). A longer track is rendered in segments
of the model's full length, each with the next seed, overlapping by `CROSSFADE_S` and joined with an
equal-power crossfade; segments are written to the WAV as they come, so only one is ever in memory.
Segments rather than one looped take: a loop repeats audibly within a minute, and every segment still
follows the same prompt.
"""

from __future__ import annotations

import math
import time
import warnings
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..generation.loader import PIPELINES, LoadOptions, ModelUnavailableError, PipelineCache, pick_device
from ..generation.recipe import resolved_dtype
from ..storage import MediaStore, content_key
from .presets import (
    DEFAULT_MUSIC_MODEL, MUSIC_MODEL_VARIABLE, MUSIC_PRESETS, check_music_model, is_hosted_music, music_model_identity,
)  # fmt: skip
from .waveform import summarize_audio, waveform_png

# Bumped when the rendering below changes what a key's file holds, so old files are not reused.
SOUNDTRACK_RENDER_VERSION = 1
CROSSFADE_S = 1.0  # at most; never more than a quarter of a segment


def soundtrack_media_key(key: str) -> str:
    return f"soundtracks/{key}.wav"


def waveform_media_key(key: str) -> str:
    return f"soundtracks/{key}-waveform.png"


def soundtrack_inputs(
    preset_name: str, *, prompt: str, seconds: float, seed: int, steps: int | None = None,
    negative_prompt: str = "", device: str = "auto", dtype: str = "auto",
) -> dict[str, Any]:  # fmt: skip
    """Everything a soundtrack's audio depends on; its content key hashes these. Knobs the model ignores
    (steps and negative prompt on hosted models, the negative prompt without guidance) are left out, so
    changing them renders nothing."""
    check_music_model(preset_name)
    model, revision = music_model_identity(preset_name)
    inputs = {
        "preset": preset_name, "model": model, "revision": revision, "prompt": prompt,
        "seconds": round(float(seconds), 3), "seed": int(seed), "render_version": SOUNDTRACK_RENDER_VERSION,
    }  # fmt: skip
    if is_hosted_music(preset_name):
        return {**inputs, "steps": None, "negative_prompt": "", "dtype": "hosted"}
    preset = MUSIC_PRESETS[preset_name]
    guidance = float(preset.defaults["guidance_scale"])
    return {
        **inputs, "steps": int(steps or preset.defaults["num_inference_steps"]), "guidance_scale": guidance,
        "negative_prompt": negative_prompt if guidance > 1 else "", "dtype": resolved_dtype(preset, device, dtype),
    }  # fmt: skip


def render_soundtrack(
    preset_name: str,
    *,
    prompt: str,
    seconds: float,
    seed: int = 0,
    steps: int | None = None,
    negative_prompt: str = "",
    store: MediaStore,
    models_dir: Path,
    device: str = "auto",
    dtype: str = "auto",
    options: LoadOptions = LoadOptions(),
    pipelines: PipelineCache = PIPELINES,
    hosted: Callable[..., dict] | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> dict[str, Any]:
    """The soundtrack's WAV and waveform PNG in `store`, rendered only if its key is not there yet.

    A local preset loads its pipeline once per process (only when something must be rendered); a hosted one
    calls `hosted(key=..., media_key=...)` (`hosted.render_hosted_soundtrack` with the day's arguments bound),
    which writes the file at `media_key`. Returns the key, media keys, length, sample rate and what it cost.
    """
    if not prompt.strip():
        raise ValueError("a soundtrack needs a music prompt; got an empty one")
    if not seconds > 0:
        raise ValueError(f"a soundtrack must last more than 0 s; asked for {seconds} s")
    inputs = soundtrack_inputs(preset_name, prompt=prompt, seconds=seconds, seed=seed, steps=steps,
                               negative_prompt=negative_prompt, device=device, dtype=dtype)  # fmt: skip
    key = content_key("soundtrack", inputs)
    media_key, picture_key = soundtrack_media_key(key), waveform_media_key(key)
    started = time.perf_counter()
    cache_hit, made = store.exists(media_key), {}
    if not cache_hit and is_hosted_music(preset_name):
        if hosted is None:
            raise ValueError(f"music model {preset_name!r} is hosted: pass `hosted` (render_hosted_soundtrack)")
        made = hosted(key=key, media_key=media_key)
    elif not cache_hit:
        try:
            pipeline = pipelines.get(MUSIC_PRESETS[preset_name], models_dir, device=device, dtype=dtype, options=options)
        except ModelUnavailableError as error:
            raise ModelUnavailableError(f"{error} For music: {MUSIC_MODEL_VARIABLE}={DEFAULT_MUSIC_MODEL}.") from None
        with store.writing(media_key) as path:
            made = _render_wav(pipeline, path, inputs, log)
    with store.local_path(media_key) as path:
        summary = summarize_audio(path)
    if not store.exists(picture_key):  # made with the track; also remade if deleted since
        with store.writing(picture_key) as path:
            path.write_bytes(waveform_png(summary.peaks))
    return {
        "key": key, "media_key": media_key, "uri": store.uri(media_key), "waveform_media_key": picture_key,
        "duration_s": round(summary.duration_s, 6), "sample_rate": summary.sample_rate, "channels": summary.channels,
        "cache_hit": cache_hit or bool(made.get("cache_hit")), "render_s": round(time.perf_counter() - started, 3),
        "inputs": inputs, "segments": made.get("segments", 0), "cost_usd": made.get("cost_usd", 0.0),
        "provider_task_id": made.get("provider_task_id"),
        "device": None if cache_hit or is_hosted_music(preset_name) else pick_device(device),
    }  # fmt: skip


def plan_segments(total: int, longest: int, fade: int) -> list[int]:
    """Sample counts of the segments making `total` samples, each at most `longest`, neighbours sharing
    `fade` samples: every segment but the last is full length, and the last is longer than the fade."""
    if total <= longest:
        return [total]
    count = math.ceil((total - fade) / (longest - fade))
    return [longest] * (count - 1) + [total - (count - 1) * (longest - fade)]


def _render_wav(pipeline, path: Path, inputs: dict, log: Callable[[str], None]) -> dict:
    """Render `inputs["seconds"]` of audio into a 16-bit PCM WAV at `path`, segment by segment."""
    import torch

    rate = int(pipeline.vae.config.sampling_rate)
    longest = int(pipeline.transformer.config.sample_size * pipeline.vae.hop_length)  # samples one call makes
    fade = min(int(CROSSFADE_S * rate), longest // 4)
    lengths = plan_segments(round(inputs["seconds"] * rate), longest, fade)
    ramp = np.sin(np.linspace(0.0, np.pi / 2, fade, dtype=np.float32)) if len(lengths) > 1 else None
    negative = inputs["negative_prompt"] or None
    with wave.open(str(path), "wb") as out:
        out.setnchannels(int(pipeline.vae.config.audio_channels))
        out.setsampwidth(2)
        out.setframerate(rate)
        tail = None  # the previous segment's last `fade` samples, to blend with this one's first
        for index, length in enumerate(lengths):
            log(f"soundtrack: rendering segment {index + 1}/{len(lengths)} ({length / rate:.2f} s)")
            generator = torch.Generator("cpu").manual_seed(inputs["seed"] + index)
            with warnings.catch_warnings():
                # torchsde's Brownian tree notes times just outside its interval at the schedule's ends.
                warnings.filterwarnings("ignore", module="torchsde")
                audio = pipeline(
                    inputs["prompt"], negative_prompt=negative, audio_end_in_s=length / rate,
                    num_inference_steps=inputs["steps"], guidance_scale=inputs["guidance_scale"], generator=generator,
                ).audios[0]  # fmt: skip
            segment = audio.float().cpu().numpy()
            # The pipeline cuts at int(seconds * rate): a float rounding down may leave one sample short.
            segment = np.pad(segment[:, :length], ((0, 0), (0, max(0, length - segment.shape[1]))))
            if tail is not None:
                segment[:, :fade] = tail * ramp[::-1] + segment[:, :fade] * ramp
            last = index == len(lengths) - 1
            out.writeframes(_pcm16(segment if last else segment[:, : length - fade]))
            tail = None if last else segment[:, length - fade :]
    return {"segments": len(lengths)}


def _pcm16(samples: np.ndarray) -> bytes:
    """(channels, n) floats in [-1, 1] as interleaved little-endian 16-bit PCM (louder samples clip)."""
    return (np.clip(samples.T, -1.0, 1.0) * 32767).astype("<i2").tobytes()

"""The day's soundtrack: music from the themes' music prompt, as long as the reel's clips."""

import base64
import functools
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from vidgen_assets.defs.fanout import GPU_STEP, hosted_errors_fail_fast, hosted_step, permanent_errors_fail_fast
from vidgen_assets.defs.partitions import daily_partitions, partition_day
from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
from vidgen_assets.defs.resources import MusicResource
from vidgen_assets.lib import environment
from vidgen_assets.lib.audio.day import music_themes, reel_seconds, soundtrack_lineage
from vidgen_assets.lib.audio.presets import (
    hosted_music_presets, is_hosted_music, music_model_identity, music_model_name,
)  # fmt: skip
from vidgen_assets.lib.audio.render import SOUNDTRACK_RENDER_VERSION, render_soundtrack
from vidgen_assets.lib.audio.waveform import AudioDecodeError
from vidgen_assets.lib.generation.loader import LoadOptions
from vidgen_assets.lib.video.preview import data_uri_markdown
from vidgen_assets.lib.warehouse.lineage import record_lineage

_MODEL = music_model_name()
_MODEL_ID, _REVISION = music_model_identity(_MODEL)
# A hosted model renders from a CPU step in its provider's pool; a local one takes a GPU slot like clips do.
_STEP = hosted_step(hosted_music_presets()[_MODEL].provider) if is_hosted_music(_MODEL) else GPU_STEP


@dg.asset(
    partitions_def=daily_partitions,
    ins={"theme_prompts": dg.AssetIn(), "videos": dg.AssetIn()},
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    op_tags=_STEP["tags"],
    pool=_STEP["pool"],
    retry_policy=_STEP["retry_policy"],
    code_version=f"1.r{SOUNDTRACK_RENDER_VERSION}+{_MODEL_ID}@{_REVISION}",
)
def soundtrack(
    context: dg.AssetExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    music: MusicResource,
    theme_prompts: dict,
    videos: dict,
) -> dg.Output:
    """Music for the day's reel (WAV), from the themes' music prompt, as long as the reel's passing clips.

    Content-addressed by model, prompt, length, seed and steps: an unchanged day reuses its file, a new
    music prompt renders only this. A day with no music prompt has no soundtrack (the reel then uses
    `VIDGEN_REEL_AUDIO`, if set).
    """
    day = partition_day(context)
    prompt = ((theme_prompts or {}).get("music_prompt") or "").strip() or None
    seconds = reel_seconds(videos)
    why_none = "no music prompt for the day" if not prompt else None if seconds > 0 else "no passing clips to score"
    if why_none:
        context.log.info(f"no soundtrack for {day}: {why_none}")
        value = {
            "partition": day.isoformat(), "key": None, "media_key": None, "uri": None, "duration_s": 0.0,
            "sample_rate": 0, "music_prompt": prompt, "preset": None, "cache_hit": False, "waveform_media_key": None,
        }  # fmt: skip
        return dg.Output(value, data_version=dg.DataVersion("no-soundtrack"), metadata={"soundtrack": why_none})
    store = media.open()
    hosted = is_hosted_music(music.model)
    with _failing_fast(context, music.model, hosted):
        track = render_soundtrack(
            music.model, prompt=prompt, seconds=seconds, seed=music.seed, steps=music.steps or None,
            negative_prompt=music.negative_prompt, store=store,
            models_dir=Path(generation.models_dir) if generation.models_dir else environment.models_dir(),
            device=generation.device, dtype=generation.dtype,
            options=LoadOptions(cpu_offload=generation.cpu_offload, attention_backend=generation.attention_backend or None),
            hosted=_hosted_call(context, music, prompt, seconds, day, warehouse, store) if hosted else None,
            log=context.log.info,
        )  # fmt: skip
    record_lineage(warehouse.open(), [soundtrack_lineage(track, day=day, preset=music.model, prompt=prompt,
                                                         themes=music_themes(theme_prompts), run_id=context.run_id)])  # fmt: skip
    with store.local_path(track["waveform_media_key"]) as path:
        picture = base64.b64encode(path.read_bytes()).decode("ascii")
    value = {
        "partition": day.isoformat(), "key": track["key"], "media_key": track["media_key"], "uri": track["uri"],
        "duration_s": track["duration_s"], "sample_rate": track["sample_rate"], "music_prompt": prompt,
        "preset": music.model, "cache_hit": track["cache_hit"], "waveform_media_key": track["waveform_media_key"],
    }  # fmt: skip
    context.log.info(f"soundtrack for {day}: {track['uri']}" + (" (reused)" if track["cache_hit"] else ""))
    return dg.Output(
        value,
        data_version=dg.DataVersion(track["key"]),
        metadata={
            "dagster/uri": track["uri"],
            "waveform": dg.MetadataValue.md(data_uri_markdown(picture, f"soundtrack of {day}: {prompt}")),
            "preset": music.model,
            "model": f"{track['inputs']['model']}@{track['inputs']['revision']}",
            "music_prompt": prompt,
            "duration_s": round(track["duration_s"], 3),
            "reel_clips_s": seconds,
            "sample_rate": track["sample_rate"],
            "segments": track["segments"],
            "cache_hit": track["cache_hit"],
            "seconds": track["render_s"],
            **({"cost_usd": track["cost_usd"]} if hosted else {}),
        },
    )


@contextmanager
def _failing_fast(context: dg.AssetExecutionContext, model: str, hosted: bool):
    """Errors no retry fixes fail at once, saying what to fix: an unknown model, absent weights, a provider
    refusing the key, the prompt or the budget (the next run asks again), a delivered file that is not audio."""
    if not hosted:
        with permanent_errors_fail_fast(context):
            try:
                yield
            except AudioDecodeError as error:
                raise dg.Failure(description=f"soundtrack: {error}", allow_retries=False) from None
        return
    from vidgen_assets.lib.audio.hosted import BudgetRefused, HostedSoundtrackError

    provider = hosted_music_presets()[model].provider
    with hosted_errors_fail_fast(context, provider):
        try:
            yield
        except (BudgetRefused, HostedSoundtrackError, AudioDecodeError) as error:
            raise dg.Failure(description=f"soundtrack on {provider}: {error}", allow_retries=False) from None


def _hosted_call(context, music: MusicResource, prompt: str, seconds: float, day, warehouse, store):
    """`render_hosted_soundtrack` with the day's arguments bound; the render passes the key and media key."""
    from vidgen_assets.lib.audio.hosted import render_hosted_soundtrack

    return functools.partial(
        render_hosted_soundtrack, music.model, prompt=prompt, seconds=seconds, seed=music.seed, day=day,
        warehouse=warehouse.open(), store=store, run_id=context.run_id, log=context.log.info,
    )  # fmt: skip

"""One MP4 per keyframe and motion bucket, from an image-to-video pipeline."""

import time
from dataclasses import asdict

import dagster as dg
from PIL import Image

from vidgen_assets.defs.keyframes.assets import keyframes
from vidgen_assets.defs.partitions import daily_partitions, manifest_key, partition_day
from vidgen_assets.defs.resources import GenerationResource, MediaResource
from vidgen_assets.lib.generation import PIPELINES, get_preset, model_revision, render_clip
from vidgen_assets.lib.generation.params import clip_params, motion_buckets
from vidgen_assets.lib.storage import content_key


@dg.asset(
    partitions_def=daily_partitions,
    deps=[keyframes],
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version="1",
)
def videos(context: dg.AssetExecutionContext, media: MediaResource, generation: GenerationResource) -> dg.MaterializeResult:
    """Clips for the day's keyframes, one per motion bucket; a clip rendered before is reused."""
    day = partition_day(context)
    store = media.open()
    rows = {r["prompt_id"]: r for r in store.get_json(manifest_key("prompts", day))["rows"]}
    frames = store.get_json(manifest_key("keyframes", day))["items"]
    items, clip_seconds = [], []
    for keyframe in frames:
        row = rows[keyframe["prompt_id"]]
        preset = get_preset(row["video_model"] or generation.video_model, "image-to-video")
        for bucket in motion_buckets(row, preset):
            params = clip_params(row, preset, bucket)
            inputs = {"keyframe": keyframe["key"], "model": preset.model_id, "revision": model_revision(preset)}
            key = content_key("clip", {**inputs, **asdict(params)})
            item = {"prompt_id": row["prompt_id"], "key": key, "media_key": f"clips/{key}.mp4", **inputs}
            item.update(motion_bucket_id=bucket, num_frames=params.num_frames, fps=params.fps)
            item["cache_hit"] = store.exists(item["media_key"])
            if not item["cache_hit"]:
                pipeline = generation.pipeline(preset.name, "image-to-video")
                with store.local_path(keyframe["media_key"]) as keyframe_path:
                    image = Image.open(keyframe_path).convert("RGB")
                started = time.perf_counter()
                with store.writing(item["media_key"]) as path:
                    result = render_clip(pipeline, image, path, params)
                clip_seconds.append(time.perf_counter() - started)
                context.log.info(
                    f"clip {len(clip_seconds)}: {row['prompt_id']} bucket {bucket}, "
                    f"{result.frames} frames in {clip_seconds[-1]:.2f}s"
                )
            item["uri"] = store.uri(item["media_key"])
            items.append(item)
    manifest_uri = store.put_json(manifest_key("videos", day), {"partition": day.isoformat(), "items": items})
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(items),
            "rendered": len(clip_seconds),
            "cache_hits": len(items) - len(clip_seconds),
            "s_per_clip": round(sum(clip_seconds) / len(clip_seconds), 3) if clip_seconds else 0.0,
            "model_loads_in_process": PIPELINES.stats.loads,
            "manifest": dg.MetadataValue.path(manifest_uri),
        }
    )

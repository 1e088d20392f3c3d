"""One keyframe PNG per valid prompt row, from a text-to-image pipeline, seeded per row."""

import time
from collections import defaultdict

import dagster as dg

from vidgen_assets.defs.partitions import daily_partitions, manifest_key, partition_day
from vidgen_assets.defs.prompts.assets import prompts
from vidgen_assets.defs.resources import GenerationResource, MediaResource
from vidgen_assets.lib.generation import PIPELINES, KeyframeRequest, get_preset, model_revision, render_keyframes
from vidgen_assets.lib.generation.params import keyframe_settings
from vidgen_assets.lib.storage import content_key


@dg.asset(
    partitions_def=daily_partitions,
    deps=[prompts],
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version="1",
)
def keyframes(context: dg.AssetExecutionContext, media: MediaResource, generation: GenerationResource) -> dg.MaterializeResult:
    """Keyframe images for the day's prompts; an image whose inputs were rendered before is reused."""
    day = partition_day(context)
    store = media.open()
    rows = store.get_json(manifest_key("prompts", day))["rows"]
    items, todo = [], defaultdict(list)
    for row in rows:
        preset = get_preset(row["keyframe_model"] or generation.keyframe_model, "text-to-image")
        settings = keyframe_settings(preset)
        inputs = {
            "prompt": row["prompt"], "negative_prompt": row["negative_prompt"], "seed": row["seed"],
            "model": preset.model_id, "revision": model_revision(preset), **settings,
        }  # fmt: skip
        key = content_key("keyframe", inputs)
        item = {"prompt_id": row["prompt_id"], "key": key, "media_key": f"keyframes/{key}.png", **inputs}
        item["cache_hit"] = store.exists(item["media_key"])
        if not item["cache_hit"]:
            todo[preset.name].append(item)
        items.append(item)
    started = time.perf_counter()
    for preset_name, pending in todo.items():
        preset = get_preset(preset_name, "text-to-image")
        pipeline = generation.pipeline(preset_name, "text-to-image")
        requests = [KeyframeRequest(i["prompt"], i["negative_prompt"], i["seed"]) for i in pending]
        images = render_keyframes(
            pipeline, requests, batch_size=generation.keyframe_batch_size, **keyframe_settings(preset)
        )
        for item, (_, image) in zip(pending, images):
            with store.writing(item["media_key"]) as path:
                image.save(path, format="PNG")
            context.log.info(f"keyframe {item['prompt_id']} -> {item['media_key']}")
    render_s = time.perf_counter() - started
    for item in items:
        item["uri"] = store.uri(item["media_key"])
    manifest_uri = store.put_json(manifest_key("keyframes", day), {"partition": day.isoformat(), "items": items})
    rendered = sum(len(p) for p in todo.values())
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(items),
            "rendered": rendered,
            "cache_hits": len(items) - rendered,
            "render_s": round(render_s, 3),
            "s_per_keyframe": round(render_s / rendered, 4) if rendered else 0.0,
            "model_loads_in_process": PIPELINES.stats.loads,
            "manifest": dg.MetadataValue.path(manifest_uri),
        }
    )

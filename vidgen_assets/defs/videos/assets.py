"""Videos: one MP4 per keyframe and motion bucket (or per text-to-video row), rendered in shards."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP, GPU_STEP, code_version, collected_output, permanent_errors_fail_fast
from vidgen_assets.defs.partitions import daily_partitions
from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
from vidgen_assets.lib.generation import PIPELINES
from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.generation.plan import plan_clips, render_clip_shard, shards
from vidgen_assets.lib.generation.profile import StepProfile, shard_summary
from vidgen_assets.lib.video import clips_poster_md
from vidgen_assets.lib.video.quality import check_day_clips
from vidgen_assets.lib.warehouse.lineage import record_lineage


# What the reel orders and captions clips by; the rest of a row is in its clips' keys and params.
REEL_FIELDS = ("prompt", "style", "subject")


@dg.op(out={"shards": dg.DynamicOut(list), "rows": dg.Out(dict)}, **CPU_STEP)
def plan_clip_shards(generation: GenerationResource, keyframes: dict):
    """Splits the day's clips into shards (rows per shard: `shard_size`, or the start-up rule); each renders in its own step.

    `keyframes` is the day's keyframes output: the keyframes and the prompt rows they were made from.
    """
    items = plan_clips(keyframes["rows"], keyframes["items"], generation.video_model, generation.dtype_of)
    size = generation.shard_rows("clip", items)
    planned = shards(items, size.rows)
    for index, shard in enumerate(planned):
        yield dg.DynamicOutput(shard, output_name="shards", mapping_key=f"shard_{index}")
    rows = {row["prompt_id"]: {field: row.get(field) for field in REEL_FIELDS} for row in keyframes["rows"]}
    # The chosen shard size, why, and the start-up share it gives, on the plan step's output in the UI.
    yield dg.Output(
        {"partition": keyframes["partition"], "rows": rows},
        output_name="rows", metadata={**size.metadata(), "shards": len(planned)},
    )


@dg.op(**GPU_STEP)
def render_clips_shard(
    context: dg.OpExecutionContext, media: MediaResource, generation: GenerationResource, shard: list
) -> dict:
    """Renders one shard's missing clips, streaming frames into the encoder; models load once per process."""
    profile = StepProfile(total=len(shard), device=generation.resolved_device())
    with permanent_errors_fail_fast():
        items = render_clip_shard(
            shard, media.open(), generation.pipeline, profile, report=context.log.info, dtype_of=generation.dtype_of
        )
    return {"items": items, "profile": shard_summary(profile, PIPELINES.stats.loads, PIPELINES.stats.load_seconds)}


@dg.op(**CPU_STEP)
def collect_clips(
    context: dg.OpExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    shard_results: list,
    rows: dict,
) -> dg.Output:
    """The day's clips, what the reel orders them by, and their quality report; plus lineage rows.

    Every clip is decoded and checked here, so the report always belongs to this materialization.
    """
    store = media.open()
    items = [item for result in shard_results for item in result["items"]]
    record_lineage(warehouse.open(), clip_lineage(items, date.fromisoformat(rows["partition"]), context.run_id))
    quality = check_day_clips(items, store)
    value = {**rows, "items": items, "quality": quality}
    versioned = {
        "keys": sorted(i["key"] for i in items), "rows": rows["rows"],
        "failing": sorted(key for key, found in quality.items() if not found["passed"]),
    }  # fmt: skip
    return collected_output(
        "videos", store, value, versioned, [r["profile"] for r in shard_results],
        price_per_gpu_hour=generation.price_per_gpu_hour, preview=clips_poster_md,
    )


@dg.graph_asset(
    partitions_def=daily_partitions,
    ins={"keyframes": dg.AssetIn()},
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version=code_version("3", "clip", "VIDGEN_VIDEO_MODEL", "image-to-video", "text-to-video"),
)
def videos(keyframes):
    """One MP4 (H.264, yuv420p, faststart) per keyframe × motion bucket; unchanged clips are reused."""
    shards, rows = plan_clip_shards(keyframes)
    return collect_clips(shards.map(render_clips_shard).collect(), rows)

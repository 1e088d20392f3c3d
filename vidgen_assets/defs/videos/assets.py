"""Videos: one MP4 per keyframe and motion bucket (or per text-to-video row), rendered in shards."""

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP, GPU_STEP, code_version, collected_output, permanent_errors_fail_fast
from vidgen_assets.defs.partitions import daily_partitions, manifest_key, partition_day
from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
from vidgen_assets.lib.generation import PIPELINES
from vidgen_assets.lib.generation.plan import clip_lineage, plan_clips, render_clip_shard, shards
from vidgen_assets.lib.generation.profile import StepProfile, shard_summary
from vidgen_assets.lib.video import clips_poster_md
from vidgen_assets.lib.warehouse.lineage import record_lineage


@dg.op(ins={"keyframes": dg.In(dg.Nothing)}, out=dg.DynamicOut(list), **CPU_STEP)
def plan_clip_shards(context: dg.OpExecutionContext, media: MediaResource, generation: GenerationResource):
    """Splits the day's clips into shards of at most `shard_size` prompt rows; each renders in its own step."""
    day = partition_day(context)
    store = media.open()
    rows = store.get_json(manifest_key("prompts", day))["rows"]
    keyframe_items = store.get_json(manifest_key("keyframes", day))["items"]
    items = plan_clips(rows, keyframe_items, generation.video_model)
    for index, shard in enumerate(shards(items, generation.shard_size)):
        yield dg.DynamicOutput(shard, mapping_key=f"shard_{index}")


@dg.op(**GPU_STEP)
def render_clips_shard(
    context: dg.OpExecutionContext, media: MediaResource, generation: GenerationResource, shard: list
) -> dict:
    """Renders one shard's missing clips, streaming frames into the encoder; models load once per process."""
    profile = StepProfile(total=len(shard), device=generation.resolved_device())
    with permanent_errors_fail_fast():
        items = render_clip_shard(shard, media.open(), generation.pipeline, profile, report=context.log.info)
    return {"items": items, "profile": shard_summary(profile, PIPELINES.stats.loads, PIPELINES.stats.load_seconds)}


@dg.op(**CPU_STEP)
def collect_clips(
    context: dg.OpExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    shard_results: list,
) -> dg.Output:
    """Writes the day's clip manifest and lineage rows."""
    day = partition_day(context)
    items = [item for result in shard_results for item in result["items"]]
    record_lineage(warehouse.open(), clip_lineage(items, day, context.run_id))
    return collected_output(
        "videos", day, media.open(), items, [r["profile"] for r in shard_results],
        price_per_gpu_hour=generation.price_per_gpu_hour, preview=clips_poster_md,
    )


@dg.graph_asset(
    partitions_def=daily_partitions,
    ins={"keyframes": dg.AssetIn(dagster_type=dg.Nothing)},
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version=code_version("2", "VIDGEN_VIDEO_MODEL", "image-to-video", "text-to-video"),
)
def videos(keyframes):
    """One MP4 (H.264, yuv420p, faststart) per keyframe × motion bucket; unchanged clips are reused."""
    return collect_clips(plan_clip_shards(keyframes).map(render_clips_shard).collect())

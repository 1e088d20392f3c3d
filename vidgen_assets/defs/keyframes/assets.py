"""Keyframes: one PNG per prompt row, rendered in shards so one day spreads over many GPU steps."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP, GPU_STEP, code_version, collected_output, permanent_errors_fail_fast
from vidgen_assets.defs.partitions import daily_partitions
from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
from vidgen_assets.lib.generation import PIPELINES
from vidgen_assets.lib.generation.lineage_rows import keyframe_lineage
from vidgen_assets.lib.generation.plan import plan_keyframes, shards
from vidgen_assets.lib.generation.render import render_keyframe_shard
from vidgen_assets.lib.generation.profile import StepProfile, shard_summary
from vidgen_assets.lib.video import keyframes_preview_md
from vidgen_assets.lib.warehouse.lineage import record_lineage

@dg.op(out={"shards": dg.DynamicOut(list), "rows": dg.Out(dict)}, **CPU_STEP)
def plan_keyframe_shards(generation: GenerationResource, prompts: dict):
    """Splits the day's keyframes into shards (rows per shard: `shard_size`, or the start-up rule); each renders in its own step.

    `prompts` is the snapshot of the day being materialized; its rows travel on to `videos`.
    """
    items = plan_keyframes(prompts["rows"], generation.keyframe_model, generation.video_model, generation.dtype_of)
    size = generation.shard_rows("keyframe", items)
    planned = shards(items, size.rows)
    for index, shard in enumerate(planned):
        yield dg.DynamicOutput(shard, output_name="shards", mapping_key=f"shard_{index}")
    # The chosen shard size, why, and the start-up share it gives, on the plan step's output in the UI.
    # What the prompts step read travels with the rows: the reel records the day as rendered from it.
    read = {"fingerprint": prompts.get("fingerprint"), "source_rows": prompts.get("source_rows")}
    yield dg.Output(
        {"partition": prompts["partition"], "rows": prompts["rows"], "read": read},
        output_name="rows", metadata={**size.metadata(), "shards": len(planned)},
    )


@dg.op(**GPU_STEP)
def render_keyframes_shard(
    context: dg.OpExecutionContext, media: MediaResource, generation: GenerationResource, shard: list
) -> dict:
    """Renders one shard's missing keyframes in batches; the model loads once per process."""
    profile = StepProfile(total=len(shard), device=generation.resolved_device())
    with permanent_errors_fail_fast(context):
        items = render_keyframe_shard(
            shard, media.open(), generation.pipeline, profile,
            batch_size=generation.keyframe_batch_size, report=context.log.info, dtype_of=generation.dtype_of,
        )  # fmt: skip
    return {"items": items, "profile": shard_summary(profile, PIPELINES.stats.loads, PIPELINES.stats.load_seconds)}


@dg.op(**CPU_STEP)
def collect_keyframes(
    context: dg.OpExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    shard_results: list,
    rows: dict,
) -> dg.Output:
    """The day's keyframes with the prompt rows they were planned from (what `videos` needs), and lineage rows."""
    items = [item for result in shard_results for item in result["items"]]
    record_lineage(warehouse.open(), keyframe_lineage(items, date.fromisoformat(rows["partition"]), context.run_id))
    value = {**rows, "items": items}
    return collected_output(
        "keyframes", media.open(), value, {"keys": sorted(i["key"] for i in items), "rows": rows["rows"]},
        [r["profile"] for r in shard_results], price_per_gpu_hour=generation.price_per_gpu_hour, preview=keyframes_preview_md,
    )  # fmt: skip


@dg.graph_asset(
    partitions_def=daily_partitions,
    ins={"prompts": dg.AssetIn()},
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version=code_version("3", "keyframe", "VIDGEN_KEYFRAME_MODEL", "text-to-image"),
)
def keyframes(prompts):
    """One keyframe PNG per prompt row from a text-to-image model, seeded per row; unchanged ones are reused."""
    shards, rows = plan_keyframe_shards(prompts)
    return collect_keyframes(shards.map(render_keyframes_shard).collect(), rows)

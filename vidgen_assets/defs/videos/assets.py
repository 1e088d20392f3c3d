"""Videos: one MP4 per keyframe and motion bucket (or per text-to-video row), rendered in shards."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.fanout import (
    CPU_STEP, GPU_STEP, code_version, collected_output, hosted_errors_fail_fast, hosted_step, permanent_errors_fail_fast,
    run_cancelled,
)  # fmt: skip
from vidgen_assets.defs.partitions import daily_partitions
from vidgen_assets.defs.resources import GenerationResource, MediaResource, ProvidersResource, WarehouseResource
from vidgen_assets.lib.bounded import shown_entries
from vidgen_assets.lib.generation import PIPELINES, VIDEO_TASKS
from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.generation.plan import plan_clips, shards
from vidgen_assets.lib.generation.render import render_clip_shard
from vidgen_assets.lib.generation.profile import StepProfile, shard_summary
from vidgen_assets.lib.generation.providers.registry import PROVIDERS
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.shot_plan import import_source, render_in_waves
from vidgen_assets.lib.generation.providers.summary import cost_by_provider, failing_share, refusals, refused_quality
from vidgen_assets.lib.rules.budget import Budgets, BudgetSettingError, LedgerSpending
from vidgen_assets.lib.video import clips_poster_md
from vidgen_assets.lib.video.continuity import add_continuity
from vidgen_assets.lib.video.metrics import add_start_jumps
from vidgen_assets.lib.video.quality import check_day_clips
from vidgen_assets.lib.warehouse.claims import WarehouseClaims
from vidgen_assets.lib.warehouse.lineage import record_lineage


# What the reel orders and captions clips by; the rest of a row is in its clips' keys and params.
REEL_FIELDS = ("prompt", "style", "subject", "scene", "scene_order")


@dg.op(
    out={"shards": dg.DynamicOut(list), **{provider: dg.DynamicOut(list) for provider in PROVIDERS}, "rows": dg.Out(dict)},
    **CPU_STEP,
)
def plan_clip_shards(generation: GenerationResource, media: MediaResource, keyframes: dict):
    """Splits the day's local clips into shards (rows per shard: `shard_size`, or the start-up rule), each
    rendered in its own GPU step, and hosted clips into one shard per provider, a CPU step in its pool.
    Shots made from other shots (a scene's continuations, restyles) share a shard, in dependency order.

    `keyframes` is the day's keyframes output: the keyframes and the prompt rows they were made from.
    """
    store = media.open()
    items = plan_clips(keyframes["rows"], keyframes["items"], generation.video_model, generation.dtype_of,
                       source_key=lambda uri: import_source(store, uri), **generation.render_settings().plan_options())  # fmt: skip
    local = [item for item in items if "provider" not in item]
    size = generation.shard_rows("clip", local)
    planned = shards(local, size.rows)
    for index, shard in enumerate(planned):
        yield dg.DynamicOutput(shard, output_name="shards", mapping_key=f"shard_{index}")
    for provider in PROVIDERS:
        hosted = [item for item in items if item.get("provider") == provider]
        if hosted:
            yield dg.DynamicOutput(hosted, output_name=provider, mapping_key=provider)
    rows = {row["prompt_id"]: {field: row.get(field) for field in REEL_FIELDS} for row in keyframes["rows"]}
    # The chosen shard size, why, and the start-up share it gives, on the plan step's output in the UI.
    yield dg.Output(
        {"partition": keyframes["partition"], "rows": rows, "read": keyframes.get("read")},
        output_name="rows", metadata={**size.metadata(), "shards": len(planned)},
    )


@dg.op(**GPU_STEP)
def render_clips_shard(
    context: dg.OpExecutionContext, media: MediaResource, generation: GenerationResource, shard: list
) -> dict:
    """Renders one shard's missing clips, streaming frames into the encoder; models load once per process."""
    profile = StepProfile(total=len(shard), device=generation.resolved_device())
    with permanent_errors_fail_fast(context):
        items = render_clip_shard(
            shard, media.open(), generation.pipeline, profile, report=context.log.info, dtype_of=generation.dtype_of,
            overlap_encode=generation.overlap_encode, denoise_batch=generation.denoise_batch,
        )
    return {"items": items, "profile": shard_summary(profile, PIPELINES.stats.loads, PIPELINES.stats.load_seconds)}


def hosted_renderer(provider: str) -> dg.OpDefinition:
    """The op rendering a day's clips on `provider`: many tasks in flight from one CPU step."""

    @dg.op(name=f"render_{provider}_clips", **hosted_step(provider))
    def render_hosted_clips(
        context: dg.OpExecutionContext, media: MediaResource, providers: ProvidersResource,
        warehouse: WarehouseResource, shard: list,
    ) -> dict:  # fmt: skip
        """Creates each clip's provider task once, whoever launches (a claim per clip in the warehouse; a retry,
        resumed or concurrent run polls the task), downloads and checks the output; a cancelled run cancels
        the open tasks. Each create first holds its list price in the spend ledger: a clip no budget has room
        for is refused (`budget`) and asked for again by a later run."""
        profile = StepProfile(total=len(shard), device=f"hosted:{provider}")
        try:
            budgets = Budgets.from_env()
        except BudgetSettingError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        spending = LedgerSpending(warehouse.open(), date.fromisoformat(context.partition_key), context.run_id, budgets)
        store, claims = media.open(), WarehouseClaims(warehouse.open())
        with hosted_errors_fail_fast(context, provider):
            client = providers.client(provider)  # a missing or malformed key fails here, at once
            # Round by round: a continuation or restyle is created once the shot it is made from is stored.
            items = render_in_waves(shard, store, lambda wave: render_hosted_items(
                wave, store, client, profile, settings=providers.settings(provider),
                report=context.log.info, cancel_on_interrupt=lambda: run_cancelled(context),
                claims=claims, spending=spending,
            ))  # fmt: skip
        return {"items": items, "profile": shard_summary(profile, 0, 0.0)}

    return render_hosted_clips


HOSTED_RENDERERS = {provider: hosted_renderer(provider) for provider in PROVIDERS}


@dg.op(
    ins={"local_shards": dg.In(list), **{f"{provider}_shards": dg.In(list) for provider in PROVIDERS}, "rows": dg.In(dict)},
    **CPU_STEP,
)
def collect_clips(
    context: dg.OpExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    rows: dict,
    **shard_results: list,
) -> dg.Output:
    """The day's clips (local and hosted), what the reel orders them by, and their quality report with each
    clip's metrics; plus lineage rows. A clip a provider refused fails the report with the provider's code and reason.

    Every clip is decoded and checked here, so the report always belongs to this materialization.
    """
    store = media.open()
    results = [result for results in shard_results.values() for result in results]
    items = [item for result in results for item in result["items"]]
    made = [item for item in items if "failure" not in item]
    quality = {**check_day_clips(made, store), **{i["key"]: refused_quality(i) for i in items if "failure" in i}}
    add_continuity(quality, made, store)
    add_start_jumps(quality)
    # Each clip's row carries the metrics its quality check measured (the drift checks read them from lineage).
    record_lineage(warehouse.open(), clip_lineage(items, date.fromisoformat(rows["partition"]), context.run_id, quality))
    value = {**rows, "items": items, "quality": quality}
    versioned = {
        "keys": sorted(i["key"] for i in items), "rows": rows["rows"],
        "failing": sorted(key for key, found in quality.items() if not found["passed"]),
    }  # fmt: skip
    # The first few refusals (moderation, invalid input, budget) and clips not delivered (deadline, output
    # lost), each with its count; lineage and the manifest's quality report hold every one.
    refused, more_refused = shown_entries(refusals(items))
    undelivered, more_undelivered = shown_entries(refusals(items, refused=False))
    failing, _, share = failing_share(quality)
    hosted_metadata = {
        **{f"cost_usd_{provider}": cost for provider, cost in cost_by_provider(items).items()},
        **({"provider_refusals": dg.MetadataValue.json(refused), "refused": len(refused) + more_refused} if refused else {}),
        **({"provider_failures": dg.MetadataValue.json(undelivered), "not_delivered": len(undelivered) + more_undelivered}
           if undelivered else {}),
        "failing_share": round(share, 3),  # failing clips among those not refused: what the reel is held to
    }  # fmt: skip
    return collected_output(
        "videos", store, value, versioned, [r["profile"] for r in results],
        price_per_gpu_hour=generation.price_per_gpu_hour,
        preview=lambda media_store, clips: clips_poster_md(media_store, [c for c in clips if "failure" not in c]),
        metadata=hosted_metadata,
    )


@dg.graph_asset(
    partitions_def=daily_partitions,
    ins={"keyframes": dg.AssetIn()},
    kinds={"pytorch", "diffusers"},
    group_name="vidgen",
    code_version=code_version("3", "clip", "VIDGEN_VIDEO_MODEL", *VIDEO_TASKS),
)
def videos(keyframes):
    """One MP4 (H.264, yuv420p, faststart) per keyframe × motion bucket; unchanged clips are reused."""
    planned = plan_clip_shards(keyframes)
    hosted = {f"{p}_shards": getattr(planned, p).map(HOSTED_RENDERERS[p]).collect() for p in PROVIDERS}
    return collect_clips(local_shards=planned.shards.map(render_clips_shard).collect(), rows=planned.rows, **hosted)

"""Experiments: a sample of a day's prompts rendered under several variants, compared side by side."""

from datetime import date

import dagster as dg

from vidgen_assets.defs.fanout import GPU_STEP, hosted_errors_fail_fast, permanent_errors_fail_fast, run_cancelled
from vidgen_assets.defs.resources import GenerationResource, MediaResource, ProvidersResource, WarehouseResource
from vidgen_assets.lib.experiments import ExperimentError
from vidgen_assets.lib.experiments.compare import as_markdown
from vidgen_assets.lib.experiments.run import experiment_day, load_spec, run_experiment
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.shot_plan import render_in_waves
from vidgen_assets.lib.k8s import GPU_POOL
from vidgen_assets.lib.rules.budget import Budgets, BudgetSettingError, LedgerSpending
from vidgen_assets.lib.stats.chart import png_markdown
from vidgen_assets.lib.warehouse.claims import WarehouseClaims

# One partition per experiment; `vidgen experiment run` adds it, or add one in the UI after storing its spec.
experiment_partitions = dg.DynamicPartitionsDefinition(name="experiments")


def hosted_renderer(context: dg.AssetExecutionContext, providers: ProvidersResource, warehouse: WarehouseResource,
                    store, day: date):  # fmt: skip
    """Hosted variants take the daily run's path: a claim per clip (a task is never created twice) and the
    spend ledger's budgets, charged to the experiment's day."""

    def render(provider: str, items: list[dict]) -> list[dict]:
        try:
            budgets = Budgets.from_env()
        except BudgetSettingError as error:
            raise dg.Failure(description=str(error), allow_retries=False) from None
        spending = LedgerSpending(warehouse.open(), day, context.run_id, budgets)
        profile, claims = StepProfile(total=len(items), device=f"hosted:{provider}"), WarehouseClaims(warehouse.open())
        with hosted_errors_fail_fast(context, provider):
            client = providers.client(provider)
            return render_in_waves(items, store, lambda wave: render_hosted_items(
                wave, store, client, profile, settings=providers.settings(provider), report=context.log.info,
                cancel_on_interrupt=lambda: run_cancelled(context), claims=claims, spending=spending,
            ))  # fmt: skip

    return render


@dg.asset(
    partitions_def=experiment_partitions,
    kinds={"pytorch", "diffusers"},
    group_name="experiments",
    op_tags=GPU_STEP["tags"],
    pool=GPU_POOL,
    code_version="1",
)
def experiment(
    context: dg.AssetExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    generation: GenerationResource,
    providers: ProvidersResource,
) -> dg.MaterializeResult:
    """Renders the experiment's sampled prompts under each variant (spec: `experiments/<name>/spec.json` in
    the media store) through the daily run's cache, and compares them: a side-by-side video, a contact
    sheet, and per variant seconds, cost, memory, cache hits, metric medians and failed checks.

    Never writes the daily assets' outputs, lineage or `day_renders`.
    """
    store = media.open()
    try:
        spec = load_spec(store, context.partition_key)
        day = experiment_day(spec, warehouse.open())
        with permanent_errors_fail_fast(context):
            result = run_experiment(
                spec, warehouse.open(), store, generation.render_settings(),
                hosted=hosted_renderer(context, providers, warehouse, store, day), report=context.log.info,
            )  # fmt: skip
    except ExperimentError as error:
        raise dg.Failure(description=str(error), allow_retries=False) from None
    grid = result["grid"]
    with store.local_path(grid["sheet_key"]) as sheet:
        preview = png_markdown(sheet.read_bytes(), f"experiment {spec.name}: one column per variant")
    return dg.MaterializeResult(
        metadata={
            "preview": dg.MetadataValue.md(preview),
            "comparison": dg.MetadataValue.md(as_markdown(result["table"])),
            "side_by_side": dg.MetadataValue.path(grid["video_uri"]),
            "contact_sheet": dg.MetadataValue.path(grid["sheet_uri"]),
            "result": dg.MetadataValue.path(result["uri"]),
            "day": result["day"],
            "sampled": dg.MetadataValue.json(result["sampled"]),
            "variants": len(result["table"]),
            **{f"cache_hit_pct/{c['variant']}": c["cache_hit_pct"] for c in result["table"]},
        }
    )


# What `vidgen experiment run` launches (and the UI's launchpad offers): the experiment asset alone.
experiment_job = dg.define_asset_job(
    "experiment_job", selection=[experiment], partitions_def=experiment_partitions,
    description="Materializes one experiment (a partition per experiment name); the daily assets are not selected.",
)  # fmt: skip

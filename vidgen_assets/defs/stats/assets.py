"""The day at a glance: render statistics per model from the lineage table and the Dagster instance."""

from datetime import timedelta

import dagster as dg

from vidgen_assets.defs.partitions import daily_partitions, partition_day
from vidgen_assets.defs.resources import GenerationResource, WarehouseResource
from vidgen_assets.defs.stats.run_timings import peak_memory, run_timings
from vidgen_assets.lib.stats import day_stats, phase_seconds
from vidgen_assets.lib.stats.chart import png_markdown, stats_chart_png
from vidgen_assets.lib.stats.format import METRICS_SHOWN, UI_SHOWN, markdown_table
from vidgen_assets.lib.warehouse.render_stats import lineage_records, read_stats, save_day_stats

CHART_DAYS = 14


@dg.asset(
    partitions_def=daily_partitions,
    deps=["videos", "reel"],
    kinds={"pandas", "duckdb"},
    group_name="vidgen",
    code_version="2",
)
def render_stats(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, generation: GenerationResource
) -> dg.MaterializeResult:
    """Per model: clips, cache hits, seconds per clip (p50/p95, by phase), steps/s, memory, cost, queueing and
    the median of each clip metric (motion, flicker, sharpness, exposure, colour, joins).

    Stored in the warehouse table `render_stats` (one row per day × kind × model) for SQL trends.
    """
    day = partition_day(context)
    store = warehouse.open()
    records = lineage_records(store, day, day)
    # Inside the daily job this run made the day's outputs; alone, describe the latest run that did.
    run_id = context.run_id if (records["run_id"] == context.run_id).any() or records.empty else records["run_id"].iloc[-1]
    timings = run_timings(context.instance, run_id)
    stats = day_stats(
        records, timings, price_per_gpu_hour=generation.price_per_gpu_hour,
        peak_memory_gb=peak_memory(context.instance, run_id),
    )  # fmt: skip
    save_day_stats(store, day, stats)
    history = read_stats(store, day - timedelta(days=CHART_DAYS - 1), day)
    png = stats_chart_png(history, phase_seconds(records, timings), day, CHART_DAYS)
    clips = stats[stats["kind"] == "clip"] if len(stats) else stats
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": len(stats),
            "dagster/table_name": "render_stats",
            "chart": dg.MetadataValue.md(png_markdown(png, f"render statistics for {day}")),
            "chart_bytes": len(png),
            # The columns that fit the pane; the warehouse table and `vidgen stats --format json` hold them all.
            "stats": dg.MetadataValue.md(markdown_table(stats, UI_SHOWN) if len(stats) else "no keyframes or clips recorded"),
            # Each clip metric's median per model: what the drift check compares with the trailing days.
            "clip_metrics": dg.MetadataValue.md(markdown_table(clips, METRICS_SHOWN) if len(clips) else "no clips"),
            "clips": int(clips["items"].sum()) if len(clips) else 0,
            "clips_rendered": int(clips["rendered"].sum()) if len(clips) else 0,
            "day_cost_usd": round(float(stats["cost_day_usd"].sum()), 6) if len(stats) else 0.0,
            "queue_wait_p95_s": float(stats["queue_wait_p95_s"].max()) if len(stats) else timings.queue_s,
            "run_queue_s": round(timings.queue_s, 3),
            "run_wall_s": round(timings.wall_s, 3),
            "run_id": run_id,
            "query": dg.MetadataValue.text(f"SELECT * FROM render_stats WHERE day = DATE '{day}' ORDER BY kind, model"),
        }
    )

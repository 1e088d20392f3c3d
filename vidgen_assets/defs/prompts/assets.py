"""The day's prompt rows, validated and snapshotted so later steps render exactly this set."""

from dataclasses import asdict

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP
from vidgen_assets.defs.partitions import daily_partitions, partition_day
from vidgen_assets.defs.resources import GenerationResource, MediaResource, WarehouseResource
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.generation import VIDEO_TASKS, preset_names
from vidgen_assets.lib.generation.shot_plan import source_problem
from vidgen_assets.lib.rules.shots import accepted_rows
from vidgen_assets.lib.storage import content_key
from vidgen_assets.lib.storage.manifests import write_manifest
from vidgen_assets.lib.warehouse import Rejection


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"duckdb"},
    group_name="vidgen",
    # Not a data input: `theme_prompts` writes its rows into the table this step reads, so they are read
    # with the day's other rows, in the same snapshot and fingerprint.
    deps=["theme_prompts"],
    op_tags=CPU_STEP["tags"],
    code_version="2",  # the snapshot is now the output value `keyframes` loads
)
def prompts(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    media: MediaResource,
    generation: GenerationResource,
) -> dg.Output:
    """The day's rows from the warehouse table `prompts`, validated; bad rows go to `prompt_rejections`.

    Its output (the snapshot) is what `keyframes` plans from, loaded by the IO manager for the same day.
    The day counts as rendered (`day_renders`) only once its reel is published, not here.
    """
    day = partition_day(context)
    store = warehouse.open()
    # The rows and their fingerprint in one read, so the recorded render matches what was rendered.
    rows, fingerprint = store.day_snapshot(day)
    # Each row validated, then the day's shots as a whole (scenes, continuations, restyles).
    media_store = media.open()
    accepted, rejected = accepted_rows(
        rows, preset_names("text-to-image"), preset_names(*VIDEO_TASKS), generation.video_model, store.days_of,
        source_check=lambda uri: source_problem(media_store, uri),
    )
    store.replace_rejections(day, [row["prompt_id"] for row in rows], rejected)
    # Rows an import turned away never reached the table; they count against the day all the same.
    rendered_ids = {row["prompt_id"] for row in accepted}
    rejected += [r for r in store.import_rejections(day) if r.prompt_id not in rendered_ids]
    snapshot = {
        "partition": day.isoformat(),
        "rows": accepted,
        "rejected": [asdict(rejection) for rejection in rejected],
        "source_rows": len(rows),
        "fingerprint": fingerprint,
    }
    # The same rows give the same version, so re-reading an unchanged day leaves downstream fresh.
    version = content_key("prompts", {"rows": snapshot["rows"]})
    uri = write_manifest(media.open(), f"manifests/prompts/{day}/{version}", snapshot)  # a readable copy; no step reads it
    # A few lines, then a count: every rejection is in `prompt_rejections` and the snapshot.
    for line in shown_lines((f"rejected {r.prompt_id!r}: {r.reason}" for r in rejected),
                            rest="…and {count} more rejected rows (all in prompt_rejections and the snapshot)"):
        context.log.warning(line)
    return dg.Output(
        snapshot,
        data_version=dg.DataVersion(version),
        metadata={
            "dagster/row_count": len(accepted),
            "rows_read": len(rows),
            # Which rows this run read: the change sensor counts a day's failed runs per set of rows.
            "fingerprint": fingerprint,
            "rows_valid": len(accepted),
            "rows_rejected": len(rejected),
            "rejections": dg.MetadataValue.md(_rejections_table(rejected)),
            "snapshot": dg.MetadataValue.path(uri),
        }
    )


def _rejections_table(rejected: list[Rejection]) -> str:
    if not rejected:
        return "No rejected rows."
    lines = ["| prompt_id | reason |", "| --- | --- |"]
    lines += [f"| {str(r.prompt_id)[:60]} | {r.reason.replace('|', '/')[:200]} |" for r in rejected[:50]]
    return "\n".join(lines + ([f"\n… and {len(rejected) - 50} more"] if len(rejected) > 50 else []))

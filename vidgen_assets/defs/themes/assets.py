"""The day's themes, each written out as prompt rows by a language model (or offline), before `prompts` reads the day."""

import os

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP
from vidgen_assets.defs.partitions import daily_partitions, partition_day
from vidgen_assets.defs.resources import MediaResource, WarehouseResource, WriterResource
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.generation import VIDEO_TASKS, preset_names
from vidgen_assets.lib.storage import content_key
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage
from vidgen_assets.lib.warehouse.themes import (
    clear_theme_rejections, day_themes, reject_theme, retire_theme_rows, write_theme_rows,
)  # fmt: skip
from vidgen_assets.lib.themes import WriterConfigError, write_theme


@dg.asset(
    partitions_def=daily_partitions,
    kinds={"openai", "duckdb"},
    group_name="vidgen",
    op_tags=CPU_STEP["tags"],
    code_version="1",
)
def theme_prompts(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, media: MediaResource, writer: WriterResource
) -> dg.Output:
    """Each theme of the day (table `themes`) written as `count` rows of `prompts`, ids `<theme_id>-NNN`.

    The rows go into the warehouse like an import (validated, change-tracked, quarantined when bad), so
    `prompts` reads them with the day's other rows and they can be listed, edited or deleted like any row.
    The model's replies are cached by content: a re-run calls it 0 times, and an unchanged row is not
    re-rendered. Offline (no `VIDGEN_LLM_BASE_URL`) the themes expand through the composition word lists.
    """
    day = partition_day(context)
    try:
        settings = writer.settings()
    except WriterConfigError as error:  # a bad variable is the same on every retry
        raise dg.Failure(str(error), allow_retries=False) from None
    store, cache = warehouse.open(), media.open()
    keyframe_models, video_models = preset_names("text-to-image"), preset_names(*VIDEO_TASKS)
    themes = day_themes(store, day)
    written, problems, lineage = [], [], []
    for theme in themes:
        reply = write_theme(theme, settings, cache)
        entry = {"theme_id": theme["theme_id"], "music_prompt": theme.get("music_prompt"), "calls": reply.calls,
                 "cache_hit": reply.cache_hit, "rejection": reply.rejection, "prompt_ids": []}  # fmt: skip
        if reply.rejection:
            # The rows it wrote before stay: a model that is down for a day must not empty the day.
            reject_theme(store, theme, reply.rejection, source="theme_prompts")
            problems.append(f"theme {theme['theme_id']!r} not written: {reply.rejection}")
        else:
            clear_theme_rejections(store, theme["theme_id"], source="theme_prompts")
            result = write_theme_rows(store, theme, reply.rows, keyframe_models, video_models)
            entry.update(prompt_ids=list(result.prompt_ids), written=result.written, unchanged=result.unchanged,
                         retired=result.retired, rejected=result.rejected)  # fmt: skip
            problems += [f"theme {theme['theme_id']!r}: {r.prompt_id}: {r.reason}" for r in result.rejections]
            key = content_key("theme", {k: theme.get(k) for k in _THEME_FIELDS} | {"backend": reply.backend})
            lineage += [
                lineage_row(key=key, kind="theme", day=day, uri=f"theme:{theme['theme_id']}", prompt_id=prompt_id,
                            params={**{k: theme.get(k) for k in _THEME_FIELDS}, "backend": reply.backend,
                                    "reply": reply.cache_key},
                            cache_hit=reply.cache_hit, run_id=context.run_id)
                for prompt_id in result.prompt_ids
            ]  # fmt: skip
        written.append(entry)
    retired = retire_theme_rows(store, day, [t["theme_id"] for t in themes])
    record_lineage(store, lineage)
    for line in shown_lines(problems, rest="…and {count} more (all in theme_rejections and prompt_rejections)"):
        context.log.warning(line)
    music = _music_prompt(themes)
    calls = sum(entry["calls"] for entry in written)
    return dg.Output(
        {"partition": day.isoformat(), "music_prompt": music, "themes": written},
        metadata={
            "themes": len(themes),
            "themes_rejected": sum(1 for entry in written if entry["rejection"]),
            "prompt_rows": sum(len(entry["prompt_ids"]) for entry in written),
            "rows_written": sum(entry.get("written", 0) for entry in written),
            "rows_retired": retired + sum(entry.get("retired", 0) for entry in written),
            "model_calls": calls,
            "backend": settings.model if settings.base_url else "offline",
            "music_prompt": music or "none (no soundtrack)",
            "table": dg.MetadataValue.md(_table(written)),
        },
    )


_THEME_FIELDS = ("theme_id", "theme", "count", "style", "keyframe_model", "video_model")


def _music_prompt(themes: list[dict]) -> str | None:
    """The day's music: its themes' music prompts (distinct, in theme order), else `VIDGEN_MUSIC_PROMPT`."""
    prompts = list(dict.fromkeys(" ".join(t["music_prompt"].split()) for t in themes if (t.get("music_prompt") or "").strip()))
    return "; ".join(prompts) or os.getenv("VIDGEN_MUSIC_PROMPT", "").strip() or None


def _table(written: list[dict]) -> str:
    if not written:
        return "No themes for this day."
    lines = ["| theme_id | rows | model calls | cached | rejected |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {e['theme_id'][:60]} | {len(e['prompt_ids'])} | {e['calls']} | {e['cache_hit']} | "
              f"{(e['rejection'] or '').replace('|', '/')[:120]} |" for e in written[:50]]  # fmt: skip
    return "\n".join(lines + ([f"\n… and {len(written) - 50} more"] if len(written) > 50 else []))

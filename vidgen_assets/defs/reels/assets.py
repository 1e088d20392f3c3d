"""The day's reel: its passing clips joined in a stable order, plus a contact sheet of the keyframes."""

from contextlib import ExitStack
from dataclasses import asdict

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP
from vidgen_assets.defs.partitions import daily_partitions, manifest_key, partition_day
from vidgen_assets.defs.resources import MediaResource, ReelResource, WarehouseResource
from vidgen_assets.defs.videos.assets import videos
from vidgen_assets.lib.storage import content_key
from vidgen_assets.lib.video import ReelClip, ReelSettings, compile_reel, contact_sheet, keyframes_preview_md
from vidgen_assets.lib.video.quality import check_day_clips
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage

@dg.asset(
    partitions_def=daily_partitions,
    deps=[videos],
    kinds={"ffmpeg"},
    group_name="vidgen",
    op_tags=CPU_STEP["tags"],
    code_version="3",
)
def reel(
    context: dg.AssetExecutionContext, media: MediaResource, warehouse: WarehouseResource, reel_settings: ReelResource
) -> dg.MaterializeResult:
    """One browser-playable MP4 per day joining the day's passing clips in a stable order, and a contact sheet."""
    day = partition_day(context)
    store = media.open()
    rows = {r["prompt_id"]: r for r in store.get_json(manifest_key("prompts", day))["rows"]}
    items = store.get_json(manifest_key("videos", day))["items"]
    quality_key = manifest_key("quality", day)
    # The blocking check already decoded every clip; without it (reel alone), check here.
    quality = store.get_json(quality_key)["clips"] if store.exists(quality_key) else check_day_clips(items, store)
    included = [i for i in items if quality.get(i["key"], {}).get("passed")]
    excluded = [i for i in items if i not in included]
    for item in excluded:
        context.log.warning(f"left out {item['prompt_id']} bucket {item['motion_bucket_id']}: {quality[item['key']]['problems']}")
    if not included:
        raise dg.Failure(f"no usable clips for {day}: {len(items)} made, {len(excluded)} failed the quality check", allow_retries=False)
    settings = ReelSettings(
        order=reel_settings.order, crossfade_s=reel_settings.crossfade_s, captions=reel_settings.captions,
        audio_path=reel_settings.audio_path or None,
    )  # fmt: skip
    key = content_key("reel", {"clips": [i["key"] for i in included], "settings": asdict(settings)})
    reel_key, sheet_key = f"reels/{day}/{key}.mp4", f"reels/{day}/{key}-contact.png"
    keyframes = store.get_json(manifest_key("keyframes", day))["items"]
    with ExitStack() as stack:
        clips = [
            ReelClip(
                path=stack.enter_context(store.local_path(i["media_key"])), prompt_id=i["prompt_id"],
                prompt=rows[i["prompt_id"]]["prompt"], style=rows[i["prompt_id"]].get("style"),
                subject=rows[i["prompt_id"]].get("subject"), motion_bucket_id=i["motion_bucket_id"],
            )
            for i in included
        ]  # fmt: skip
        with store.writing(reel_key) as path:
            result = compile_reel(clips, path, settings)
        if keyframes:
            keyframe_paths = [stack.enter_context(store.local_path(k["media_key"])) for k in keyframes]
            with store.writing(sheet_key) as path:
                contact_sheet(keyframe_paths, [k["prompt"] for k in keyframes], path)
    reel_uri = store.uri(reel_key)
    info = result.info
    store.put_json(manifest_key("reel", day), {
        "partition": day.isoformat(), "key": key, "media_key": reel_key, "uri": reel_uri, "contact_sheet": store.uri(sheet_key),
        "clips": [i["key"] for i in included], "excluded": [i["key"] for i in excluded], "frames": info.frames,
        "crossfade_frames": result.crossfade_frames,
    })  # fmt: skip
    record_lineage(warehouse.open(), [
        lineage_row(
            key=key, kind="reel", day=day, uri=reel_uri, parents=[i["key"] for i in included],
            params={**asdict(settings), "stream_copy": result.stream_copy}, run_id=context.run_id,
        )
    ])  # fmt: skip
    context.log.info(f"reel for {day}: {reel_uri}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(key),
        metadata={
            "dagster/uri": reel_uri,
            "path": dg.MetadataValue.path(reel_uri),
            "contact_sheet": dg.MetadataValue.path(store.uri(sheet_key)),
            "preview": dg.MetadataValue.md(keyframes_preview_md(store, keyframes)),
            "clips_included": len(included),
            "clips_excluded": len(excluded),
            "frames": info.frames,
            "fps": info.fps,
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{info.width}x{info.height}",
            "bytes": info.bytes,
            "stream_copy": result.stream_copy,
            "order": settings.order,
        },
    )

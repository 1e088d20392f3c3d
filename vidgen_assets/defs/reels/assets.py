"""The day's reel: its clips joined in a stable order, plus a contact sheet of the keyframes."""

from contextlib import ExitStack

import dagster as dg

from vidgen_assets.defs.gpu import CPU_STEP
from vidgen_assets.defs.partitions import daily_partitions, manifest_key, partition_day
from vidgen_assets.defs.resources import MediaResource, WarehouseResource
from vidgen_assets.defs.videos.assets import videos
from vidgen_assets.lib.storage import content_key
from vidgen_assets.lib.video import clips_share_encoding, concat_clips, contact_sheet, thumbnail_png_b64
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage

PREVIEW_MAX_SIDE = 384


@dg.asset(
    partitions_def=daily_partitions,
    deps=[videos],
    kinds={"ffmpeg"},
    group_name="vidgen",
    op_tags=CPU_STEP["tags"],
    code_version="2",
)
def reel(context: dg.AssetExecutionContext, media: MediaResource, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """One MP4 per day joining the day's clips in prompt order, and a contact-sheet PNG."""
    day = partition_day(context)
    store = media.open()
    clips = sorted(
        store.get_json(manifest_key("videos", day))["items"], key=lambda c: (c["prompt_id"], c["motion_bucket_id"])
    )
    if not clips:
        raise dg.Failure(f"no clips for {day}: every prompt row was rejected or the day has none", allow_retries=False)
    frames = store.get_json(manifest_key("keyframes", day))["items"]
    key = content_key("reel", {"clips": [c["key"] for c in clips]})
    reel_key, sheet_key = f"reels/{day}/{key}.mp4", f"reels/{day}/{key}-contact.png"
    with ExitStack() as stack:
        clip_paths = [stack.enter_context(store.local_path(c["media_key"])) for c in clips]
        stream_copy = clips_share_encoding(clip_paths)
        with store.writing(reel_key) as path:
            info = concat_clips(clip_paths, path)
        keyframe_paths = [stack.enter_context(store.local_path(f["media_key"])) for f in frames]
        with store.writing(sheet_key) as path:
            contact_sheet(keyframe_paths, [f["prompt"] for f in frames], path)
            preview = thumbnail_png_b64(path, max_side=PREVIEW_MAX_SIDE)
    reel_uri = store.uri(reel_key)
    store.put_json(
        manifest_key("reel", day),
        {"partition": day.isoformat(), "key": key, "uri": reel_uri, "contact_sheet": store.uri(sheet_key),
         "clips": [c["key"] for c in clips], "frames": info.frames},
    )  # fmt: skip
    record_lineage(warehouse.open(), [
        lineage_row(
            key=key, kind="reel", day=day, uri=reel_uri, parents=[c["key"] for c in clips],
            params={"order": "prompt_id, motion_bucket_id", "stream_copy": stream_copy},
            cache_hit=False, run_id=context.run_id,
        )
    ])  # fmt: skip
    context.log.info(f"reel for {day}: {reel_uri}")
    return dg.MaterializeResult(
        data_version=dg.DataVersion(key),
        metadata={
            "dagster/uri": reel_uri,
            "path": dg.MetadataValue.path(reel_uri),
            "contact_sheet": dg.MetadataValue.path(store.uri(sheet_key)),
            "preview": dg.MetadataValue.md(f"![contact sheet](data:image/png;base64,{preview})"),
            "clips": len(clips),
            "frames": info.frames,
            "fps": info.fps,
            "duration_s": round(info.duration_s, 3),
            "resolution": f"{info.width}x{info.height}",
            "bytes": info.bytes,
            "stream_copy": stream_copy,
        }
    )

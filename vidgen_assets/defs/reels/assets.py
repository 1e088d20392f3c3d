"""The day's reel: its passing clips joined in a stable order, cut on the soundtrack's beat, plus a contact sheet."""

import base64
from contextlib import ExitStack
from dataclasses import asdict, replace
from fractions import Fraction

import dagster as dg

from vidgen_assets.defs.fanout import CPU_STEP
from vidgen_assets.defs.partitions import daily_partitions, partition_day
from vidgen_assets.defs.resources import MediaResource, ReelResource, WarehouseResource
from vidgen_assets.lib.bounded import shown_lines
from vidgen_assets.lib.generation.providers.summary import failing_share
from vidgen_assets.lib.generation.recipe import RENDER_VERSIONS, file_sha256, reel_key
from vidgen_assets.lib.storage.links import browser_links
from vidgen_assets.lib.video import ReelClip, ReelSettings, compile_reel, contact_sheet, keyframes_preview_md, order_clips
from vidgen_assets.lib.audio.beats import TRACKER, track_beats
from vidgen_assets.lib.video.cut_plan import CutPlan, max_shift_setting, plan_cuts
from vidgen_assets.lib.video.preview import data_uri_markdown
from vidgen_assets.lib.video.quality import clip_frames
from vidgen_assets.lib.video.reel_frames import crossfade_frames, retimed_count
from vidgen_assets.lib.video.reel_preview import reel_preview
from vidgen_assets.lib.warehouse.lineage import lineage_row, record_lineage, withdrawal_reason

@dg.asset(
    partitions_def=daily_partitions,
    ins={"videos": dg.AssetIn(), "soundtrack": dg.AssetIn()},
    kinds={"ffmpeg"},
    group_name="vidgen",
    op_tags=CPU_STEP["tags"],
    code_version=f"4.r{RENDER_VERSIONS['reel']}",
)
def reel(
    context: dg.AssetExecutionContext,
    media: MediaResource,
    warehouse: WarehouseResource,
    reel_settings: ReelResource,
    videos: dict,
    soundtrack: dict,
) -> dg.Output:
    """One browser-playable MP4 per day joining the day's passing clips in a stable order, and a contact sheet.

    Built from the day's `videos` output (its clips, rows and quality report) and its `soundtrack`: with one,
    the reel plays it as AAC and each cut moves (by a few held or trimmed frames) to its nearest beat; without
    one, the audio is VIDGEN_REEL_AUDIO's file, if any. Content-addressed: a reel whose key already exists is
    reused, not written again. A day whose rows were all deleted gets no reel: the output records the day as
    withdrawn, with the reason.
    """
    day = partition_day(context)
    store = media.open()
    items, rows, quality = videos["items"], videos["rows"], videos["quality"]
    read = videos.get("read") or {}
    if not items and read.get("source_rows") == 0:
        return _withdrawn(context, warehouse, day, read)
    included = [i for i in items if quality[i["key"]]["passed"]]
    excluded = [i for i in items if not quality[i["key"]]["passed"]]
    # One line per failing clip, not per row (rows sharing a clip share its verdict), and only the first few:
    # the `videos` manifest's quality report lists them all.
    for line in shown_lines((_left_out_line(rows_of_clip, quality) for rows_of_clip in _by_key(excluded).values()),
                            rest="…and {count} more clips left out (all in the videos manifest's quality report)"):
        context.log.warning(line)
    _, _, share = failing_share(quality)  # refused clips are left out, but say nothing of the model's health
    if not included or share > reel_settings.max_failed_clip_share:
        # Same limit as the blocking `videos_quality` check, for when the reel is materialized alone.
        raise dg.Failure(f"no usable clips for {day}: {len(items)} made, {len(excluded)} left out, {share:.0%} of those "
                         f"not refused failed the quality check (at most {reel_settings.max_failed_clip_share:.0%} may "
                         "fail)", allow_retries=False)  # fmt: skip
    settings = ReelSettings(
        order=reel_settings.order, crossfade_s=reel_settings.crossfade_s, captions=reel_settings.captions,
        audio_path=reel_settings.audio_path or None,
    )  # fmt: skip
    # The effective order, before any file is opened: it is part of the reel's key.
    sortable = [_reel_clip(item, rows, str(n)) for n, item in enumerate(included)]  # paths stand in for indexes
    # A clip plays once, at its first row's place: rows sharing a content key made one and the same file.
    in_order = (included[int(clip.path)] for clip in order_clips(sortable, settings.order))
    ordered = [rows_of_clip[0] for rows_of_clip in _by_key(in_order).values()]
    track = soundtrack if soundtrack and soundtrack.get("key") else None
    plan, beats, audio_sha256 = None, None, None
    if track:
        if settings.audio_path:
            context.log.info(f"the day's soundtrack {track['key']} plays instead of {settings.audio_path}")
        settings = replace(settings, audio_path=None)
        plan, beats = _cut_plan(store, track, ordered, settings.crossfade_s)
    elif settings.audio_path:
        audio_sha256 = file_sha256(settings.audio_path)
    key = reel_key([i["key"] for i in ordered], settings, audio_sha256, soundtrack_key=track and track["key"],
                   cut_plan=plan and plan.as_dict())  # fmt: skip
    reel_media, sheet_media, preview_media, info_media = (
        f"reels/{day}/{key}{suffix}" for suffix in (".mp4", "-contact.png", "-preview.webp", ".json")
    )
    # Keyframes of the included clips, in reel order (text-to-video clips have none).
    keyframes = list({i["keyframe_media_key"]: {"media_key": i["keyframe_media_key"], "prompt": rows[i["prompt_id"]]["prompt"]}
                      for i in ordered if i.get("keyframe_media_key")}.values())  # fmt: skip
    cache_hit = store.exists(info_media) and store.exists(reel_media)
    # A contact sheet deleted since (by hand, or by a lifecycle rule) is made again, even for a reused reel.
    sheet_missing = bool(keyframes) and not (cache_hit and store.exists(sheet_media))
    with ExitStack() as stack:
        if not cache_hit:
            clips = [_reel_clip(i, rows, stack.enter_context(store.local_path(i["media_key"]))) for i in ordered]
            audio = str(stack.enter_context(store.local_path(track["media_key"]))) if track else settings.audio_path
            with store.writing(reel_media) as path:
                result = compile_reel(clips, path, replace(settings, audio_path=audio), plan)
        if sheet_missing:
            keyframe_paths = [stack.enter_context(store.local_path(k["media_key"])) for k in keyframes]
            with store.writing(sheet_media) as path:
                contact_sheet(keyframe_paths, [k["prompt"] for k in keyframes], path)
    if not cache_hit:
        # Written last: its presence says the reel and its contact sheet are complete.
        store.put_json(info_media, {**asdict(result.info), "stream_copy": result.stream_copy,
                                    "crossfade_frames": result.crossfade_frames})  # fmt: skip
    info = store.get_json(info_media)
    if not store.exists(preview_media):  # made with the reel; reels from before previews get theirs now
        with store.local_path(reel_media) as path:
            lengths = plan.planned_frames if plan else [clip_frames(i["params"]) for i in ordered]
            preview = reel_preview(path, lengths,
                                   crossfade_frames=info["crossfade_frames"], fps=info["fps"])  # fmt: skip
        with store.writing(preview_media) as path:
            path.write_bytes(preview.webp)
    with store.local_path(preview_media) as path:
        preview_webp = path.read_bytes()
    reel_uri = store.uri(reel_media)
    value = {
        "partition": day.isoformat(), "key": key, "media_key": reel_media, "uri": reel_uri,
        "contact_sheet": store.uri(sheet_media) if keyframes else None, "cache_hit": cache_hit,
        "clips": [{"key": i["key"], "num_frames": clip_frames(i["params"]), "fps": i["params"]["fps"]} for i in ordered],
        "excluded": list(_by_key(excluded)), "frames": info["frames"], "crossfade_frames": info["crossfade_frames"],
        "soundtrack": {"key": track["key"], "uri": track.get("uri")} if track else None,
        "cut_plan": plan.as_dict() if plan else None,
    }  # fmt: skip
    record_lineage(warehouse.open(), [
        lineage_row(
            key=key, kind="reel", day=day, uri=reel_uri, parents=[i["key"] for i in ordered] + ([track["key"]] if track else []),
            params={**asdict(settings), "stream_copy": info["stream_copy"],
                    **({"soundtrack": track["key"], "cut_deltas": list(plan.deltas)} if track else {})},
            cache_hit=cache_hit, run_id=context.run_id,
        )
    ])  # fmt: skip
    if read.get("fingerprint"):
        # Only now, with the reel published, is the day rendered: a run failing before this is retried.
        warehouse.open().record_render(day, read["fingerprint"], context.run_id)
    context.log.info(f"reel for {day}: {reel_uri}" + (" (reused)" if cache_hit else ""))
    return dg.Output(
        value,
        data_version=dg.DataVersion(key),
        metadata={
            "dagster/uri": reel_uri,
            **_file_links(store, {"reel": reel_media, **({"contact_sheet": sheet_media} if keyframes else {})}),
            "preview": dg.MetadataValue.md(data_uri_markdown(
                base64.b64encode(preview_webp).decode("ascii"), f"reel of {day}: {len(ordered)} clips", mime="image/webp")),
            "preview_bytes": len(preview_webp),
            "keyframes": dg.MetadataValue.md(keyframes_preview_md(store, keyframes)),
            "cache_hit": cache_hit,
            "contact_sheet_made": sheet_missing,
            "clips_included": len(ordered),
            "rows_included": len(included),
            "clips_excluded": len(excluded),
            "frames": info["frames"],
            "fps": info["fps"],
            "duration_s": round(info["duration_s"], 3),
            "resolution": f"{info['width']}x{info['height']}",
            "bytes": info["bytes"],
            "stream_copy": info["stream_copy"],
            "order": settings.order,
            **_beat_metadata(track, plan, beats),
        },
    )


def _cut_plan(store, track: dict, ordered: list[dict], crossfade_s: float) -> tuple[CutPlan, dict]:
    """The soundtrack's beats (tracked once per soundtrack, then read from the store) and the cut plan they give
    the clips, at the reel's rate: the first clip's, to which the others are retimed."""
    beats_media = f"beats/{track['key']}-{TRACKER}.json"
    try:
        if not store.exists(beats_media):
            with store.local_path(track["media_key"]) as path:
                tracked = track_beats(path)
            store.put_json(beats_media, {"times": tracked.times, "tempo_bpm": tracked.tempo_bpm})
        beats = store.get_json(beats_media)
        fps = max(1, round(ordered[0]["params"]["fps"]))
        lengths = [retimed_count(clip_frames(i["params"]), Fraction(i["params"]["fps"]), Fraction(fps)) for i in ordered]
        overlap = crossfade_frames(lengths, crossfade_s, fps)
        return plan_cuts(lengths, fps, beats["times"], max_shift_setting(), overlap), beats
    except ValueError as error:  # an unreadable soundtrack or a bad VIDGEN_REEL_MAX_SHIFT_FRAMES: no retry mends it
        raise dg.Failure(f"cannot cut the reel on the beat of soundtrack {track['key']}: {error}", allow_retries=False)


def _beat_metadata(track: dict | None, plan: CutPlan | None, beats: dict | None) -> dict:
    """The soundtrack and how the cuts met its beat, for the UI."""
    if not track:
        return {"soundtrack": "none"}
    return {
        "soundtrack": dg.MetadataValue.text(str(track.get("uri") or track["key"])),
        "beats": len(beats["times"]),
        **({"tempo_bpm": beats["tempo_bpm"]} if beats.get("tempo_bpm") else {}),
        "cuts_on_beat": plan.on_beat,
        "cuts_off_beat": plan.off_beat,
        "max_shift_frames": plan.max_shift_frames,
        "max_shift_used_frames": plan.max_shift_used,
    }


def _withdrawn(context: dg.AssetExecutionContext, warehouse: WarehouseResource, day, read: dict) -> dg.Output:
    """The day has no live rows left (all deleted): no reel, and the reason, replace the published one."""
    store = warehouse.open()
    reason = withdrawal_reason(store, day)
    record_lineage(store, [lineage_row(key=f"withdrawn-{day}", kind="reel", day=day, uri="",
                                       params={"withdrawn": reason}, run_id=context.run_id)])  # fmt: skip
    store.record_render(day, read["fingerprint"], context.run_id)
    context.log.warning(f"no reel for {day}: {reason}")
    value = {"partition": day.isoformat(), "key": None, "uri": None, "withdrawn": reason, "clips": [], "excluded": []}
    return dg.Output(
        value,
        data_version=dg.DataVersion(f"withdrawn-{day}"),
        metadata={"withdrawn": reason, "clips_included": 0, "dagster/row_count": 0},
    )


def _file_links(store, keys: dict[str, str]) -> dict:
    """On S3, `<name>_url` links that open the files in a browser until `links_expire_at`; locally, each
    file's path as plain text (a browser does not open `file://` links from the UI)."""
    links = browser_links(store, keys)
    if not links.urls:
        return {f"{name}_path": dg.MetadataValue.text(store.uri(key)) for name, key in keys.items()}
    return {
        **{f"{name}_url": dg.MetadataValue.url(url) for name, url in links.urls.items()},
        "links_expire_at": dg.MetadataValue.timestamp(links.expires_at),
    }


def _reel_clip(item: dict, rows: dict, path) -> ReelClip:
    row = rows[item["prompt_id"]]
    return ReelClip(path=path, prompt_id=item["prompt_id"], prompt=row["prompt"], style=row.get("style"),
                    subject=row.get("subject"), motion_bucket_id=item["motion_bucket_id"],
                    scene=row.get("scene"), scene_order=row.get("scene_order"))  # fmt: skip


def _left_out_line(rows_of_clip: list[dict], quality: dict) -> str:
    first, key = rows_of_clip[0], rows_of_clip[0]["key"]
    more = f" and {len(rows_of_clip) - 1} more rows of clip {key}" if len(rows_of_clip) > 1 else ""
    return f"left out {first['prompt_id']} bucket {first['motion_bucket_id']}{more}: {quality[key]['problems']}"


def _by_key(items) -> dict[str, list[dict]]:
    """Items grouped by content key, in order of first appearance."""
    groups: dict[str, list[dict]] = {}
    for item in items:
        groups.setdefault(item["key"], []).append(item)
    return groups

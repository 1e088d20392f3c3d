"""A shot's inputs from other shots: what each clip item starts from, ends on or restyles, and its key.

Items are planned, keyed and rendered in dependency order (`scenes.render_order`): a continuation after
the shot it continues, a restyle after its source. An input's content key is part of the shot's key,
so editing shot 2 of a scene re-renders shot 2 and the shots made from it, and nothing else.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

from ..storage import MediaStore
from ..video.probe import iter_frames
from .shots import ShotInputs
from ..video.quality import clip_frames
from .takes import last_frame

SourceKey = Callable[[str], dict]  # source_uri -> {key, media_key, frames, fps}: the video as stored


def last_frame_key(clip_key: str) -> str:
    """Where a clip's last frame is kept as a PNG (a continuation's start image, for any backend)."""
    return f"frames/{clip_key}.last.png"


def attach_inputs(item: dict, row: Mapping[str, Any], previous: str | None, played: Mapping[str, dict],
                  end_keyframe: Mapping | None, source_key: SourceKey | None) -> None:  # fmt: skip
    """Set the item's inputs: `previous` is the scene's shot before it (a continuation), `played` maps a
    prompt_id to that row's clip the reel plays last (`note_played`), `source_key` imports a source_uri."""
    after = []
    if previous:
        item["start_clip"] = {"prompt_id": previous}
        after.append(previous)
    if row.get("restyle_of"):
        params = played[row["restyle_of"]]["params"]
        item["source"] = {"prompt_id": row["restyle_of"], "frames": clip_frames(params), "fps": params["fps"]}
        after.append(row["restyle_of"])
    elif row.get("source_uri"):
        if source_key is None:
            raise ValueError(f"row {row['prompt_id']!r} restyles {row['source_uri']!r}, but no media store was given to read it")
        item["source"] = {"uri": row["source_uri"], **source_key(row["source_uri"])}
    if end_keyframe is not None:
        item.update(end_keyframe=end_keyframe["key"], end_keyframe_media_key=end_keyframe["media_key"])
    if after:
        item["after"] = after
    refresh_inputs(item, played)


def note_played(played: dict[str, dict], item: dict) -> None:
    """Keep, per row, the clip the reel plays last (its highest motion bucket, as `order_clips` sorts): a
    continuation starts from its last frame, so the cut in the reel is seamless; a restyle restyles it."""
    current = played.get(item["prompt_id"])
    if current is None or item["motion_bucket_id"] >= current["motion_bucket_id"]:
        played[item["prompt_id"]] = item


def refresh_inputs(item: dict, played: Mapping[str, dict]) -> bool:
    """Copy the current keys of the item's input shots onto it (they change when an input is re-keyed);
    True if any changed, so the item's own key must be computed again."""
    changed = False
    start = item.get("start_clip")
    if start:
        clip = played[start["prompt_id"]]
        frame = last_frame_key(clip["key"])
        changed |= start.get("key") != clip["key"]
        start.update(key=clip["key"], media_key=clip["media_key"])
        item["keyframe_media_key"] = frame
    source = item.get("source")
    if source and source.get("prompt_id"):
        clip = played[source["prompt_id"]]
        changed |= source.get("key") != clip["key"]
        source.update(key=clip["key"], media_key=clip["media_key"])
    if source:
        item["source_media_key"] = source["media_key"]
    return changed


def prepare_inputs(item: Mapping[str, Any], store: MediaStore) -> str | None:
    """Make the files the item reads from other shots (a continuation's start frame); None when all are
    there, else why not (an input shot that was not made)."""
    if not (item.get("start_clip") or item.get("source")) or store.exists(item["media_key"]):
        return None  # nothing read from other shots, or made already
    start = item.get("start_clip")
    if start:
        if not store.exists(start["media_key"]):
            return f"the shot it starts from ({start['prompt_id']}) was not made"
        if not store.exists(item["keyframe_media_key"]):
            with store.writing(item["keyframe_media_key"]) as path:
                last_frame(store, start["media_key"]).save(path, format="PNG")
    source = item.get("source")
    if source and not store.exists(source["media_key"]):
        return f"the clip it restyles ({source.get('prompt_id') or source.get('uri')}) was not made"
    return None


def shot_inputs(item: Mapping[str, Any], store: MediaStore) -> ShotInputs:
    """The decoded inputs of a local shot: start and end images, the source clip's frames."""
    return ShotInputs(
        prompt=item.get("prompt") or "", negative_prompt=item.get("negative_prompt") or "",
        image=_image(store, item.get("keyframe_media_key")), last_image=_image(store, item.get("end_keyframe_media_key")),
        video=_frames(store, item.get("source_media_key")), strength=item["params"].get("strength") or 1.0,
        anchor_first_frame=bool(item.get("start_clip")),
    )  # fmt: skip


def _image(store: MediaStore, media_key: str | None) -> Image.Image | None:
    if not media_key:
        return None
    with store.local_path(media_key) as path:
        return Image.open(path).convert("RGB")


def _frames(store: MediaStore, media_key: str | None) -> list[Image.Image] | None:
    """One clip's frames: a video-to-video model takes the whole source at once."""
    if not media_key:
        return None
    with store.local_path(media_key) as path:
        return [Image.fromarray(frame) for frame in iter_frames(path)]


def waves(items: Sequence[dict]) -> list[list[dict]]:
    """Items in rounds: each round's inputs are made by earlier rounds (items come in dependency order)."""
    depth: dict[str, int] = {}
    rounds: list[list[dict]] = []
    for item in items:
        level = max((depth.get(dep, -1) + 1 for dep in item.get("after", ())), default=0)
        depth[item["prompt_id"]] = max(depth.get(item["prompt_id"], 0), level)
        while len(rounds) <= level:
            rounds.append([])
        rounds[level].append(item)
    return rounds


def render_in_waves(items: Sequence[dict], store: MediaStore, render: Callable[[list[dict]], list[dict]]) -> list[dict]:
    """Render `items` round by round with `render` (a shard renderer); an item whose input shot was not made
    (refused, not delivered) is left out with `failure` code `input_missing` (a refusal of the row, like the
    provider's: it says nothing of the model). Returns every item."""
    for wave in waves(items):
        ready = []
        for item in wave:
            if "failure" in item:
                continue
            if problem := prepare_inputs(item, store):
                item.update(cache_hit=False, uri="", failure={"code": "input_missing", "reason": problem},
                            timings={"cost_usd": 0.0})  # fmt: skip
            else:
                ready.append(item)
        if ready:
            render(ready)
    return list(items)


def import_source(store: MediaStore, uri: str) -> dict:
    """Copy a restyle's source video into the store under its content (sha256), checking it decodes.

    An `s3://` URI is read with the media store's S3 client (or one from the environment: AWS_ENDPOINT_URL).
    """
    from .recipe import file_sha256

    if uri.startswith("s3://"):
        import tempfile

        bucket, _, key = uri.removeprefix("s3://").partition("/")
        client = getattr(store, "client", None)
        if client is None:
            import boto3

            client = boto3.client("s3")
        with tempfile.TemporaryDirectory() as tmp:
            local = Path(tmp) / "source.mp4"
            try:
                client.download_file(bucket, key, str(local))
            except Exception as error:  # botocore's errors: a missing object, a refused bucket
                raise FileNotFoundError(f"it cannot be read from S3: {type(error).__name__}: {str(error)[:200]}") from None
            return _stored(store, local, file_sha256(local))
    if uri.endswith("/") or not store.exists(uri):
        raise FileNotFoundError("there is no such file in the media store")
    with store.local_path(uri) as path:
        return _stored(store, Path(path), file_sha256(path))


def _stored(store: MediaStore, path: Path, sha: str) -> dict:
    """The source under its content; decoded in full the first time, so a truncated file or an image is
    turned away here, before any step renders (or pays for) a restyle of it."""
    import shutil

    from ..video import probe_header, probe_video

    key = f"source-{sha[:32]}"
    media_key = f"sources/{key}.mp4"
    if not store.exists(media_key):
        info = probe_video(path)  # VideoDecodeError for a file that is not a video, or not all of one
        if info.frames < 2:
            raise ValueError(f"it holds a single picture ({info.codec}), not a video")
        with store.writing(media_key) as target:
            shutil.copyfile(path, target)
    header = probe_header(path)
    return {"key": key, "media_key": media_key, "frames": header.frames, "fps": round(float(header.fps))}


def source_problem(store: MediaStore, uri: str) -> str | None:
    """Why a restyle's `source_uri` cannot be used (missing, unreadable, not a whole video), or None; a
    usable one is copied into the store under its content as it is checked."""
    try:
        import_source(store, uri)
    except (OSError, ValueError) as error:  # FileNotFoundError, VideoDecodeError and the rest
        return f"source_uri {uri!r} cannot be restyled: {str(error)[:200]}"
    return None

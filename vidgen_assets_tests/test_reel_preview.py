"""The reel's animated preview: sampled from the reel itself, every clip in it, within its byte budget."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageSequence

from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.storage.links import browser_links, link_hours
from vidgen_assets.lib.video import encode_frames
from vidgen_assets.lib.video.reel_preview import clip_starts, reel_preview
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401


def colour(n: int) -> tuple[int, int, int]:
    """A distinct, codec-proof colour per clip (channels far apart)."""
    return (40 + 50 * (n % 4), 40 + 50 * (n // 4 % 4), 40 + 50 * (n // 16 % 4))


def solid_reel(path, clips: int, frames_per_clip: int = 6, side: int = 64) -> list[int]:
    frames = [np.full((side, side, 3), colour(n), np.uint8) for n in range(clips) for _ in range(frames_per_clip)]
    encode_frames(path, frames, fps=8, width=side, height=side)
    return [frames_per_clip] * clips


def colours_shown(webp: bytes) -> set[tuple[int, int, int]]:
    """Which clip colours appear in any frame of the animation (to within the codecs' rounding)."""
    wanted = {colour(n) for n in range(64)}
    found = set()
    for frame in ImageSequence.Iterator(Image.open(io.BytesIO(webp))):
        pixels = np.asarray(frame.convert("RGB")).reshape(-1, 3).astype(int)
        for target in wanted - found:
            if (np.abs(pixels - target).max(axis=1) <= 12).any():
                found.add(target)
    return found


def test_every_clip_of_a_small_reel_plays_in_its_preview(tmp_path):
    clip_frames = solid_reel(tmp_path / "reel.mp4", 5)
    preview = reel_preview(tmp_path / "reel.mp4", clip_frames, fps=8)
    image = Image.open(io.BytesIO(preview.webp))
    assert image.format == "WEBP" and getattr(image, "is_animated", False)
    assert preview.clips_per_frame == 1 and preview.frames == 5 * 3  # start, middle and end of each clip
    assert colours_shown(preview.webp) == {colour(n) for n in range(5)}


def test_a_day_of_many_clips_shrinks_and_tiles_to_fit_the_budget_and_still_shows_every_clip(tmp_path):
    clip_frames = solid_reel(tmp_path / "reel.mp4", 48, frames_per_clip=2)
    preview = reel_preview(tmp_path / "reel.mp4", clip_frames, fps=8, max_bytes=4_000)
    assert len(preview.webp) <= 4_000 and preview.clips_per_frame > 1
    assert colours_shown(preview.webp) == {colour(n) for n in range(48)}


def test_clip_starts_account_for_crossfades():
    assert clip_starts([10, 10, 10], crossfade_frames=2) == [0, 8, 16]


def test_local_files_get_no_link_and_the_link_lifetime_is_checked(tmp_path, monkeypatch):
    assert browser_links(LocalMediaStore(tmp_path), {"reel": "reels/a.mp4"}).urls == {}
    monkeypatch.setenv("VIDGEN_LINK_HOURS", "200")
    with pytest.raises(ValueError, match="at most 168"):
        link_hours()


def test_s3_media_gets_a_presigned_link_that_opens_the_file_until_its_stated_expiry(s3_bucket, tmp_path):  # noqa: F811
    import time
    import urllib.parse
    import urllib.request
    from datetime import datetime, timedelta, timezone

    from vidgen_assets.lib.storage import S3MediaStore

    client, bucket = s3_bucket
    store = S3MediaStore(bucket, "media", client, tmp_path / "cache")
    with store.writing("reels/2026-11-01/reel.mp4") as path:
        path.write_bytes(b"reel bytes")
    links = browser_links(store, {"reel": "reels/2026-11-01/reel.mp4"})
    assert abs(links.expires_at - datetime.now(timezone.utc) - timedelta(hours=168)) < timedelta(minutes=1)
    url = links.urls["reel"]
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))
    # The expiry the metadata states is the one signed into the URL (SigV4 counts seconds, SigV2 names the epoch).
    signed = int(query["X-Amz-Expires"]) if "X-Amz-Expires" in query else int(query["Expires"]) - time.time()
    assert abs(signed - 168 * 3600) < 60
    with urllib.request.urlopen(url, timeout=10) as answer:  # what a browser does with the link
        assert answer.read() == b"reel bytes"

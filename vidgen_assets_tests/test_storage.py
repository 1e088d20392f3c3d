"""Media stores on a local directory and on S3 (a real moto_server): atomic writes, caching, keys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from dagster_aws.s3 import S3Resource

from vidgen_assets.lib.storage import (
    LocalMediaStore,
    MediaStore,
    S3MediaStore,
    content_key,
    open_media_store,
)
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

CLIP = "clips/clip-0123abcd.mp4"
MANIFEST = "manifests/videos/2026-11-01.json"


@dataclass
class Backend:
    store: MediaStore
    # Every object or file a reader could stumble on, temporary files included.
    leftovers: Callable[[], list[str]]


def _files_under(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*") if path.is_file())


def _s3_store(s3_bucket, tmp_path) -> S3MediaStore:  # noqa: F811
    client, bucket = s3_bucket
    return S3MediaStore(bucket, "media", client, tmp_path / "cache")


@pytest.fixture(params=["local", "s3"])
def backend(request, tmp_path) -> Backend:
    if request.param == "local":
        root = tmp_path / "media"
        root.mkdir()
        return Backend(LocalMediaStore(root), lambda: _files_under(root))
    store = _s3_store(request.getfixturevalue("s3_bucket"), tmp_path)
    store.cache_dir.mkdir(parents=True)

    def leftovers() -> list[str]:
        listing = store.client.list_objects_v2(Bucket=store.bucket).get("Contents", [])
        return sorted(item["Key"] for item in listing) + _files_under(store.cache_dir)

    return Backend(store, leftovers)


def _count_gets(client) -> list[str]:
    """Object keys of every GetObject call made through `client` from now on."""
    keys: list[str] = []
    client.meta.events.register("before-call.s3.GetObject", lambda params, **_: keys.append(params["url_path"]))
    return keys


def test_bytes_round_trip(backend):
    payload = bytes(range(256)) * 64
    with backend.store.writing(CLIP) as path:
        path.write_bytes(payload)
    assert backend.store.exists(CLIP)
    with backend.store.local_path(CLIP) as path:
        assert path.read_bytes() == payload


def test_json_round_trip(backend):
    manifest = {"day": "2026-11-01", "items": [{"key": "clip-1", "seed": 7}], "ünïcode": "✓"}
    assert backend.store.put_json(MANIFEST, manifest) == backend.store.uri(MANIFEST)
    assert backend.store.get_json(MANIFEST) == manifest


def test_exists_only_after_a_write(backend):
    assert not backend.store.exists(CLIP)
    backend.store.put_json(MANIFEST, {})
    assert backend.store.exists(MANIFEST)
    assert not backend.store.exists(CLIP)


def test_uri_names_the_location(backend):
    uri = backend.store.uri(CLIP)
    if isinstance(backend.store, S3MediaStore):
        assert uri == f"s3://{backend.store.bucket}/media/{CLIP}"
    else:
        assert uri == str(backend.store.root / CLIP)
        assert Path(uri).is_absolute()


def test_crash_inside_writing_leaves_nothing_visible(backend):
    with pytest.raises(RuntimeError, match="encoder died"):
        with backend.store.writing(CLIP) as path:
            with path.open("wb") as handle:
                handle.write(b"x" * 50_000)  # half of the clip
            raise RuntimeError("encoder died")
    assert not backend.store.exists(CLIP)
    assert backend.leftovers() == []


def test_overwrite_replaces_the_whole_object(backend):
    backend.store.put_json(MANIFEST, {"items": list(range(100))})
    backend.store.put_json(MANIFEST, {"items": []})
    assert backend.store.get_json(MANIFEST) == {"items": []}


def test_missing_key_names_the_key(backend):
    with pytest.raises(FileNotFoundError, match="clips/clip-missing.mp4") as raised:
        with backend.store.local_path("clips/clip-missing.mp4"):
            pass
    if isinstance(backend.store, S3MediaStore):
        assert backend.store.bucket in str(raised.value)
    with pytest.raises(FileNotFoundError, match=MANIFEST):
        backend.store.get_json(MANIFEST)
    assert backend.leftovers() == []


@pytest.mark.parametrize("key", ["../etc/passwd", "clips/../../etc/passwd", "/etc/passwd"])
def test_keys_cannot_escape_the_store(backend, key):
    with pytest.raises(ValueError, match="key"):
        with backend.store.writing(key) as path:
            path.write_text("owned")
    assert backend.leftovers() == []


def test_s3_manifest_is_fetched_fresh_after_an_overwrite(s3_bucket, tmp_path):  # noqa: F811
    store = _s3_store(s3_bucket, tmp_path)
    gets = _count_gets(store.client)
    store.put_json(MANIFEST, {"version": 1})
    assert store.get_json(MANIFEST) == {"version": 1}
    # Another process (a step pod) rewrites the manifest behind this store's back.
    store.client.put_object(Bucket=store.bucket, Key=f"media/{MANIFEST}", Body=b'{"version": 2}')
    assert store.get_json(MANIFEST) == {"version": 2}
    assert len(gets) == 2


def test_s3_content_addressed_media_is_served_from_the_cache(s3_bucket, tmp_path):  # noqa: F811
    store = _s3_store(s3_bucket, tmp_path)
    gets = _count_gets(store.client)
    store.client.put_object(Bucket=store.bucket, Key=f"media/{CLIP}", Body=b"clip bytes")
    for _ in range(3):
        with store.local_path(CLIP) as path:
            assert path.read_bytes() == b"clip bytes"
    assert len(gets) == 1

    # Media this store uploaded itself is already on local disk: reading it back costs no GET.
    with store.writing("reels/2026-11-01/reel-1.mp4") as path:
        path.write_bytes(b"reel bytes")
    with store.local_path("reels/2026-11-01/reel-1.mp4") as path:
        assert path.read_bytes() == b"reel bytes"
    assert len(gets) == 1


def test_s3_upload_sets_content_type(s3_bucket, tmp_path):  # noqa: F811
    store = _s3_store(s3_bucket, tmp_path)
    store.put_json(MANIFEST, {})
    with store.writing(CLIP) as path:
        path.write_bytes(b"mp4")
    head = store.client.head_object
    assert head(Bucket=store.bucket, Key=f"media/{CLIP}")["ContentType"] == "video/mp4"
    assert head(Bucket=store.bucket, Key=f"media/{MANIFEST}")["ContentType"] == "application/json"


def test_open_media_store_on_s3_with_a_dagster_aws_client(s3_bucket, tmp_path):  # noqa: F811
    _, bucket = s3_bucket
    # No endpoint_url: boto3 takes it from AWS_ENDPOINT_URL, as VIDGEN_MEDIA_URI deployments do.
    client = S3Resource().get_client()
    store = open_media_store(f"s3://{bucket}/daily/media/", s3_client=client, cache_dir=tmp_path)
    assert isinstance(store, S3MediaStore)
    assert store.uri(CLIP) == f"s3://{bucket}/daily/media/{CLIP}"
    store.put_json(MANIFEST, {"ok": True})
    assert store.get_json(MANIFEST) == {"ok": True}


def test_open_media_store_on_a_directory(tmp_path):
    store = open_media_store(f"file://{tmp_path}")
    assert isinstance(store, LocalMediaStore)
    assert store.root == tmp_path.resolve()


@pytest.mark.parametrize("uri", ["s3://ab/x", "s3://", "s3://Upper_Case/x"])
def test_open_media_store_rejects_bad_bucket_names(uri):
    with pytest.raises(ValueError, match="bucket name"):
        open_media_store(uri, s3_client=object())
    with pytest.raises(ValueError, match="bucket name"):
        open_media_store(uri)


def test_open_media_store_on_s3_needs_a_client():
    with pytest.raises(ValueError, match="s3_client"):
        open_media_store("s3://vidgen-media/prefix")


def test_content_key_is_stable_and_sensitive():
    inputs = {"prompt": "a red fox", "seed": 7, "params": {"steps": 2, "size": [64, 64]}}
    reordered = {"params": {"size": [64, 64], "steps": 2}, "seed": 7, "prompt": "a red fox"}
    key = content_key("clip", inputs)
    assert key == content_key("clip", reordered)
    assert key.startswith("clip-")
    changed = [
        {**inputs, "seed": 8},
        {**inputs, "prompt": "a red fox "},
        {**inputs, "params": {"steps": 3, "size": [64, 64]}},
        {**inputs, "params": {"steps": 2, "size": [64, 65]}},
        {**inputs, "extra": None},
    ]
    assert len({key, *(content_key("clip", other) for other in changed)}) == 1 + len(changed)
    assert content_key("keyframe", inputs) != key

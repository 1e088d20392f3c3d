"""Media on S3: objects appear whole or not at all, immutable media is cached on local disk."""

from __future__ import annotations

import mimetypes
import os
import re
import tempfile
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from .base import JsonManifests

# Content-addressed keys (media, a clip's quality result) never change once written, so a downloaded copy stays valid forever.
# Everything else (manifests above all) is rewritten in place and must be fetched fresh.
IMMUTABLE_PREFIXES = ("keyframes/", "clips/", "reels/", "quality/", "frames/", "sources/")

# Cache lookups of a day go out this many at a time: a day of 20,000 items is 20,000 HEAD requests in
# sequence otherwise. Below botocore's default pool of 10 connections, so no request waits for a socket.
LOOKUP_THREADS = int(os.getenv("VIDGEN_S3_LOOKUP_THREADS", "8"))

_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}


def check_bucket_name(bucket: str) -> str:
    """`bucket` if S3 accepts it as a bucket name, else a ValueError that says why."""
    if not _BUCKET_NAME.fullmatch(bucket):
        raise ValueError(
            f"invalid S3 bucket name {bucket!r}: bucket names are 3 to 63 characters of lowercase "
            "letters, digits, dots and hyphens, starting and ending with a letter or digit"
        )
    return bucket


def check_prefix(prefix: str) -> str:
    """`prefix` without its outer slashes, if it is a plain path of names; else a ValueError that says why.

    Prefixes name folders of the local download cache too: a `..` or `.` part would put files outside it
    (and mean another place on S3 than it reads as), an empty part (`a//b`) one S3 key that no path names.
    """
    prefix = prefix.strip("/")
    if prefix and (any(part in ("", ".", "..") for part in prefix.split("/")) or "\\" in prefix):
        raise ValueError(
            f"invalid S3 media prefix {prefix!r}: use plain folder names separated by single '/', "
            "without '.', '..' or backslashes (e.g. s3://bucket/vidgen/prod)"
        )
    return prefix


def split_s3_uri(uri: str) -> tuple[str, str]:
    """(`bucket`, `prefix`) of `s3://bucket/prefix`, with the bucket name and the prefix checked."""
    bucket, _, prefix = uri.removeprefix("s3://").partition("/")
    return check_bucket_name(bucket), check_prefix(prefix)


def _checked_key(key: str) -> str:
    # Keys also name files in the download cache, so they must not climb out of it.
    if not key or any(part in ("", ".", "..") for part in key.split("/")) or "\\" in key:
        raise ValueError(f"media key {key!r} is not a plain relative key like 'clips/clip-ab12.mp4'")
    return key


def _is_not_found(error: ClientError) -> bool:
    return str(error.response.get("Error", {}).get("Code")) in _NOT_FOUND_CODES


class S3MediaStore(JsonManifests):
    """Keys under `s3://bucket/prefix/`; uploads publish whole objects, downloads land in `cache_dir`."""

    def __init__(self, bucket: str, prefix: str, client: Any, cache_dir: str | Path):
        self.bucket = check_bucket_name(bucket)
        self.prefix = check_prefix(prefix)
        self.client = client
        self.cache_dir = Path(cache_dir).expanduser().resolve()

    def _object_key(self, key: str) -> str:
        key = _checked_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _cache_path(self, key: str) -> Path:
        return self.cache_dir / self.bucket / self._object_key(key)

    def _temporary_beside(self, path: Path) -> Path:
        # A sibling on the same file system, so a finished download can be renamed into place.
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
        os.close(handle)
        return Path(temporary)

    def exists(self, key: str) -> bool:
        return self._version(key) is not None

    def delete(self, key: str) -> None:
        """The object and this machine's cached copy; deleting a missing key is not an error (S3's own rule)."""
        self.client.delete_object(Bucket=self.bucket, Key=self._object_key(key))
        self._cache_path(key).unlink(missing_ok=True)

    def _version(self, key: str) -> str | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._object_key(key))
        except ClientError as error:
            if _is_not_found(error):
                return None
            raise
        return f"{head['ContentLength']}-{head['ETag'].strip(chr(34))}"

    def versions(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored version (size and ETag) of each of `keys` that exists: one HEAD per distinct key,
        `LOOKUP_THREADS` at a time.

        HEADs rather than a listing: a listing costs what the prefix holds (every clip ever made), a
        HEAD what the day asks about; repeated keys (rows sharing a prompt and seed) are asked once.
        """
        distinct = sorted(set(keys))
        with ThreadPoolExecutor(max_workers=max(1, min(LOOKUP_THREADS, len(distinct)))) as pool:
            found = pool.map(self._version, distinct)
            return {key: version for key, version in zip(distinct, found) if version is not None}

    def existing(self, keys: Iterable[str]) -> set[str]:
        return set(self.versions(keys))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._object_key(key)}"

    def presigned_url(self, key: str, expires_s: int = 6 * 3600) -> str:
        """A time-limited GET URL for `key`, e.g. for a hosted provider to fetch a keyframe (never logged:
        it carries a signature)."""
        return self.client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": self._object_key(key)}, ExpiresIn=expires_s
        )

    @contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        """A local file to fill; uploaded only if the block finishes without an exception."""
        object_key, cached = self._object_key(key), self._cache_path(key)
        temporary = self._temporary_beside(cached)
        try:
            yield temporary
            content_type = mimetypes.guess_type(key)[0]
            self.client.upload_file(
                str(temporary),
                self.bucket,
                object_key,
                ExtraArgs={"ContentType": content_type} if content_type else None,
            )
            if key.startswith(IMMUTABLE_PREFIXES):
                os.replace(temporary, cached)  # what we just uploaded is what a download would give
        finally:
            temporary.unlink(missing_ok=True)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """A readable local copy: from the cache for immutable media, freshly downloaded otherwise."""
        cached = self._cache_path(key)
        if not (key.startswith(IMMUTABLE_PREFIXES) and cached.is_file()):
            self._download(key, cached)
        yield cached

    def _download(self, key: str, destination: Path) -> None:
        temporary = self._temporary_beside(destination)
        try:
            self.client.download_file(self.bucket, self._object_key(key), str(temporary))
            os.replace(temporary, destination)  # readers of the cache never see half a download
        except ClientError as error:
            if _is_not_found(error):
                raise FileNotFoundError(
                    f"{key} is not in the media store: no object {self._object_key(key)!r} "
                    f"in bucket {self.bucket!r}"
                ) from error
            raise
        finally:
            temporary.unlink(missing_ok=True)

"""Where media and manifests live. Writes are atomic: readers see a whole file or none."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

from .base import JsonManifests
from .s3 import S3MediaStore, split_s3_uri


class MediaStore(Protocol):
    """A flat namespace of keys like `clips/clip-ab12....mp4`."""

    def exists(self, key: str) -> bool: ...
    def existing(self, keys: Iterable[str]) -> set[str]: ...  # which of `keys` exist, in few requests
    def versions(self, keys: Iterable[str]) -> dict[str, str]: ...  # a tag that changes when the object does
    def uri(self, key: str) -> str: ...
    def writing(self, key: str) -> Any: ...  # context manager yielding a local Path to write
    def local_path(self, key: str) -> Any: ...  # context manager yielding a readable local Path
    def delete(self, key: str) -> None: ...  # gone, or never there
    def put_json(self, key: str, value: Any) -> str: ...  # from JsonManifests
    def get_json(self, key: str) -> Any: ...
    def put_json_lines(self, key: str, records: Iterable[Any]) -> str: ...
    def get_json_lines(self, key: str) -> list[Any]: ...


class LocalMediaStore(JsonManifests):
    """Files under a root directory; a temporary sibling is renamed into place on success."""

    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root not in path.parents:
            raise ValueError(f"media key {key!r} escapes the store root")
        return path

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def versions(self, keys: Iterable[str]) -> dict[str, str]:
        """The stored version (size and modification time) of each of `keys` that exists."""
        found = {}
        for key in set(keys):
            try:
                status = self._path(key).stat()
            except FileNotFoundError:
                continue
            if stat.S_ISREG(status.st_mode):
                found[key] = f"{status.st_size}-{status.st_mtime_ns}"
        return found

    def existing(self, keys: Iterable[str]) -> set[str]:
        return set(self.versions(keys))

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def uri(self, key: str) -> str:
        return str(self._path(key))

    @contextmanager
    def writing(self, key: str) -> Iterator[Path]:
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
        os.close(handle)
        try:
            yield Path(temporary)
            os.chmod(temporary, 0o644)
            os.replace(temporary, final)  # atomic on one file system
        finally:
            if os.path.exists(temporary):
                os.unlink(temporary)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        path = self._path(key)
        if not path.is_file():
            raise FileNotFoundError(f"{key} is not in the media store at {self.root}")
        yield path


def open_media_store(uri: str, *, s3_client: Any = None, cache_dir: str | Path | None = None) -> MediaStore:
    """A store for `uri`: `s3://bucket/prefix` (needs `s3_client`), else a directory path or file:// URL."""
    if uri.startswith("s3://"):
        bucket, prefix = split_s3_uri(uri)
        if s3_client is None:
            raise ValueError(f"the media store {uri} is on S3: pass s3_client (a boto3 S3 client) to open it")
        # Downloads are only a cache, so a per-user temporary directory is a safe default.
        cache = cache_dir or Path(tempfile.gettempdir()) / f"vidgen-media-cache-{os.getuid()}"
        return S3MediaStore(bucket, prefix, s3_client, cache)
    return LocalMediaStore(uri.removeprefix("file://"))

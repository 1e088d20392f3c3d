"""Media storage: content-addressed keys, atomic writes, JSON manifests between steps."""

from .keys import content_key
from .media import LocalMediaStore, MediaStore, open_media_store
from .s3 import S3MediaStore

__all__ = ["LocalMediaStore", "MediaStore", "content_key", "open_media_store", "S3MediaStore"]

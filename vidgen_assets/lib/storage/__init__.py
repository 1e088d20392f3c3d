"""Media storage: content-addressed keys, atomic writes, JSON manifests between steps."""

from .keys import content_key
from .media import LocalMediaStore, MediaStore, open_media_store

__all__ = ["LocalMediaStore", "MediaStore", "content_key", "open_media_store"]

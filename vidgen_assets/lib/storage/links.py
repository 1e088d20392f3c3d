"""Links a browser can open for stored media: presigned URLs on S3, nothing for local files."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from .s3 import S3MediaStore

MAX_LINK_HOURS = 7 * 24  # SigV4's limit for a presigned URL


@dataclass(frozen=True)
class BrowserLinks:
    urls: dict[str, str]  # name → presigned https URL (empty for a local store)
    expires_at: datetime | None


def link_hours() -> float:
    """`VIDGEN_LINK_HOURS` (default and at most 168, a week): how long a presigned link in the UI stays valid."""
    raw = os.getenv("VIDGEN_LINK_HOURS", str(MAX_LINK_HOURS))
    try:
        hours = float(raw)
    except ValueError:
        raise ValueError(f"VIDGEN_LINK_HOURS={raw!r} is not a number of hours") from None
    if not 0 < hours <= MAX_LINK_HOURS:
        raise ValueError(f"VIDGEN_LINK_HOURS={raw} must be above 0 and at most {MAX_LINK_HOURS} (S3's limit)")
    return hours


def browser_links(store, keys: Mapping[str, str], now: datetime | None = None) -> BrowserLinks:
    """Presigned GET URLs for `keys` (name → media key) when the store is S3; a local file has no URL a
    browser may open from the UI's page (browsers refuse `file://` links from `http://` pages).
    """
    if not isinstance(store, S3MediaStore):
        return BrowserLinks({}, None)
    seconds = round(link_hours() * 3600)
    expires_at = (now or datetime.now(timezone.utc)) + timedelta(seconds=seconds)
    return BrowserLinks({name: store.presigned_url(key, seconds) for name, key in keys.items()}, expires_at)

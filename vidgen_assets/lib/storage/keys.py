"""Content addresses: the same inputs always give the same key, any change gives a new one."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def content_key(kind: str, inputs: dict[str, Any]) -> str:
    """`kind` plus a hash of everything that determines the output (sorted, canonical JSON)."""
    canonical = json.dumps(inputs, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return f"{kind}-{hashlib.sha256(canonical.encode('utf-8', 'backslashreplace')).hexdigest()[:32]}"

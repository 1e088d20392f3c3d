"""What every media store gets from its `writing` and `local_path`: JSON manifests."""

from __future__ import annotations

import json
from typing import Any


class JsonManifests:
    """Mixin: manifests are JSON files written and read through the store's own atomic paths."""

    def put_json(self, key: str, value: Any) -> str:
        with self.writing(key) as path:
            path.write_text(json.dumps(value, indent=1, sort_keys=True, default=str))
        return self.uri(key)

    def get_json(self, key: str) -> Any:
        with self.local_path(key) as path:
            return json.loads(path.read_text())

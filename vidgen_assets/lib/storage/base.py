"""What every media store gets from its `writing` and `local_path`: JSON manifests."""

from __future__ import annotations

import json
from collections.abc import Iterable
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

    def put_json_lines(self, key: str, records: Iterable[Any]) -> str:
        """One compact JSON document per line, written as they come (never one big string in memory)."""
        with self.writing(key) as path, open(path, "w") as handle:
            for record in records:
                handle.write(json.dumps(record, sort_keys=True, default=str) + "\n")
        return self.uri(key)

    def get_json_lines(self, key: str) -> list[Any]:
        with self.local_path(key) as path, open(path) as handle:
            return [json.loads(line) for line in handle if line.strip()]

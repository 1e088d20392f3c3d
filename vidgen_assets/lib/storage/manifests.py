"""Readable manifests of a day's outputs, split into parts so no file grows with the day.

A manifest is an index (`<name>.json`) holding the output's small fields as they are; each large field
(a list of records, or a mapping of records) is written as JSON-lines parts of at most `PART_RECORDS`
records under `<name>/`, and the index names them with the record count. A mapping's entries become
records with their key in `"key"`. People and tools read these; no step does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

PART_RECORDS = 1000  # records per part: a 20,000-row day makes 20 parts of ~1 MB, not one 20 MB file


def write_manifest(store, name: str, value: Mapping[str, Any]) -> str:
    """Write `value` as an index `<name>.json` plus parts under `<name>/`; returns the index's URI."""
    index = {}
    for field, content in value.items():
        records = _records(content)
        if records is None:
            index[field] = content
            continue
        chunks = range(0, len(records), PART_RECORDS)
        parts = [store.put_json_lines(f"{name}/{field}-{n:04d}.jsonl", records[i : i + PART_RECORDS]) for n, i in enumerate(chunks)]
        index[field] = {"count": len(records), "parts": parts}
    return store.put_json(f"{name}.json", index)


def read_manifest(store, name: str) -> dict[str, Any]:
    """The value `write_manifest` wrote (mappings come back as lists of records with their `"key"`)."""
    index = store.get_json(f"{name}.json")
    for field, content in index.items():
        if isinstance(content, dict) and set(content) == {"count", "parts"}:
            parts = (f"{name}/{uri.rsplit('/', 1)[-1]}" for uri in content["parts"])  # the index names parts by URI
            index[field] = [record for part in parts for record in store.get_json_lines(part)]
    return index


def _records(content: Any) -> list | None:
    if isinstance(content, list) and content and all(isinstance(entry, dict) for entry in content):
        return content
    if isinstance(content, dict) and content and all(isinstance(entry, dict) for entry in content.values()):
        return [{"key": key, **entry} for key, entry in content.items()]
    return None

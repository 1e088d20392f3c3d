"""The `clips` lineage table: for every keyframe, clip and reel, where it came from."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from .store import Warehouse

COLUMNS = (
    "key", "kind", "partition_date", "prompt_id", "uri", "parent_keys", "models", "params", "timings",
    "device", "cache_hit", "run_id",
)  # fmt: skip
JSON_COLUMNS = ("parent_keys", "models", "params", "timings")


def lineage_row(
    *,
    key: str,
    kind: str,
    day: date,
    uri: str,
    prompt_id: str | None = None,
    parents: Sequence[str] = (),
    models: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    timings: Mapping[str, Any] | None = None,
    device: str | None = None,
    cache_hit: bool = False,
    run_id: str | None = None,
) -> dict[str, Any]:
    return {
        "key": key, "kind": kind, "partition_date": day, "prompt_id": prompt_id, "uri": uri,
        "parent_keys": list(parents), "models": dict(models or {}), "params": dict(params or {}),
        "timings": dict(timings or {}), "device": device, "cache_hit": cache_hit, "run_id": run_id,
    }  # fmt: skip


def record_lineage(warehouse: Warehouse, rows: Sequence[Mapping[str, Any]]) -> int:
    """Append one row per output of a run; a cache hit is recorded too, flagged, with this run's id."""
    if rows:
        values = [
            [json.dumps(row[c], sort_keys=True, default=str) if c in JSON_COLUMNS else row[c] for c in COLUMNS]
            for row in rows
        ]
        with warehouse.connect() as connection:
            connection.executemany(
                f"INSERT INTO clips ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})", values
            )
    return len(rows)


def _rows(connection, sql: str, params: list) -> list[dict[str, Any]]:
    cursor = connection.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row)) for row in cursor.fetchall()]


def lineage_chain(warehouse: Warehouse, identifier: str) -> dict[str, Any]:
    """The prompt rows and outputs linked to a prompt id or content key: its ancestors and descendants."""
    with warehouse.connect() as connection:
        found = connection.execute(
            "SELECT partition_date FROM clips WHERE key = ? OR prompt_id = ? ORDER BY recorded_at DESC LIMIT 1",
            [identifier, identifier],
        ).fetchone()
        if found is None:
            raise LookupError(f"no lineage for {identifier!r}: not a known prompt id or content key")
        (day,) = found
        # The latest record of each output of that day; older records are earlier runs' cache hits.
        latest = _rows(
            connection,
            "SELECT * FROM clips WHERE partition_date = ? "
            "QUALIFY row_number() OVER (PARTITION BY key ORDER BY recorded_at DESC) = 1",
            [day],
        )
        for output in latest:
            for column in JSON_COLUMNS:
                output[column] = json.loads(output[column]) if output[column] else None
        by_key = {o["key"]: o for o in latest}
        if identifier in by_key:
            start = {identifier}
        else:  # a prompt id: what its latest run made, not what earlier versions of the row made
            mine = [o for o in latest if o["prompt_id"] == identifier]
            newest_run = max(mine, key=lambda o: o["recorded_at"])["run_id"]
            start = {o["key"] for o in mine if o["run_id"] == newest_run}
        linked = set(start)
        for key in start:  # ancestors: keyframe of a clip, clips of a reel, ...
            stack = list(by_key[key]["parent_keys"] or [])
            while stack:
                parent = stack.pop()
                if parent in by_key and parent not in linked:
                    linked.add(parent)
                    stack.extend(by_key[parent]["parent_keys"] or [])
        # Descendants: the newest reel made from any of these outputs.
        reels = [o for o in latest if o["kind"] == "reel" and set(o["parent_keys"] or []) & start]
        if reels:
            linked.add(max(reels, key=lambda o: o["recorded_at"])["key"])
        outputs = sorted(
            (by_key[k] for k in linked),
            key=lambda o: (("keyframe", "clip", "reel").index(o["kind"]), o["prompt_id"] or "", o["key"]),
        )
        prompt_ids = sorted({o["prompt_id"] for o in outputs if o["prompt_id"] and o["kind"] != "reel"})
        prompts = _rows(connection, "SELECT * FROM prompts WHERE list_contains(?, prompt_id) ORDER BY prompt_id", [prompt_ids])
    return {"prompts": prompts, "outputs": outputs}

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
_TYPES = {"partition_date": "DATE", "cache_hit": "BOOLEAN"}  # the others are text
_RECORD_COLUMNS = ", ".join((*COLUMNS, "recorded_at"))


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
    """Append one row per output of a run; a cache hit is recorded too, flagged, with this run's id.

    One set-based statement (a list parameter per column, unnested): 20,000 rows take well under a
    second, where a row-by-row insert held the warehouse's write lock for half a minute.
    """
    if rows:
        values = {
            column: [json.dumps(row[column], sort_keys=True, default=str) if column in JSON_COLUMNS else row[column] for row in rows]
            for column in COLUMNS
        }
        unnested = ", ".join(f"unnest(CAST(${column} AS {_TYPES.get(column, 'VARCHAR')}[]))" for column in COLUMNS)
        with warehouse.connect() as session:
            session.execute(f"INSERT INTO clips ({', '.join(COLUMNS)}) SELECT {unnested}", values)
    return len(rows)


def withdrawal_reason(warehouse: Warehouse, day: date) -> str:
    """Why `day` has no reel any more: its live rows are gone, and which reel that withdraws."""
    with warehouse.connect() as session:
        (deleted,) = session.execute(
            "SELECT count(*) FROM prompts WHERE scheduled_for = ? AND deleted_at IS NOT NULL", [day]
        ).fetchone()
        published = session.execute(
            "SELECT key FROM clips WHERE partition_date = ? AND kind = 'reel' ORDER BY recorded_at DESC LIMIT 1", [day]
        ).fetchone()
    withdraws = f"; withdraws {published[0]}" if published and not published[0].startswith("withdrawn-") else ""
    return f"withdrawn: the day has no live prompt rows ({deleted} deleted){withdraws}"


# How `vidgen lineage` lists a chain: from the theme that wrote a row to the day's reel.
KIND_ORDER = ("theme", "source", "keyframe", "take", "clip", "soundtrack", "reel")


def lineage_chain(warehouse: Warehouse, identifier: str) -> dict[str, Any]:
    """The prompt rows, outputs and runs linked to a prompt id or content key.

    `outputs` are the latest records of what the identifier's newest run made on its latest day, its
    ancestors (a clip's keyframe, a reel's clips) and the newest reel made from them. Rows that share
    a content key (same prompt and seed) each keep their own records. `runs` lists every run that
    recorded one of the identifier's outputs, rendered or reused, oldest first. A prompt id that is in
    the warehouse but was never rendered gives its row and no outputs (`rendered` False). When the newest
    run failed before making a clip, the clip and reel still published are shown beside its outputs;
    `withdrawn` holds the reason when the day's newest reel record withdrew it (all its rows deleted).
    """
    with warehouse.connect() as session, session.transaction(snapshot=True):
        records = session.rows(
            f"SELECT {_RECORD_COLUMNS} FROM clips WHERE key = ? OR prompt_id = ? ORDER BY recorded_at", [identifier, identifier]
        )
        if not records:
            known = session.rows("SELECT * FROM prompts WHERE prompt_id = ?", [identifier])
            if not known:
                raise LookupError(f"no lineage for {identifier!r}: not a known prompt id or content key")
            return {"prompts": known, "outputs": [], "runs": [], "rendered": False}
        day = records[-1]["partition_date"]
        # The latest record of each (output, prompt row) that day; older ones are earlier runs.
        latest = session.rows(
            f"SELECT DISTINCT ON (key, prompt_id) {_RECORD_COLUMNS} FROM clips WHERE partition_date = ? "
            "ORDER BY key, prompt_id, recorded_at DESC",
            [day],
        )
        for output in latest:
            for column in JSON_COLUMNS:
                output[column] = json.loads(output[column]) if output[column] else None
        linked = _linked_keys(latest, identifier)
        # For a prompt id, its own records (not those of other rows sharing a key); for a key, everyone's.
        is_prompt = any(o["prompt_id"] == identifier for o in latest)
        outputs = sorted(
            (o for o in latest if o["key"] in linked and (not is_prompt or o["kind"] in ("reel", "soundtrack") or o["prompt_id"] == identifier)),
            key=lambda o: (KIND_ORDER.index(o["kind"]) if o["kind"] in KIND_ORDER else len(KIND_ORDER), o["prompt_id"] or "", o["key"]),
        )
        prompt_ids = sorted({o["prompt_id"] for o in outputs if o["prompt_id"] and o["kind"] not in ("reel", "soundtrack")})
        prompts = session.rows(
            "SELECT * FROM prompts WHERE prompt_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) ORDER BY prompt_id", [prompt_ids]
        )
    reels = [o for o in latest if o["kind"] == "reel"]
    newest_reel = max(reels, key=lambda o: o["recorded_at"]) if reels else None
    withdrawn = (newest_reel["params"] or {}).get("withdrawn") if newest_reel else None
    return {"prompts": prompts, "outputs": outputs, "runs": _runs(records), "rendered": True, "withdrawn": withdrawn}


def _linked_keys(latest: list[dict[str, Any]], identifier: str) -> set[str]:
    """The identifier's outputs of its newest run, their ancestors, and the newest reel made from them."""
    mine = [o for o in latest if identifier in (o["key"], o["prompt_id"])]
    newest_run = max(mine, key=lambda o: o["recorded_at"])["run_id"]
    start = {o["key"] for o in mine if o["key"] == identifier or o["run_id"] == newest_run}
    if not any(o["kind"] in ("clip", "take", "reel") and o["key"] in start for o in latest):
        # The newest run made no clip (it failed early): what is published still is, so show that too.
        mine_keys = {o["key"] for o in mine}
        published = [o for o in latest if o["kind"] == "reel" and set(o["parent_keys"] or []) & mine_keys]
        if published:
            start |= set(max(published, key=lambda o: o["recorded_at"])["parent_keys"]) & mine_keys
    parents = {o["key"]: o["parent_keys"] or [] for o in latest}
    linked, stack = set(start), [p for key in start for p in parents.get(key, [])]
    while stack:
        parent = stack.pop()
        if parent in parents and parent not in linked:
            linked.add(parent)
            stack.extend(parents[parent])
    reels = [o for o in latest if o["kind"] == "reel" and set(o["parent_keys"] or []) & start]
    if reels:
        reel = max(reels, key=lambda o: o["recorded_at"])
        linked.add(reel["key"])
        # The reel's soundtrack: a parent of the reel, not of the identifier's own outputs.
        kinds = {o["key"]: o["kind"] for o in latest}
        linked |= {p for p in reel["parent_keys"] or [] if kinds.get(p) == "soundtrack"}
    return linked


def _runs(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per run that recorded these outputs: its day, first record time, rendered and reused counts."""
    runs: dict[str, dict[str, Any]] = {}
    for record in records:
        run = runs.setdefault(
            record["run_id"],
            {"run_id": record["run_id"], "day": record["partition_date"], "recorded_at": record["recorded_at"], "rendered": 0, "reused": 0},
        )
        run["reused" if record["cache_hit"] else "rendered"] += 1
    return list(runs.values())

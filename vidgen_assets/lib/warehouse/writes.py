"""Set-based prompt writes: a chunk is staged as typed columns, then upserted with one statement.

Turning Python values into columns is the slow half of a write. For a DuckDB file it happens in a
private in-memory database, so the file (and its single-process lock) is held only for the
`INSERT … SELECT … ON CONFLICT` itself, about a third of a second per 50,000 rows. PostgreSQL
stages the chunk in temporary tables of the write's own transaction: the same SQL, no file lock,
and other writers and readers go on meanwhile (MVCC).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from .connections import Session
from .validation import PromptSpec, Rejection

PROMPT_COLUMNS = (
    "prompt_id", "scheduled_for", "prompt", "subject", "action", "location", "style", "camera",
    "lighting", "negative_prompt", "seed", "keyframe_model", "video_model", "motion_bucket_ids",
    "num_frames", "fps", "noise_aug_strength", "num_inference_steps", "min_guidance_scale",
    "max_guidance_scale", "decode_chunk_size", "width", "height", "takes", "take_crossfade_frames",
    "scene", "scene_order", "start_from", "end_prompt", "restyle_of", "source_uri", "strength",
)  # fmt: skip
_TEXT = "VARCHAR"
TYPES = {"scheduled_for": "DATE", "seed": "BIGINT", "num_frames": "INTEGER", "fps": "INTEGER",
         "noise_aug_strength": "DOUBLE PRECISION", "num_inference_steps": "INTEGER", "min_guidance_scale": "DOUBLE PRECISION",
         "max_guidance_scale": "DOUBLE PRECISION", "decode_chunk_size": "INTEGER", "width": "INTEGER", "height": "INTEGER", "takes": "INTEGER",
         "take_crossfade_frames": "INTEGER", "scene_order": "INTEGER", "strength": "DOUBLE PRECISION"}  # fmt: skip
_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in PROMPT_COLUMNS[1:])
# Re-importing an unchanged row is not a change: updated_at moves only when a value does.
_CHANGED = " OR ".join(f"prompts.{c} IS DISTINCT FROM excluded.{c}" for c in PROMPT_COLUMNS[1:])
_MOVED = (
    "previous_scheduled_for = CASE WHEN prompts.scheduled_for <> excluded.scheduled_for "
    "THEN prompts.scheduled_for ELSE prompts.previous_scheduled_for END"
)


IF_EXISTS = ("replace", "skip", "error")  # what a write does with an id the warehouse already holds (live)
EXAMPLE_IDS = 5  # ids kept per kind of write, for the report
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ExistingIds(ValueError):
    """`if_exists="error"` met ids the warehouse already holds; nothing of that write was stored."""

    def __init__(self, ids: Sequence[str], total: int):
        shown = ", ".join(repr(i) for i in ids[:EXAMPLE_IDS]) + (f" and {total - EXAMPLE_IDS} more" if total > EXAMPLE_IDS else "")
        super().__init__(f"{total} prompt_id(s) already exist ({shown}); nothing written (--if-exists error)")
        self.ids = list(ids)


@dataclass
class WriteCounts:
    """What one write did to the warehouse's rows, with the first few ids of each kind."""

    new: int = 0  # ids not live before (never seen, or soft-deleted)
    changed: int = 0  # live rows whose values changed on the same day
    moved: int = 0  # live rows moved to another day
    skipped: int = 0  # live rows left as they were (if_exists="skip")
    examples: dict[str, list[str]] = field(default_factory=lambda: {"new": [], "changed": [], "moved": [], "skipped": []})

    @property
    def written(self) -> int:
        return self.new + self.changed + self.moved

    def add(self, other: WriteCounts) -> None:
        for kind, ids in other.examples.items():
            setattr(self, kind, getattr(self, kind) + getattr(other, kind))
            self.examples[kind] += ids[: EXAMPLE_IDS - len(self.examples[kind])]


def printable(text: str | None) -> str | None:
    """Rejected values may hold lone surrogates or NULs that no database accepts; keep them readable."""
    if text is None:
        return None
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return _CONTROLS.sub(lambda m: repr(m.group())[1:-1], text)  # PostgreSQL text cannot hold NUL


def _columns(specs: Sequence[PromptSpec], parts: dict[str, dict[str, str]] | None) -> dict[str, list]:
    columns: dict[str, list] = {c: [] for c in PROMPT_COLUMNS}
    for spec in specs:
        values = {**vars(spec), **(parts or {}).get(spec.prompt_id, {})}  # asdict deep-copies: 20x slower
        buckets = values["motion_bucket_ids"]
        values["motion_bucket_ids"] = None if buckets is None else ";".join(map(str, buckets))
        for column, items in columns.items():
            items.append(values.get(column))
    return columns


def stage(session: Session, specs, parts, rejections: Sequence[Rejection], source: str | None = None) -> None:
    """Staging tables `chunk` and `rejected` in `session` (call inside the write's transaction); `source` is
    the rows' owner: `theme:<id>`, or None for an import or `prompts add`."""
    values = _columns(specs, parts)
    # A column that is empty in the whole chunk is a NULL column, not a list to convert.
    given = {c: v if c == "prompt_id" or any(x is not None for x in v) else None for c, v in values.items()}
    given["source"] = [source] * len(specs) if source else None
    session.load_table("chunk", given, {**{c: TYPES.get(c, _TEXT) for c in PROMPT_COLUMNS}, "source": _TEXT})
    rejected = {
        "prompt_id": [printable(r.prompt_id) for r in rejections],
        "scheduled_for": [printable(r.scheduled_for) for r in rejections],  # as given: text
        "reason": [printable(r.reason) for r in rejections],
    }
    session.load_table("rejected", rejected, dict.fromkeys(rejected, _TEXT))


def classify_staged(session: Session, schema: str = "", if_exists: str = "replace") -> WriteCounts:
    """Sort the staged `chunk` into new, changed, moved and unchanged rows; under `skip` drop the live ones
    from it, under `error` raise `ExistingIds` (the caller's transaction then writes nothing).

    Counted in SQL, so only a few ids per kind leave the database while the write holds the warehouse.
    """
    if if_exists not in IF_EXISTS:
        raise ValueError(f"if_exists must be one of {', '.join(IF_EXISTS)}, got {if_exists!r}")
    existing = "" if if_exists == "replace" else "WHEN TRUE THEN 'existing' "
    kind = (
        "CASE WHEN prompts.prompt_id IS NULL OR prompts.deleted_at IS NOT NULL THEN 'new' " + existing
        + "WHEN prompts.scheduled_for IS DISTINCT FROM chunk.scheduled_for THEN 'moved' "
        f"WHEN {_CHANGED.replace('excluded.', 'chunk.')} THEN 'changed' END"
    )  # fmt: skip
    rows = session.execute(
        "SELECT kind, chunk_id, total FROM (SELECT kind, chunk_id, count(*) OVER (PARTITION BY kind) AS total, "
        "row_number() OVER (PARTITION BY kind ORDER BY chunk_id) AS n FROM "
        f"(SELECT chunk.prompt_id AS chunk_id, {kind} AS kind FROM chunk LEFT JOIN {schema}prompts AS prompts "
        f"ON prompts.prompt_id = chunk.prompt_id) AS sorted WHERE kind IS NOT NULL) AS ranked "
        f"WHERE n <= {EXAMPLE_IDS} ORDER BY kind, n"
    ).fetchall()
    counts = WriteCounts()
    for kind, prompt_id, total in rows:
        kind = "skipped" if kind == "existing" else kind
        setattr(counts, kind, total)
        counts.examples[kind].append(prompt_id)
    if counts.skipped and if_exists == "error":
        raise ExistingIds(counts.examples["skipped"], counts.skipped)
    if counts.skipped:
        session.execute(f"DELETE FROM chunk WHERE prompt_id IN (SELECT prompt_id FROM {schema}prompts WHERE deleted_at IS NULL)")
    return counts


def upsert_staged(session: Session, schema: str = "") -> int:
    """Upsert `chunk` into `<schema>prompts` and replace those ids' import rejections (call inside one transaction).

    An update bumps `updated_at` and clears `deleted_at` only when a value changes; a move keeps the
    old day in `previous_scheduled_for`. A new owner (`source`) alone is not a change: it is not a render
    input, so `updated_at` (and the day's fingerprint) stay. Rows go in `prompt_id` order, so concurrent
    writers of overlapping ids lock them in the same order and never deadlock. Returns the rows inserted or
    updated.
    """
    columns = ", ".join((*PROMPT_COLUMNS, "source"))
    changed = f"{_CHANGED} OR prompts.deleted_at IS NOT NULL"
    written = session.changed(
        f"INSERT INTO {schema}prompts ({columns}) SELECT {columns} FROM chunk ORDER BY prompt_id "
        f"ON CONFLICT (prompt_id) DO UPDATE SET {_MOVED}, {_UPDATES}, source = excluded.source, "
        f"updated_at = CASE WHEN {changed} THEN now() ELSE prompts.updated_at END, deleted_at = NULL "
        f"WHERE {changed} OR prompts.source IS DISTINCT FROM excluded.source"
    )
    # The latest import is the verdict on an id: a valid re-import clears its old rejection.
    session.execute(
        f"DELETE FROM {schema}prompt_rejections WHERE source = 'import' AND prompt_id IN "
        "(SELECT prompt_id FROM chunk UNION ALL SELECT prompt_id FROM rejected)"
    )
    session.execute(
        f"INSERT INTO {schema}prompt_rejections (prompt_id, scheduled_for, reason, source) "
        "SELECT prompt_id, scheduled_for, reason, 'import' FROM rejected"
    )
    return written


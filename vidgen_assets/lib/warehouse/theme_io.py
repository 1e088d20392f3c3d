"""Themes in and out: theme files read in chunks, and the prompt rows a theme wrote.

A theme's rows are stored exactly like an import (validated, quarantined in `prompt_rejections` when
bad) and tagged `source = 'theme:<theme_id>'`. Writing them again is cheap when nothing changed:
unchanged rows keep their `updated_at`, so only rows whose values changed render again. Rows the
theme no longer produces (its count lowered), and rows of themes that are gone, are soft-deleted.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from .fields import is_blank, normal_id
from .importer import CHUNK_ROWS
from .row_files import RowFile, read_row_chunks
from .validation import Rejection, validate_rows

THEME_HEADER = "theme_id,scheduled_for,theme,count[,style,music_prompt,keyframe_model,video_model]"
SOURCE_PREFIX = "theme:"
_DEFAULTS = ("style", "keyframe_model", "video_model")  # a theme's own value fills a row that gives none
_RETIRE = (
    "UPDATE prompts SET deleted_at = now(), updated_at = now() WHERE deleted_at IS NULL AND {where} RETURNING prompt_id"
)


def read_theme_chunks(path: str | Path, chunk_rows: int = CHUNK_ROWS) -> Iterator[list[dict]]:
    """Raw theme rows, `chunk_rows` at a time; a file that cannot be read raises `ValueError` before the first."""
    return read_row_chunks(path, chunk_rows, RowFile("theme_id", f"be {THEME_HEADER}"))


def theme_source(theme_id: str) -> str:
    """The `prompts.source` of the rows a theme wrote."""
    return f"{SOURCE_PREFIX}{theme_id}"


@dataclass
class ThemeRowsResult:
    """What writing one theme's rows did: stored rows split into written (new or changed) and unchanged."""

    theme_id: str
    prompt_ids: list[str] = field(default_factory=list)  # the valid rows, now live, in the order given
    written: int = 0
    unchanged: int = 0
    retired: int = 0  # the theme's earlier rows it no longer produces, soft-deleted
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)  # also in `prompt_rejections`


def write_theme_rows(
    warehouse, theme: Mapping, rows: list[dict], keyframe_models: Collection[str], video_models: Collection[str],
    *, first_day: date | None = None,
) -> ThemeRowsResult:  # fmt: skip
    """Validate and store the rows a theme produced, like `vidgen prompts import` (bad rows quarantined in
    `prompt_rejections`), tag them with the theme, and soft-delete the theme's rows it did not produce.

    Each row gets the theme's day, and its style and models where the row gives none.
    """
    from ..generation.params import apply_preset_limits

    theme_id, source = theme["theme_id"], theme_source(theme["theme_id"])
    filled = [
        {**{k: theme.get(k) for k in _DEFAULTS if is_blank(row.get(k))}, **row, "scheduled_for": theme["scheduled_for"]}
        for row in rows
    ]
    parts: dict[str, dict[str, str]] = {}
    specs, rejections = validate_rows(filled, keyframe_models, video_models, first_day=first_day, parts=parts)
    specs, over_limits = apply_preset_limits(specs, os.getenv("VIDGEN_VIDEO_MODEL", "tiny"))
    rejections += over_limits
    specs, not_ours = _leave_others_rows(warehouse, specs, source)
    rejections += not_ours
    counts = warehouse.write_prompts(specs, parts, rejections, source=source)
    ids = [spec.prompt_id for spec in specs]
    produced = sorted({normal_id(row["prompt_id"]) for row in rows if not is_blank(row.get("prompt_id"))})
    with warehouse.connect() as session, session.transaction():
        # `updated_at` moves with `deleted_at`, so the change scan sees the retired rows.
        retired = session.execute(
            _RETIRE.format(where="source = $source AND prompt_id NOT IN (SELECT unnest(CAST($ids AS VARCHAR[])))"),
            {"source": source, "ids": produced},
        ).fetchall()
    return ThemeRowsResult(theme_id, ids, counts.written, len(specs) - counts.written, len(retired),
                           len(rejections), list(rejections))  # fmt: skip


def _leave_others_rows(warehouse, specs: list, source: str) -> tuple[list, list[Rejection]]:
    """The specs whose id is free or this theme's, and a rejection for each live row someone else owns (imported
    or added by hand, or another theme's): a theme never overwrites them."""
    with warehouse.connect() as session:
        owners = dict(session.execute(
            "SELECT prompt_id, coalesce(source, '') FROM prompts WHERE deleted_at IS NULL AND source IS DISTINCT FROM $source "
            "AND prompt_id IN (SELECT unnest(CAST($ids AS VARCHAR[])))", {"source": source, "ids": [s.prompt_id for s in specs]},
        ).fetchall())  # fmt: skip
    refused = [
        Rejection(spec.prompt_id, str(spec.scheduled_for), f"prompt_id {spec.prompt_id} is a live row of "
                  f"{owners[spec.prompt_id] or 'an import or prompts add'}, not of {source}: the theme leaves it as it is")
        for spec in specs if spec.prompt_id in owners
    ]  # fmt: skip
    return [spec for spec in specs if spec.prompt_id not in owners], refused


def clear_theme_rejections(warehouse, theme_id: str, source: str) -> None:
    """Forget `source`'s earlier verdict on a theme it has now expanded (as a valid re-import clears a row's)."""
    with warehouse.connect() as session:
        session.execute("DELETE FROM theme_rejections WHERE theme_id = ? AND source = ?", [theme_id, source])


def retire_theme_rows(warehouse, day: date, live_theme_ids: Collection[str]) -> int:
    """Soft-delete the day's rows written by themes not in `live_theme_ids` (deleted, or moved away); returns how many."""
    where = "scheduled_for = $day AND starts_with(source, $prefix) AND source NOT IN (SELECT unnest(CAST($live AS VARCHAR[])))"
    live = sorted(theme_source(i) for i in live_theme_ids)
    with warehouse.connect() as session:
        return len(session.execute(_RETIRE.format(where=where), {"day": day, "prefix": SOURCE_PREFIX, "live": live}).fetchall())


def theme_row_counts(warehouse, theme_ids: Sequence[str]) -> dict[str, int]:
    """How many live prompt rows each theme has written so far."""
    with warehouse.connect() as session:
        found = dict(session.execute(
            "SELECT substr(source, ?), count(*) FROM prompts WHERE deleted_at IS NULL "
            "AND source IN (SELECT unnest(CAST(? AS VARCHAR[]))) GROUP BY 1",
            [len(SOURCE_PREFIX) + 1, [theme_source(i) for i in theme_ids]],
        ).fetchall())  # fmt: skip
    return {theme_id: found.get(theme_id, 0) for theme_id in theme_ids}

"""Themes: a day's subject that the prompt writer expands into `count` prompt rows.

A theme row is validated field by field like a prompt row (a bad one is quarantined in
`theme_rejections` with its reason, never raised), imported from CSV, Parquet or JSON lines in
chunks, and upserted so that re-importing an unchanged theme is not a change (`updated_at` stays).
The live themes of a day are part of its fingerprint: a changed theme re-renders its day.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path

from .connections import Session
from .fields import MAX_ID_CHARS, MAX_PART_CHARS, READ_ERROR, RowError, checked_text, is_blank, normal_id, parse_day
from .theme_io import read_theme_chunks
from .theme_io import ThemeRowsResult, clear_theme_rejections, retire_theme_rows, theme_row_counts, write_theme_rows  # noqa: F401  (callers import them from here)
from .writes import printable

MAX_THEME_COUNT = 200
# Its prompt rows are `<theme_id>-NNN`: the id leaves room for the suffix within a prompt id's limit.
MAX_THEME_ID_CHARS = MAX_ID_CHARS - 4
KEPT_REJECTIONS = 1_000
_WHOLE = re.compile(r"[+-]?\d{1,40}(\.0*)?", re.ASCII)  # "3" and "3.0", as spreadsheets write whole numbers


@dataclass(frozen=True)
class ThemeSpec:
    """One valid theme row; the models, when given, apply to every prompt row it writes."""

    theme_id: str
    scheduled_for: date
    theme: str
    count: int
    style: str | None = None
    music_prompt: str | None = None
    keyframe_model: str | None = None
    video_model: str | None = None


THEME_COLUMNS = tuple(f.name for f in fields(ThemeSpec))
_TYPES = {"scheduled_for": "DATE", "count": "INTEGER"}
_CHANGED = " OR ".join(f"themes.{c} IS DISTINCT FROM excluded.{c}" for c in THEME_COLUMNS[1:])


@dataclass(frozen=True)
class ThemeRejection:
    theme_id: str | None
    scheduled_for: str | None
    reason: str


@dataclass
class ThemeImportResult:
    """Totals of one theme import; `rejections` keeps the first `KEPT_REJECTIONS` (all are in `theme_rejections`)."""

    rows: int = 0
    new: int = 0
    changed: int = 0
    moved: int = 0
    unchanged: int = 0
    rejected: int = 0
    rejections: list[ThemeRejection] = field(default_factory=list)

    @property
    def stored(self) -> int:
        return self.new + self.changed + self.moved + self.unchanged


def _text(value: object, name: str, limit: int) -> str:
    return unicodedata.normalize("NFC", checked_text(value, name, limit=limit))


def parse_count(value: object) -> int:
    """A whole number 1..200: `3` and `3.0` are three; `2.5`, `0`, `-1`, `1e9` are rejected with the reason."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise RowError(f"count must be a whole number, got {value!r}")
    text = str(int(value)) if isinstance(value, float) else str(value).strip()
    if not _WHOLE.fullmatch(text):
        raise RowError(f"count must be a whole number, got {text[:40]!r}")
    number = int(text.split(".")[0])
    if not 1 <= number <= MAX_THEME_COUNT:
        raise RowError(f"count must be between 1 and {MAX_THEME_COUNT}, got {number}")
    return number


def validate_theme(
    row: Mapping[str, object], keyframe_models: Collection[str], video_models: Collection[str], first_day: date | None = None
) -> ThemeSpec:
    """One raw row to a `ThemeSpec`, or `RowError` naming the field that is wrong."""
    if row.get(READ_ERROR):
        raise RowError(row[READ_ERROR])
    for required in ("theme_id", "scheduled_for", "theme", "count"):
        if is_blank(row.get(required)):
            raise RowError(f"{required} is empty")
    optional: dict[str, str] = {}
    for name, limit in (("style", MAX_PART_CHARS), ("music_prompt", 2000)):
        if not is_blank(row.get(name)):
            optional[name] = _text(row[name], name, limit)
    for name, known in (("keyframe_model", keyframe_models), ("video_model", video_models)):
        if not is_blank(row.get(name)):
            model = checked_text(row[name], name, limit=200)
            if model not in known:
                raise RowError(f"{name} {model!r} is unknown; known: {', '.join(sorted(known))}")
            optional[name] = model
    return ThemeSpec(
        theme_id=normal_id(checked_text(row["theme_id"], "theme_id", limit=MAX_THEME_ID_CHARS)),
        scheduled_for=parse_day(row["scheduled_for"], first_day),
        theme=_text(row["theme"], "theme", 2000),
        count=parse_count(row["count"]),
        **optional,
    )


def validate_themes(
    rows: Iterable[Mapping[str, object]], keyframe_models, video_models, *, first_row: int = 1,
    seen: set[str] | None = None, first_day: date | None = None,
) -> tuple[list[ThemeSpec], list[ThemeRejection]]:  # fmt: skip
    """Split rows into valid themes and rejections; a repeated `theme_id` keeps the first valid copy."""
    valid, rejected, seen = [], [], set() if seen is None else seen
    for number, row in enumerate(rows, start=first_row):
        raw_id = None if is_blank(row.get("theme_id")) else normal_id(row["theme_id"])[:MAX_ID_CHARS]
        raw_day = None if is_blank(row.get("scheduled_for")) else str(row["scheduled_for"])[:40]
        try:
            spec = validate_theme(row, keyframe_models, video_models, first_day)
        except RowError as error:
            rejected.append(ThemeRejection(raw_id, raw_day, f"row {number}: {error}"))
            continue
        if spec.theme_id in seen:
            rejected.append(ThemeRejection(raw_id, raw_day, f"row {number}: duplicate theme_id {spec.theme_id!r}"))
            continue
        seen.add(spec.theme_id)
        valid.append(spec)
    return valid, rejected


def import_themes(
    warehouse, chunks: Iterable[list[dict]], keyframe_models, video_models, *, first_day: date | None = None
) -> ThemeImportResult:
    """Validate and upsert each chunk in its own short transaction; bad rows go to `theme_rejections`."""
    result, seen = ThemeImportResult(), set()
    for chunk in chunks:
        specs, rejections = validate_themes(chunk, keyframe_models, video_models, first_row=result.rows + 1,
                                            seen=seen, first_day=first_day)  # fmt: skip
        counts = upsert_themes(warehouse, specs, rejections)
        for kind in ("new", "changed", "moved", "unchanged"):
            setattr(result, kind, getattr(result, kind) + counts[kind])
        result.rows += len(chunk)
        result.rejected += len(rejections)
        result.rejections += rejections[: KEPT_REJECTIONS - len(result.rejections)]
    return result


def import_theme_file(
    warehouse, path: str | Path, keyframe_models, video_models, *, chunk_rows: int = 10_000, first_day: date | None = None
) -> ThemeImportResult:
    """The public import path: stream a CSV, Parquet or JSON-lines file, write chunk by chunk."""
    return import_themes(warehouse, read_theme_chunks(path, chunk_rows), keyframe_models, video_models, first_day=first_day)


def _kind(old: Mapping | None, spec: ThemeSpec) -> str:
    if old is None or old["deleted_at"] is not None:
        return "new"
    if old["scheduled_for"] != spec.scheduled_for:
        return "moved"
    return "changed" if any(old[c] != getattr(spec, c) for c in THEME_COLUMNS) else "unchanged"


def upsert_themes(warehouse, specs: Sequence[ThemeSpec], rejections: Sequence[ThemeRejection] = ()) -> dict[str, int]:
    """One transaction: upsert by `theme_id` (only a real change bumps `updated_at`; a move keeps the old day
    in `previous_scheduled_for`), and make these ids' latest import rejections the ones given."""
    specs = sorted(specs, key=lambda s: s.theme_id)  # concurrent writers lock ids in one order
    ids = [s.theme_id for s in specs]
    counts = dict.fromkeys(("new", "changed", "moved", "unchanged"), 0)
    columns = ", ".join(THEME_COLUMNS)
    with warehouse.connect() as session, session.transaction():
        old = {row["theme_id"]: row for row in session.rows(
            f"SELECT {columns}, deleted_at FROM themes WHERE theme_id IN (SELECT unnest(CAST(? AS VARCHAR[])))", [ids])}  # fmt: skip
        for spec in specs:
            counts[_kind(old.get(spec.theme_id), spec)] += 1
        if specs:
            selects = ", ".join(f"unnest(CAST(${c} AS {_TYPES.get(c, 'VARCHAR')}[]))" for c in THEME_COLUMNS)
            session.execute(
                f"INSERT INTO themes ({columns}) SELECT {selects} ON CONFLICT (theme_id) DO UPDATE SET "
                "previous_scheduled_for = CASE WHEN themes.scheduled_for <> excluded.scheduled_for "
                "THEN themes.scheduled_for ELSE themes.previous_scheduled_for END, "
                + ", ".join(f"{c} = excluded.{c}" for c in THEME_COLUMNS[1:])
                + f", updated_at = now(), deleted_at = NULL WHERE {_CHANGED} OR themes.deleted_at IS NOT NULL",
                {c: [getattr(s, c) for s in specs] for c in THEME_COLUMNS},
            )
        given = ids + [printable(r.theme_id) for r in rejections if r.theme_id is not None]
        session.execute("DELETE FROM theme_rejections WHERE source = 'import' AND theme_id IN "
                        "(SELECT unnest(CAST(? AS VARCHAR[])))", [given])  # fmt: skip
        _insert_rejections(session, rejections, "import")
    return counts


def _insert_rejections(session: Session, rejections: Sequence[ThemeRejection], source: str) -> None:
    if rejections:
        session.execute(
            "INSERT INTO theme_rejections (theme_id, scheduled_for, reason, source) SELECT unnest(CAST($ids AS VARCHAR[])), "
            "unnest(CAST($days AS VARCHAR[])), unnest(CAST($reasons AS VARCHAR[])), CAST($source AS VARCHAR)",
            {"ids": [printable(r.theme_id) for r in rejections], "days": [printable(r.scheduled_for) for r in rejections],
             "reasons": [printable(r.reason) for r in rejections], "source": source},
        )  # fmt: skip


def reject_theme(warehouse, theme: Mapping, reason: str, source: str) -> None:
    """Quarantine a theme that `source` (the prompt writer) could not expand; replaces that source's last verdict."""
    day = theme.get("scheduled_for")
    rejection = ThemeRejection(theme.get("theme_id"), None if day is None else str(day), reason)
    with warehouse.connect() as session, session.transaction():
        session.execute("DELETE FROM theme_rejections WHERE theme_id = ? AND source = ?", [rejection.theme_id, source])
        _insert_rejections(session, [rejection], source)


def theme_rejections(warehouse, day: date | None = None) -> list[dict]:
    """Quarantined themes (of one day, as given), oldest first."""
    where, params = ("WHERE scheduled_for = ?", [day.isoformat()]) if day else ("", [])
    with warehouse.connect() as session:
        return session.rows(f"SELECT theme_id, scheduled_for, reason, source, rejected_at FROM theme_rejections {where} "
                            "ORDER BY rejected_at, theme_id", params)  # fmt: skip


def delete_themes(warehouse, theme_ids: Iterable[str]) -> list[str]:
    """Soft-delete live themes; `updated_at` moves too, so the change scan finds them. Returns the ids deleted."""
    ids = sorted({normal_id(i) for i in theme_ids})
    with warehouse.connect() as session:
        rows = session.execute(
            "UPDATE themes SET deleted_at = now(), updated_at = now() WHERE deleted_at IS NULL "
            "AND theme_id IN (SELECT unnest(CAST(? AS VARCHAR[]))) RETURNING theme_id", [ids],
        ).fetchall()  # fmt: skip
    return sorted(row[0] for row in rows)


def day_themes(warehouse, day: date) -> list[dict]:
    """The live themes of a day, ordered by `theme_id`, every column (dates as `date`)."""
    with warehouse.connect() as session:
        return session.rows(
            f"SELECT {', '.join(THEME_COLUMNS)}, created_at, updated_at, deleted_at, previous_scheduled_for "
            "FROM themes WHERE scheduled_for = ? AND deleted_at IS NULL ORDER BY theme_id", [day],
        )  # fmt: skip


def theme_fingerprints(session: Session, days: Collection[date]) -> dict[date, str]:
    """`count:xor-of-row-hashes` of each day's live themes; days without themes are left out."""
    if not days:
        return {}
    digest = session.dialect.row_hash.format(columns=", ".join(THEME_COLUMNS))
    query = (f"SELECT scheduled_for, count(*) || ':' || coalesce(bit_xor({digest}), 0) FROM themes "
             "WHERE deleted_at IS NULL AND scheduled_for IN (SELECT unnest(CAST(? AS DATE[]))) GROUP BY 1")  # fmt: skip
    return dict(session.execute(query, [sorted(days)]).fetchall())


def with_themes(prompts_fingerprint: str, themes_fingerprint: str | None) -> str:
    """A day's fingerprint: its prompt rows', and its themes' when it has any (so a day without themes keeps its old one)."""
    return prompts_fingerprint if themes_fingerprint is None else f"{prompts_fingerprint}|themes {themes_fingerprint}"

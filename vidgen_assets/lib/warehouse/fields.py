"""Field parsers for prompt rows: each turns one raw value into a checked one, or raises `RowError` naming the field."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import date, datetime, timezone

PROMPT_PARTS = ("subject", "action", "location", "style", "camera", "lighting")
MAX_PROMPT_CHARS = 2000
MAX_PART_CHARS = 200
MAX_ID_CHARS = 128
MAX_SEED = 2**63 - 1  # BIGINT; torch generators take any non-negative 64-bit seed
MAX_MOTION_BUCKETS = 8
# Sanity bounds only: the video model's own limits (frames, sizes, takes) come from its preset and are
# checked after validation (generation.params.preset_limit_error), so no bound here is tighter than a preset's.
MAX_NUM_FRAMES = 1024
MAX_TAKES = 64
MAX_FPS = 60
MIN_SIDE, MAX_SIDE = 32, 8192  # Luma 4K at 21:9 is 5040x2160
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2100, 12, 31)
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")  # Unicode Cc, less tab and newline
# A reader puts this key in a row it could not read (a malformed JSON line, an oversized CSV record):
# its value is why, and the row is rejected with its number like any other bad row.
READ_ERROR = "__read_error__"
_PLAIN_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
# A date, `T` or a space, hh:mm[:ss[.fff]], then optionally `Z` or ±hh[:mm]; fromisoformat checks the values.
_DAY_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}(:?\d{2})?)?", re.ASCII)


class RowError(ValueError):
    """A field of one row is unusable; the message names the field."""


def is_blank(value: object) -> bool:
    """Missing: None or whitespace. NaN is not missing but junk, and is rejected where it appears."""
    return value is None or (isinstance(value, str) and not value.strip())


def checked_text(value: object, field: str, *, limit: int = MAX_PROMPT_CHARS) -> str:
    text = str(value).strip()
    if len(text) > limit:  # before the scans below, which would cost time on a huge field
        raise RowError(f"{field} has {len(text)} characters; the limit is {limit}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RowError(f"{field} is not valid Unicode (lone surrogate)") from None
    # Category Cc is exactly these ranges; one regex search is ~50x faster than a per-character loop.
    control = _CONTROLS.search(text)
    if control:
        raise RowError(f"{field} contains control character {control.group()!r}")
    return text


def checked_int(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise RowError(f"{field} must be an integer, got {value!r}")
    if isinstance(value, float):
        if not value.is_integer():
            raise RowError(f"{field} must be an integer, got {value!r}")
        value = int(value)
    try:
        number = int(str(value).strip())
    except ValueError:
        raise RowError(f"{field} must be an integer, got {str(value)[:40]!r}") from None
    if not low <= number <= high:
        raise RowError(f"{field} must be between {low} and {high}, got {number}")
    return number


def checked_number(value: object, field: str, low: float, high: float) -> float:
    try:
        number = float(str(value).strip())
    except ValueError:
        raise RowError(f"{field} must be a number, got {str(value)[:40]!r}") from None
    if not low <= number <= high:  # also false for NaN
        raise RowError(f"{field} must be between {low} and {high}, got {number}")
    return number


def even_size(value: object, field: str) -> int:
    size = checked_int(value, field, MIN_SIDE, MAX_SIDE)
    if size % 2:
        # yuv420p halves both sides; local models further need multiples of 8 (params.preset_limit_error).
        raise RowError(f"{field} must be even, got {size}")
    return size


# Optional per-row generation knobs: field -> parser. Absent fields take the preset's defaults.
KNOBS = {
    "num_frames": lambda v: checked_int(v, "num_frames", 1, MAX_NUM_FRAMES),
    "fps": lambda v: checked_int(v, "fps", 1, MAX_FPS),
    "noise_aug_strength": lambda v: checked_number(v, "noise_aug_strength", 0.0, 1.0),
    "num_inference_steps": lambda v: checked_int(v, "num_inference_steps", 1, 200),
    "min_guidance_scale": lambda v: checked_number(v, "min_guidance_scale", 0.0, 30.0),
    "max_guidance_scale": lambda v: checked_number(v, "max_guidance_scale", 0.0, 30.0),
    "decode_chunk_size": lambda v: checked_int(v, "decode_chunk_size", 1, 64),
    "takes": lambda v: checked_int(v, "takes", 1, MAX_TAKES),
    "take_crossfade_frames": lambda v: checked_int(v, "take_crossfade_frames", 0, MAX_NUM_FRAMES),
    "width": lambda v: even_size(v, "width"),
    "height": lambda v: even_size(v, "height"),
}


START_FROM = ("keyframe", "previous")
MAX_SCENE_ORDER = 1_000_000
_URI_SCHEME = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://")


def parse_start_from(value: object) -> str:
    text = str(value).strip().lower()
    if text not in START_FROM:
        raise RowError(f"start_from must be {' or '.join(START_FROM)}, got {str(value)[:40]!r}")
    return text


def parse_scene_order(value: object) -> int:
    """An integer; "2.0" too, as spreadsheets write whole numbers."""
    text = str(value).strip()
    if re.fullmatch(r"[0-9]+\.0*", text):
        text = text.split(".")[0]
    return checked_int(text, "scene_order", 0, MAX_SCENE_ORDER)


def parse_strength(value: object) -> float:
    strength = checked_number(value, "strength", 0.0, 1.0)
    if strength == 0:
        raise RowError("strength must be above 0 (0 would keep the source clip unchanged) and at most 1")
    return strength


def parse_source_uri(value: object) -> str:
    """A video in the media store (a relative key such as `sources/walk.mp4`) or an `s3://bucket/key` URI."""
    uri = checked_text(value, "source_uri", limit=1024)
    scheme = _URI_SCHEME.match(uri)
    if scheme and not uri.startswith("s3://"):
        raise RowError(f"source_uri must be a media-store key or an s3:// URI, got scheme {scheme.group()!r}")
    key = uri.removeprefix("s3://").partition("/")[2] if scheme else uri
    if not key or key.endswith("/"):
        raise RowError(f"source_uri {uri[:80]!r} names no file: give a key relative to the media store, or s3://bucket/key")
    if uri.startswith("/") or ".." in key.split("/"):
        raise RowError(f"source_uri {uri[:80]!r} must stay inside the media store: no leading / and no .. parts")
    return uri


# Columns that make a row a shot of a scene, or a kind of shot other than a keyframe animated: field -> parser.
SHOT_FIELDS = {
    "scene": lambda v: normal_id(checked_text(v, "scene", limit=MAX_PART_CHARS)),  # "Café" typed two ways is one scene
    "scene_order": lambda v: parse_scene_order(v),
    "start_from": parse_start_from,
    "end_prompt": lambda v: checked_text(v, "end_prompt"),
    "restyle_of": lambda v: normal_id(checked_text(v, "restyle_of", limit=MAX_ID_CHARS)),
    "source_uri": parse_source_uri,
    "strength": parse_strength,
}


def shot_errors(prompt_id: str, shot: dict) -> None:
    """Raise `RowError` for shot columns that contradict each other within the row."""
    restyle = shot.get("restyle_of") or shot.get("source_uri")
    if shot.get("restyle_of") and shot.get("source_uri"):
        raise RowError("restyle_of and source_uri both name a source clip; give one")
    if shot.get("restyle_of") == prompt_id:
        raise RowError("restyle_of names the row itself")
    if "strength" in shot and not restyle:
        raise RowError("strength is for video-to-video shots: give restyle_of or source_uri too")
    if restyle and shot.get("start_from") == "previous":
        raise RowError("a restyle starts from its source clip, not from the previous shot: drop start_from or restyle_of")
    if restyle and shot.get("end_prompt"):
        raise RowError("a restyle has no end keyframe: drop end_prompt or restyle_of/source_uri")
    if shot.get("start_from") == "previous" and (not shot.get("scene") or "scene_order" not in shot):
        raise RowError("start_from previous needs scene and scene_order, to know which shot comes before")
    if "scene_order" in shot and not shot.get("scene"):
        raise RowError("scene_order is given without a scene")


def parse_day(value: object, first_day: date | None = None) -> date:
    """A day from a date, a timestamp, `YYYY-MM-DD` text or ISO 8601 date-time text.

    A time with an offset (or `Z`) counts on its UTC date, as a Parquet TIMESTAMPTZ does, so one
    instant lands on one day whatever the file format; a naive time is taken as UTC. Text with
    anything after the date-time is rejected rather than cut to its first 10 characters.
    `first_day` is the first daily partition: an earlier day could never render.
    """
    if isinstance(value, datetime):
        day = _utc_day(value)
    elif isinstance(value, date):
        day = value
    else:
        day = _day_from_text(str(value).strip())
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        raise RowError(f"scheduled_for {day} is outside {EARLIEST_DAY}..{LATEST_DAY}")
    if first_day and day < first_day:
        raise RowError(f"scheduled_for {day} is before {first_day}, the first daily partition: it would never render")
    return day


def _utc_day(moment: datetime) -> date:
    return (moment.astimezone(timezone.utc) if moment.tzinfo else moment).date()


def _day_from_text(text: str) -> date:
    # The pattern first: fromisoformat alone also takes week dates and `20261201`, which no one means here.
    try:
        if _PLAIN_DAY.fullmatch(text):
            return date.fromisoformat(text)
        if _DAY_TIME.fullmatch(text):
            return _utc_day(datetime.fromisoformat(text))
    except ValueError:
        pass
    raise RowError(
        f"scheduled_for must be a date YYYY-MM-DD or an ISO 8601 date-time (e.g. 2026-12-01T23:30:00-08:00), "
        f"got {text[:40]!r}"
    )


def normal_id(value: object) -> str:
    """An id as stored: stripped, in Unicode NFC, so "café" typed two ways is one row."""
    return unicodedata.normalize("NFC", str(value).strip())


def row_parts(row: Mapping[str, object]) -> dict[str, str]:
    """The row's composition parts that are given, each checked like any text field."""
    return {p: checked_text(row[p], p, limit=MAX_PART_CHARS) for p in PROMPT_PARTS if not is_blank(row.get(p))}


def parse_motion_buckets(value: object) -> tuple[int, ...]:
    items = value if isinstance(value, (list, tuple)) else str(value).split(";")
    buckets = tuple(checked_int(item, "motion_bucket_ids", 0, 255) for item in items if not is_blank(item))
    if not buckets:
        raise RowError("motion_bucket_ids is given but holds no bucket")
    if len(buckets) > MAX_MOTION_BUCKETS:
        raise RowError(f"motion_bucket_ids has {len(buckets)} buckets; the limit is {MAX_MOTION_BUCKETS}")
    return buckets

"""A theme to prompt rows ready for the warehouse import: `<theme_id>-001` … with their composition parts.

With an endpoint set, the model's checked reply is kept in the media store at `writer/<cache_key>.json`,
addressed by what shapes it (theme, count, style, model, instructions, schema; never the URL or the key),
so a re-run asks nothing and a changed theme asks again. A rejected theme is not kept. The offline
expansion costs nothing to redo and is not kept either.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from vidgen_assets.lib.warehouse.fields import (
    MAX_ID_CHARS, MAX_PART_CHARS, MAX_PROMPT_CHARS, RowError, checked_int, checked_text, is_blank, normal_id, parse_day,
)  # fmt: skip

from .llm import ask_model
from .offline import offline_prompts
from .reply import INSTRUCTIONS, INSTRUCTIONS_VERSION, parse_prompts, prompts_schema
from .settings import WriterSettings

MAX_PROMPTS_PER_THEME = 200  # as `themes.count` allows (lib/warehouse/themes.py MAX_THEME_COUNT)
NEGATIVE_PROMPT = "blurry, low quality"  # as the demo rows


@dataclass(frozen=True)
class WrittenTheme:
    """A theme's prompt rows, or why it has none (`rejection`), and what writing them cost."""

    theme_id: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    calls: int = 0  # HTTP requests made to the chat endpoint
    cache_hit: bool = False
    cache_key: str = ""
    backend: str = "offline"  # or the model's name
    rejection: str | None = None

    @property
    def prompt_ids(self) -> list[str]:
        return [row["prompt_id"] for row in self.rows]


def cache_key(theme: str, count: int, style: str | None, backend: str) -> str:
    """The content address of a theme's reply: everything that shapes it, nothing about where it came from."""
    recipe = {
        "theme": theme, "count": count, "style": style, "model": backend, "instructions": INSTRUCTIONS,
        "instructions_version": INSTRUCTIONS_VERSION, "schema": prompts_schema(count),
    }  # fmt: skip
    canonical = json.dumps(recipe, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8", "backslashreplace")).hexdigest()[:32]


def cache_path(key: str) -> str:
    return f"writer/{key}.json"


def prompt_seed(prompt_id: str) -> int:
    """The row's seed, from its id alone (as the demo rows'): a row keeps its seed when its text changes."""
    return int(hashlib.sha256(prompt_id.encode()).hexdigest()[:8], 16)


def checked_theme(theme: Mapping[str, Any]) -> dict[str, Any]:
    """The theme's fields the writer reads, checked; `RowError` names the one that is wrong."""
    if is_blank(theme.get("theme_id")):
        raise RowError("theme_id is empty")
    theme_id = normal_id(checked_text(theme["theme_id"], "theme_id", limit=MAX_ID_CHARS - 4))
    if is_blank(theme.get("theme")):
        raise RowError("theme is empty")
    if is_blank(theme.get("scheduled_for")):
        raise RowError("scheduled_for is empty")
    count = checked_int(theme.get("count"), "count", 1, MAX_PROMPTS_PER_THEME)
    width = max(3, len(str(count)))
    if len(theme_id) + 1 + width > MAX_ID_CHARS:
        raise RowError(f"theme_id is too long for its prompt ids (<theme_id>-{'N' * width}, at most {MAX_ID_CHARS})")
    models = {name: checked_text(theme[name], name, limit=200) for name in ("keyframe_model", "video_model")
              if not is_blank(theme.get(name))}  # fmt: skip
    return {
        "theme_id": theme_id,
        "scheduled_for": parse_day(theme["scheduled_for"]).isoformat(),
        "theme": checked_text(theme["theme"], "theme", limit=MAX_PROMPT_CHARS),
        "count": count,
        "width": width,
        "style": None if is_blank(theme.get("style")) else checked_text(theme["style"], "style", limit=MAX_PART_CHARS),
        "models": models,
    }


def cached_prompts(cache, key: str, count: int) -> list[dict[str, str]] | None:
    """The kept reply for `key`, or None when there is none or it no longer reads as a good one."""
    if not cache.exists(cache_path(key)):
        return None
    try:
        kept = cache.get_json(cache_path(key))
        return parse_prompts(json.dumps({"prompts": kept["prompts"]}), count)
    except (ValueError, KeyError, TypeError):  # a damaged file: ask again and replace it
        return None


def prompt_rows(checked: Mapping[str, Any], shots: list[dict[str, str]], *, llm: bool) -> list[dict[str, Any]]:
    """Import-ready rows for the shots; a theme's style, when given, holds for every row the model wrote."""
    rows = []
    for number, shot in enumerate(shots, start=1):
        prompt_id = f"{checked['theme_id']}-{number:0{checked['width']}d}"
        style = checked["style"] if llm and checked["style"] else shot["style"]
        rows.append({
            "prompt_id": prompt_id, "scheduled_for": checked["scheduled_for"], **shot, "style": style,
            "negative_prompt": NEGATIVE_PROMPT, "seed": prompt_seed(prompt_id),
            "source": f"theme:{checked['theme_id']}", **checked["models"],
        })  # fmt: skip
    return rows


def write_theme(theme: Mapping[str, Any], settings: WriterSettings, cache) -> WrittenTheme:
    """The theme's `count` prompt rows through the endpoint in `settings` (or offline), with `cache` the media
    store; a bad theme or an endpoint that gives no usable reply is a `rejection`, never an exception."""
    theme_id = str(theme.get("theme_id") or "")
    try:
        checked = checked_theme(theme)
    except RowError as error:
        return WrittenTheme(theme_id, backend=settings.backend, rejection=str(error))
    text, count, style = checked["theme"], checked["count"], checked["style"]
    key = cache_key(text, count, style, settings.backend)
    written = WrittenTheme(checked["theme_id"], cache_key=key, backend=settings.backend)
    if settings.offline:
        try:
            shots = offline_prompts(text, count, style)
        except ValueError as error:
            return replace(written, rejection=str(error))
        return replace(written, rows=prompt_rows(checked, shots, llm=False))
    if (shots := cached_prompts(cache, key, count)) is not None:
        return replace(written, rows=prompt_rows(checked, shots, llm=True), cache_hit=True)
    answer = ask_model(settings, text, count, style)
    if answer.prompts is None:
        return replace(written, calls=answer.calls, rejection=answer.rejection)
    cache.put_json(cache_path(key), {
        "prompts": answer.prompts, "model": settings.model, "theme": text, "count": count, "style": style,
        "instructions_version": INSTRUCTIONS_VERSION,
    })  # fmt: skip
    return replace(written, rows=prompt_rows(checked, answer.prompts, llm=True), calls=answer.calls)

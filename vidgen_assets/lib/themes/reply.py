"""What the prompt writer asks a language model, and how its answer is checked.

The request asks for JSON under a strict schema; the answer is still checked here, because not every
OpenAI-compatible server enforces `response_format` (and some wrap the JSON in Markdown fences).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from vidgen_assets.lib.warehouse.fields import MAX_PART_CHARS, RowError, checked_text

LLM_PARTS = ("subject", "action", "location", "style", "camera", "lighting")
# Bump when the instructions' meaning changes; their text is in the cache key too, so any edit re-asks.
INSTRUCTIONS_VERSION = 1
INSTRUCTIONS = (
    "You write prompts for a text-to-image model whose images are then animated into short video clips. "
    "Given a theme, write the requested number of distinct shots that together tell it. Each shot has: "
    "subject (who or what, a short noun phrase), action (what it does, a verb phrase), location (where, "
    "starting with a preposition), style (the visual style), camera (framing or movement), lighting. "
    f"Keep every field under {MAX_PART_CHARS} characters, concrete and visual; no text overlays, no names of "
    "real people. When a style is given, use it for every shot. Answer with JSON only, matching the schema."
)
_FENCED = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n?```\s*$", re.DOTALL)


class ReplyProblem(ValueError):
    """The model answered, but not with what was asked; the message says what was wrong."""


def prompts_schema(count: int) -> dict:
    """The strict JSON schema of a reply: {"prompts": [...]} with exactly `count` shots."""
    shot = {
        "type": "object",
        "properties": {part: {"type": "string"} for part in LLM_PARTS},
        "required": list(LLM_PARTS),
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {"prompts": {"type": "array", "items": shot, "minItems": count, "maxItems": count}},
        "required": ["prompts"],
        "additionalProperties": False,
    }


def theme_message(theme: str, count: int, style: str | None) -> str:
    """The user message: the theme and what is asked of it (the fake chat server reads the `Theme:` line)."""
    return f"Theme: {theme}\nNumber of prompts: {count}\nStyle: {style or 'choose one that fits the theme'}"


def request_seed(theme: str, count: int, style: str | None) -> int:
    """A sampling seed from the theme, within 31 bits (some servers keep it in an int32)."""
    digest = hashlib.sha256(json.dumps([theme, count, style]).encode()).hexdigest()
    return int(digest[:8], 16) % 2**31


def request_body(model: str, theme: str, count: int, style: str | None, repairs: list[tuple[str, str]]) -> dict:
    """A chat-completions request for `count` prompts; `repairs` (bad reply, what was wrong) asks again."""
    messages = [{"role": "system", "content": INSTRUCTIONS}, {"role": "user", "content": theme_message(theme, count, style)}]
    for content, problem in repairs:
        if content:  # no content to show (an empty or unreadable answer): the same request again
            messages += [
                {"role": "assistant", "content": content[:4000]},  # enough to show the model its mistake
                {"role": "user", "content": f"That reply is not usable: {problem}. Answer again with only the "
                                            f"JSON, exactly {count} prompts."},  # fmt: skip
            ]
    return {
        "model": model,
        "messages": messages,
        "temperature": 0,
        "seed": request_seed(theme, count, style),
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "theme_prompts", "schema": prompts_schema(count), "strict": True},
        },
    }


def reply_content(body: Any) -> tuple[str, str | None]:
    """`choices[0].message.content` and the finish reason of a chat-completions answer."""
    try:
        choice = body["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError):
        raise ReplyProblem("the answer has no choices[0].message") from None
    if message.get("refusal"):
        raise ReplyProblem(f"the model refused: {str(message['refusal'])[:200]}")
    content = message.get("content")
    if not isinstance(content, str) or not content.strip():
        raise ReplyProblem("the answer's message has no content")
    return content, choice.get("finish_reason")


def parse_prompts(content: str, count: int, finish_reason: str | None = None) -> list[dict[str, str]]:
    """The `count` shots in a reply's content (JSON, perhaps in ```json fences), each part checked;
    `ReplyProblem` says what is wrong. Extra shots beyond `count` are dropped."""
    fenced = _FENCED.match(content)
    try:
        data = json.loads(fenced.group(1) if fenced else content)
    except json.JSONDecodeError as error:
        cut = " (the reply was cut off at the token limit)" if finish_reason == "length" else ""
        raise ReplyProblem(f"the reply is not valid JSON: {error.msg} at character {error.pos}{cut}") from None
    shots = data.get("prompts") if isinstance(data, dict) else None
    if not isinstance(shots, list):
        raise ReplyProblem('the reply has no "prompts" list')
    if len(shots) < count:
        raise ReplyProblem(f"the reply has {len(shots)} prompts; {count} were asked for")
    checked = []
    for number, shot in enumerate(shots[:count], start=1):
        if not isinstance(shot, dict):
            raise ReplyProblem(f"prompt {number} is not an object")
        missing = [part for part in LLM_PARTS if not isinstance(shot.get(part), str) or not shot[part].strip()]
        if missing:
            raise ReplyProblem(f"prompt {number} has no {', '.join(missing)}")
        try:
            checked.append({part: checked_text(shot[part], part, limit=MAX_PART_CHARS) for part in LLM_PARTS})
        except RowError as error:
            raise ReplyProblem(f"prompt {number}: {error}") from None
    return checked

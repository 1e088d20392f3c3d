"""The writer with no language model: a theme expanded through the demo's composition parts.

Subjects × actions × locations × styles (and a few camera moves and lights) are shuffled by a hash of the
theme and its style, so the same theme always gives the same shots and another theme other ones. The count
is not part of the hash: raising a theme's count appends shots and keeps the ones already rendered.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random

from vidgen_assets.lib.warehouse.fields import MAX_PART_CHARS
from vidgen_assets.lib.warehouse.importer import DEMO_ACTIONS, DEMO_LOCATIONS, DEMO_STYLES, DEMO_SUBJECTS

CAMERAS = ("slow dolly in", "wide establishing shot", "handheld close-up")
LIGHTINGS = ("soft morning light", "low evening sun", "neon glow")


def offline_prompts(theme: str, count: int, style: str | None) -> list[dict[str, str]]:
    """`count` shots for `theme`, the theme's text carried into each shot's style (ahead of the drawn or given
    style). `ValueError` when that style would be longer than a prompt part may be."""
    longest = len(f"{theme}, ") + max(len(s) for s in ([style] if style else DEMO_STYLES))
    if longest > MAX_PART_CHARS:
        raise ValueError(
            f"the offline writer carries the theme into each prompt's style, which would be {longest} characters "
            f"(the limit is {MAX_PART_CHARS}): shorten the theme or set VIDGEN_LLM_BASE_URL"
        )
    combos = list(itertools.product(DEMO_SUBJECTS, DEMO_ACTIONS, DEMO_LOCATIONS, DEMO_STYLES, CAMERAS, LIGHTINGS))
    digest = hashlib.sha256(json.dumps([theme, style]).encode()).digest()
    random.Random(digest).shuffle(combos)  # seeded by bytes: the same order on every Python and platform
    shots = []
    for subject, action, location, drawn_style, camera, lighting in itertools.islice(itertools.cycle(combos), count):
        shots.append({
            "subject": subject, "action": action, "location": location,
            "style": f"{theme}, {style or drawn_style}", "camera": camera, "lighting": lighting,
        })  # fmt: skip
    return shots

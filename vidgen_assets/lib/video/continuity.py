"""Continuity between shots: does a continuation begin on the frame the shot before it ended on, and how
close does a first-and-last-frame shot come to its end keyframe?

Distances are the mean absolute difference of RGB levels (0-255), the earlier image resized to the
clip's size. A continuation rendered here starts on that exact frame (`ClipWriter(first_frame=...)`), so
only encoding separates them: x264 at CRF 18 moved the first frame of a 32x32 tiny-flf2v continuation
(random-weight noise, the hardest case for the encoder) by 6.1 levels, while consecutive frames of the
same clips differ by 7-27 and a cut to another shot by 40 or more. A hosted continuation is made by the
provider's model from the frame: its distance is reported, not held to the limit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from PIL import Image

from .probe import iter_frames

MAX_START_JUMP = 12.0  # levels: a continuation starting further from its previous frame fails its check


def _distance(frame: np.ndarray, image_path) -> float:
    image = Image.open(image_path).convert("RGB")
    height, width = frame.shape[:2]
    if image.size != (width, height):
        image = image.resize((width, height), Image.Resampling.LANCZOS)
    return float(np.abs(frame.astype(np.float32) - np.asarray(image, dtype=np.float32)).mean())


def _first_and_last(path) -> tuple[np.ndarray, np.ndarray]:
    first = last = None
    for last in iter_frames(path):
        if first is None:
            first = last
    return first, last


def add_continuity(quality: dict[str, dict], items: Sequence[Mapping], store, max_start_jump: float = MAX_START_JUMP) -> None:
    """Add `continuity` to the quality result of each continuation and first-and-last-frame clip in `items`;
    a continuation made here that does not start on its previous frame fails its check."""
    for item in items:
        start, end = item.get("start_clip"), item.get("end_keyframe_media_key")
        result = quality.get(item["key"])
        if not (start or end) or result is None or "continuity" in result:
            continue  # a plain shot, or a clip several rows share, measured once
        found: dict[str, object] = {}
        with store.local_path(item["media_key"]) as path:
            first, last = _first_and_last(path)
        if start:
            with store.local_path(item["keyframe_media_key"]) as frame_path:
                jump = round(_distance(first, frame_path), 3)
            held = "provider" not in item  # a local render starts on the frame by construction
            found.update(continues=start["prompt_id"], start_jump=jump, max_start_jump=max_start_jump if held else None)
            if held and jump > max_start_jump:
                result["passed"] = False
                problem = f"does not start where {start['prompt_id']} ended (jump {jump:.1f} > {max_start_jump:g} levels)"
                result["problems"] = "; ".join(p for p in (result.get("problems"), problem) if p)
        if end:
            with store.local_path(end) as end_path:
                found["end_distance"] = round(_distance(last, end_path), 3)  # reported: how near it came
        result["continuity"] = found

"""Cutting the reel on the beat: each cut moved to the nearest beat by trimming or holding a clip's tail.

A cut is where the next clip takes over: the frame it starts on, or the middle of the crossfade when
clips overlap. Each cut may move by at most ``max_shift_frames`` frames, later (the clip's last frame is
held) or earlier (its tail is trimmed), so no clip is ever dropped and none is trimmed below half its
length (nor below what its crossfades need). A cut with no beat in reach stays where it is and is counted
as off the beat. Cuts are planned in order from the reel's start, each from where the previous one
landed, so shifts never add up into drift. The plan is plain data: it goes into the reel's key.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

DEFAULT_MAX_SHIFT_FRAMES = 3  # an eighth of a second at 24 fps: a held or trimmed tail this short goes unnoticed
MAX_SHIFT_ENV = "VIDGEN_REEL_MAX_SHIFT_FRAMES"


@dataclass(frozen=True)
class CutPlan:
    """Per clip, frames added at its tail (held last frame, > 0) or removed (trimmed, < 0); per cut, its
    time in the planned reel and the beat it landed on (None: no beat within reach)."""

    fps: int
    crossfade_frames: int
    max_shift_frames: int
    frames: tuple[int, ...]  # each clip's frames at the reel's rate, before the plan
    deltas: tuple[int, ...]
    cuts_s: tuple[float, ...]
    beats_s: tuple[float | None, ...]

    @property
    def changes_frames(self) -> bool:
        return any(self.deltas)

    @property
    def on_beat(self) -> int:
        return sum(beat is not None for beat in self.beats_s)

    @property
    def off_beat(self) -> int:
        return len(self.beats_s) - self.on_beat

    @property
    def max_shift_used(self) -> int:
        return max((abs(delta) for delta in self.deltas), default=0)

    @property
    def planned_frames(self) -> list[int]:
        """Each clip's frames in the planned reel."""
        return [n + delta for n, delta in zip(self.frames, self.deltas)]

    @property
    def total_frames(self) -> int:
        """Frames of the planned reel."""
        return sum(self.frames) + sum(self.deltas) - self.crossfade_frames * max(0, len(self.frames) - 1)

    def as_dict(self) -> dict:
        """The plan as JSON-ready data, what the reel's key and its output record."""
        return {
            "fps": self.fps, "crossfade_frames": self.crossfade_frames, "max_shift_frames": self.max_shift_frames,
            "frames": list(self.frames), "deltas": list(self.deltas), "cuts_s": list(self.cuts_s),
            "beats_s": list(self.beats_s),
        }  # fmt: skip


def plan_cuts(
    clip_frames: Sequence[int],
    fps: int,
    beats: Sequence[float],
    max_shift_frames: int = DEFAULT_MAX_SHIFT_FRAMES,
    crossfade_frames: int = 0,
) -> CutPlan:
    """Move each cut between ``clip_frames`` (frame counts at ``fps``) to the nearest of ``beats`` (seconds
    from the reel's start) within ``max_shift_frames``; the last clip's end is not a cut and keeps its length."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if max_shift_frames < 0 or crossfade_frames < 0:
        raise ValueError(f"max_shift_frames and crossfade_frames must be >= 0, "
                         f"got {max_shift_frames} and {crossfade_frames}")  # fmt: skip
    if any(int(n) < 1 for n in clip_frames):
        raise ValueError(f"every clip needs at least one frame, got {list(clip_frames)}")
    beat_frames = sorted(float(beat) * fps for beat in beats)
    last = len(clip_frames) - 1
    start, deltas, cuts, landed = 0, [], [], []
    for index, n in enumerate(clip_frames):
        if index == last:
            deltas.append(0)
            break
        # The clip fades out here and, after the first, fades in too: both fades must fit in what is left.
        floor = max(1, math.ceil(n / 2), crossfade_frames * (2 if index else 1))
        trim_reach = min(max_shift_frames, max(0, n - floor))
        natural = start + n - crossfade_frames + crossfade_frames / 2
        beat = _nearest(beat_frames, natural, natural - trim_reach - 0.5, natural + max_shift_frames + 0.5)
        delta = 0 if beat is None else max(-trim_reach, min(max_shift_frames, round(beat - natural)))
        deltas.append(delta)
        cuts.append(round((natural + delta) / fps, 4))
        landed.append(None if beat is None else round(beat / fps, 4))
        start += n + delta - crossfade_frames
    return CutPlan(fps, crossfade_frames, max_shift_frames, tuple(int(n) for n in clip_frames), tuple(deltas),
                   tuple(cuts), tuple(landed))  # fmt: skip


def _nearest(sorted_values: Sequence[float], target: float, low: float, high: float) -> float | None:
    """The value nearest ``target`` within [low, high] (the earlier one on a tie), or None."""
    at = bisect.bisect_left(sorted_values, target)
    near = [v for v in sorted_values[max(0, at - 1) : at + 1] if low <= v <= high]
    return min(near, key=lambda v: (abs(v - target), v)) if near else None


def max_shift_setting() -> int:
    """VIDGEN_REEL_MAX_SHIFT_FRAMES (default 3): how far a cut may move to meet a beat."""
    raw = os.getenv(MAX_SHIFT_ENV, "").strip()
    if not raw:
        return DEFAULT_MAX_SHIFT_FRAMES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        raise ValueError(f"{MAX_SHIFT_ENV} must be a whole number of frames >= 0, got {raw!r}")
    return value

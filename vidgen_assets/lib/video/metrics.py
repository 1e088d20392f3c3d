"""Numbers per clip for comparing models and watching them drift, gathered frame by frame while the quality
check decodes the clip (no second decode; only the previous frame is kept).

- `motion`: mean dense optical-flow magnitude (OpenCV's Farnebäck), pixels per frame at the clip's size.
  Flow measures how far things move; the quality check's luma difference also grows with texture, contrast
  and noise, so a sharper or noisier model would read as "moving more". Flow runs on frames scaled to at
  most 256 px (about 10 ms a frame pair on one CPU core) and is scaled back.
- `flicker`: mean absolute change of a frame's mean luma from the frame before (levels, 0-255): a steady
  pan barely moves it, a pumping exposure does.
- `sharpness`: variance of the Laplacian of luma, mean over frames (higher is crisper).
- `luma_mean`, `luma_std`: exposure and contrast (Rec. 601 luma, 0-255), mean over frames.
- `saturation`: mean HSV saturation, 0-1.
- `start_jump`: for a continuation, how far its first frame is from the frame it continues (levels, from
  `continuity.add_continuity`); None for other clips.
- `join_jump`: for a long take, the largest change between consecutive frames across any join of its takes
  (levels, mean absolute RGB difference; the crossfade's frames count as the join); None for one take.

OpenCV (`opencv-python-headless`) does the image maths: its Farnebäck flow, Laplacian and colour conversion
are maintained, C++-fast and need no weights, where a numpy flow would be slow and a learned one (RAFT)
needs a GPU and a checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping

import numpy as np

METRICS: tuple[str, ...] = ("motion", "flicker", "sharpness", "luma_mean", "luma_std", "saturation", "start_jump", "join_jump")
CLIP_SCORE = "clip_score"  # prompt alignment: only with a pinned CLIP model's weights, never from random ones
CLIP_SCORE_UNAVAILABLE = "unavailable: no pinned CLIP model is set up, so prompt alignment is not measured"
FLOW_MAX_SIDE = 256  # px: flow on larger frames costs more and is no more telling of a clip's motion
_LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


class ClipMetrics:
    """Running statistics of a clip's frames, fed one decoded RGB frame at a time.

    `joins` are the frame indices a long take's joins reach into: for each, the change from frame i-1 to i
    is measured. Besides the `METRICS`, keeps the quality check's figures: `frames`, `luma_mean`, `luma_std`
    and `change` (mean absolute luma difference between consecutive frames, what the frozen check judges).
    """

    def __init__(self, joins: Iterable[Iterable[int]] = ()) -> None:
        self.frames = 0
        self._joins = [set(join) for join in joins]
        self._join_jumps = [0.0 for _ in self._joins]
        self._sums = dict.fromkeys(("luma_mean", "luma_std", "change", "motion", "flicker", "sharpness", "saturation"), 0.0)
        self._previous: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None  # rgb, luma, small gray, mean

    def add(self, rgb: np.ndarray) -> None:
        import cv2

        luma = rgb.astype(np.float32) @ _LUMA_WEIGHTS
        mean = float(luma.mean())
        gray = np.clip(luma + 0.5, 0, 255).astype(np.uint8)
        scale = min(1.0, FLOW_MAX_SIDE / max(gray.shape))
        small = gray if scale == 1.0 else cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        sums = self._sums
        sums["luma_mean"] += mean
        sums["luma_std"] += float(luma.std())
        sums["sharpness"] += float(cv2.Laplacian(gray, cv2.CV_64F).var())
        sums["saturation"] += float(cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)[..., 1].mean()) / 255
        if self._previous is not None:
            previous_rgb, previous_luma, previous_small, previous_mean = self._previous
            sums["change"] += float(np.abs(luma - previous_luma).mean())
            sums["flicker"] += abs(mean - previous_mean)
            flow = cv2.calcOpticalFlowFarneback(previous_small, small, None, 0.5, 3, 15, 3, 5, 1.2, 0)
            sums["motion"] += float(np.hypot(flow[..., 0], flow[..., 1]).mean()) / scale
            for index, join in enumerate(self._joins):
                if self.frames in join:
                    jump = float(np.abs(rgb.astype(np.float32) - previous_rgb.astype(np.float32)).mean())
                    self._join_jumps[index] = max(self._join_jumps[index], jump)
        self._previous = (rgb, luma, small, mean)
        self.frames += 1

    def mean(self, name: str) -> float:
        """A per-frame figure's mean over frames, or a per-pair figure's over frame pairs (0 when there are none)."""
        count = self.frames - 1 if name in ("change", "motion", "flicker") else self.frames
        return self._sums[name] / count if count > 0 else 0.0

    @property
    def join_jumps(self) -> list[float]:
        """The largest change across each join the clip reached (a truncated clip reaches fewer)."""
        return [round(jump, 3) for join, jump in zip(self._joins, self._join_jumps) if join and min(join) < self.frames]

    def result(self) -> dict[str, float | None]:
        """The `METRICS` (rounded); None where one does not apply or the clip had too few frames."""
        pairs = self.frames > 1
        found: dict[str, float | None] = {name: None for name in METRICS}
        if self.frames:
            found.update({name: round(self.mean(name), 4) for name in ("sharpness", "luma_mean", "luma_std", "saturation")})
        if pairs:
            found.update({name: round(self.mean(name), 4) for name in ("motion", "flicker")})
        jumps = self.join_jumps
        found["join_jump"] = max(jumps) if jumps else None
        return found


def take_joins(params: Mapping[str, object]) -> list[list[int]]:
    """Frame indices each join of a long take reaches into (see `takes.join_takes`): a join without
    crossfade is the step into the next take's first kept frame; with N crossfade frames, the N + 1 steps
    from the last unblended frame to the first frame after the blend."""
    takes, frames = int(params.get("takes") or 1), params.get("num_frames")
    if takes < 2 or frames is None:
        return []
    fade = int(params.get("take_crossfade_frames") or 0)
    ends = [k * int(frames) - (k - 1) * (1 + fade) for k in range(1, takes)]  # frames written once take k is in
    return [list(range(end - fade, end + 1)) for end in ends]


def add_start_jumps(quality: MutableMapping[str, dict]) -> None:
    """Copy each continuation's start jump (measured by `continuity.add_continuity`) into its metrics."""
    for result in quality.values():
        jump = (result.get("continuity") or {}).get("start_jump")
        if jump is not None and "metrics" in result:
            result["metrics"]["start_jump"] = jump


def median_metrics(results: Iterable[Mapping]) -> dict[str, float | None]:
    """Each metric's median over quality results (`check_day_clips` values) that measured it; None if none did.
    `clip_score` is included only when some clip has one."""
    measured = [result["metrics"] for result in results if result.get("metrics")]
    names = (*METRICS, CLIP_SCORE) if any(CLIP_SCORE in found for found in measured) else METRICS
    found: dict[str, float | None] = {}
    for name in names:
        values = [m[name] for m in measured if m.get(name) is not None]
        found[name] = round(float(np.median(values)), 4) if values else None
    return found

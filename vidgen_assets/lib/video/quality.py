"""Is a clip worth showing? Decode it fully and look for blank, flat or frozen pictures; the same decode
measures the clip's metrics (`metrics.METRICS`) for comparisons and drift checks.

Luma is Rec. 601 (0.299 R + 0.587 G + 0.114 B) on decoded RGB, 0 = black, 255 = white.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import av

from .metrics import METRICS, ClipMetrics, take_joins


@dataclass(frozen=True)
class QualityThresholds:
    """Limits a clip must stay within.

    Defaults measured on the project's clips: the tiny random-weight models give luma mean
    ~108, per-frame std >= 10.7 and motion ~16; an x264-encoded frozen clip has motion
    <= 0.08, black or one-colour clips have std 0, and a one-pixel-per-frame pan ~1.1.
    """

    min_luma_mean: float = 10.0  # darker is a black clip
    max_luma_mean: float = 245.0  # brighter is a white clip
    min_luma_std: float = 2.0  # flatter is one colour
    min_motion: float = 0.25  # less change between frames is a still image
    fps_tolerance: float = 0.01


@dataclass
class ClipQuality:
    """What check_clip found; ``problems`` is empty exactly when ``passed``.

    ``luma_std`` is the mean of each frame's spatial std; ``motion`` the mean absolute
    luma difference between consecutive frames (0 for a single frame), what the frozen check
    judges. ``metrics`` holds the clip's `METRICS` (its own ``motion`` is optical flow);
    ``join_jumps`` a long take's change across each join.
    """

    passed: bool
    problems: list[str] = field(default_factory=list)
    frames: int = 0
    fps: float = 0.0
    width: int = 0
    height: int = 0
    luma_mean: float = 0.0
    luma_std: float = 0.0
    motion: float = 0.0
    metrics: dict[str, float | None] = field(default_factory=lambda: dict.fromkeys(METRICS))
    join_jumps: list[float] = field(default_factory=list)

    def as_metadata(self) -> dict[str, object]:
        """Plain values for asset-check metadata, numbers rounded for reading."""
        values = asdict(self)
        for name in ("fps", "luma_mean", "luma_std", "motion"):
            values[name] = round(values[name], 3)
        values["problems"] = "; ".join(self.problems)
        return values


def check_clip(
    path: str | os.PathLike[str],
    *,
    expected_frames: int | None = None,
    expected_fps: float | None = None,
    expected_size: tuple[int, int] | None = None,
    thresholds: QualityThresholds = QualityThresholds(),
    joins: Iterable[Iterable[int]] = (),
) -> ClipQuality:
    """Decode ``path`` frame by frame, measure it and report problems; never raises for a bad file.

    ``expected_size`` is (width, height); ``joins`` a long take's join frames (`metrics.take_joins`).
    """
    stats = ClipMetrics(joins)
    fps, width, height = 0.0, 0, 0
    try:
        file = Path(path)
        if not file.is_file():
            raise _Undecodable("file does not exist")
        with av.open(str(file)) as container:
            if not container.streams.video:
                raise _Undecodable("no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            fps = float(rate) if rate else 0.0
            width, height = stream.codec_context.width, stream.codec_context.height
            for frame in container.decode(stream):
                stats.add(frame.to_ndarray(format="rgb24"))
            promised = stream.frames
        if stats.frames == 0:
            raise _Undecodable("no decodable frames")
        # Fewer frames than the index lists means the sample data was cut off.
        if promised and stats.frames < promised:
            raise _Undecodable(f"truncated: decoded {stats.frames} of {promised} frames")
    except (_Undecodable, av.FFmpegError) as exc:
        return ClipQuality(False, [f"does not decode: {exc}"], stats.frames, fps, width, height)

    quality = ClipQuality(
        True, [], stats.frames, fps, width, height, stats.mean("luma_mean"), stats.mean("luma_std"), stats.mean("change"),
        stats.result(), stats.join_jumps,
    )  # fmt: skip
    quality.problems = _problems(quality, expected_frames, expected_fps, expected_size, thresholds)
    quality.passed = not quality.problems
    return quality


def _problems(
    quality: ClipQuality,
    expected_frames: int | None,
    expected_fps: float | None,
    expected_size: tuple[int, int] | None,
    limits: QualityThresholds,
) -> list[str]:
    problems = []
    if expected_frames is not None and quality.frames != expected_frames:
        problems.append(f"expected {expected_frames} frames, decoded {quality.frames}")
    if expected_fps is not None and abs(quality.fps - expected_fps) > limits.fps_tolerance:
        problems.append(f"expected {expected_fps:g} fps, got {quality.fps:g}")
    if expected_size is not None and (quality.width, quality.height) != tuple(expected_size):
        problems.append(f"expected {expected_size[0]}x{expected_size[1]}, got {quality.width}x{quality.height}")
    if quality.luma_mean < limits.min_luma_mean:
        problems.append(f"blank: too dark (luma mean {quality.luma_mean:.1f} < {limits.min_luma_mean:g})")
    if quality.luma_mean > limits.max_luma_mean:
        problems.append(f"blank: too bright (luma mean {quality.luma_mean:.1f} > {limits.max_luma_mean:g})")
    if quality.luma_std < limits.min_luma_std:
        problems.append(f"blank: flat picture (luma std {quality.luma_std:.2f} < {limits.min_luma_std:g})")
    # A single frame has no motion to measure; a frame-count expectation catches that case.
    if quality.frames > 1 and quality.motion < limits.min_motion:
        problems.append(f"frozen: frames barely change (motion {quality.motion:.3f} < {limits.min_motion:g})")
    return problems


class _Undecodable(Exception):
    """Reason a file cannot be checked, reported as a problem rather than raised."""


def clip_frames(params: Mapping[str, object]) -> int | None:
    """Frames a clip with these params has: a long take's joins each drop one repeated frame and overlap its crossfade."""
    if params.get("num_frames") is None:
        return None
    takes, fade = int(params.get("takes") or 1), int(params.get("take_crossfade_frames") or 0)
    return takes * int(params["num_frames"]) - (takes - 1) * (1 + fade)


def check_day_clips(items: Sequence[Mapping[str, object]], store, thresholds: QualityThresholds = QualityThresholds()) -> dict[str, dict]:
    """Quality and metrics of each manifest clip (by content key), checked against what its row asked for.

    `store` is a media store: clips are read through `store.local_path`, one at a time. Each distinct
    clip is decoded once (rows sharing a clip share its result), and the result is kept in the store
    under `quality/` keyed by the clip, the file's stored version (size and mtime, or ETag), what it was
    checked against and the check's version: a re-run decodes only clips that are new or whose file
    changed since (a clip replaced in place is checked again).
    """
    wanted = {}
    for item in items:
        params = item.get("params") or {}
        expected = {
            # A restyle is as long as its source (trimmed to the model's frame rule, or the provider's choice).
            "expected_frames": None if item.get("source") else clip_frames(params), "expected_fps": params.get("fps"),
            "expected_size": (params["width"], params["height"]) if "width" in params else None,
        }  # fmt: skip
        if joins := take_joins(params):
            expected["joins"] = joins
        wanted.setdefault(item["key"], (item["media_key"], expected))
    files = store.versions(media_key for media_key, _ in wanted.values())
    recipes = {
        key: _result_key(key, files[media_key], expected, thresholds)
        for key, (media_key, expected) in wanted.items() if media_key in files
    }  # fmt: skip
    known = store.existing(recipes.values())
    report = {}
    for key, (media_key, expected) in wanted.items():
        if recipes.get(key) in known:
            report[key] = store.get_json(recipes[key])
            continue
        with store.local_path(media_key) as path:
            report[key] = check_clip(path, **expected, thresholds=thresholds).as_metadata()
        if key in recipes:
            store.put_json(recipes[key], report[key])
    return report


QUALITY_VERSION = 2  # bump when check_clip measures or judges differently: every clip is checked again


def _result_key(clip_key: str, file_version: str, expected: Mapping[str, object], thresholds: QualityThresholds) -> str:
    recipe = {"clip": clip_key, "file": file_version, "expected": expected, "thresholds": asdict(thresholds),
              "version": QUALITY_VERSION}  # fmt: skip
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True, default=list).encode()).hexdigest()[:32]
    return f"quality/quality-{digest}.json"

"""Drift: has a model's median of a clip metric moved far from its own recent days?

Each day × model row of `render_stats` holds the median of each metric over the day's clips. A metric
drifts when today's median differs from the median of the trailing days' medians by more than its
relative threshold (0.5 = ±50 %). With fewer than `min_days` trailing days there is no judgement.

Settings: `VIDGEN_DRIFT_<METRIC>` (e.g. `VIDGEN_DRIFT_MOTION=0.5`), `VIDGEN_DRIFT_DAYS` (trailing days,
default 14) and `VIDGEN_DRIFT_MIN_DAYS` (default 3).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import pandas as pd

from .compute import CLIP_METRICS

# Relative thresholds: wide where tiny or creative changes are normal (flicker, jumps), tighter for exposure.
DEFAULT_THRESHOLDS: dict[str, float] = {
    "motion": 0.5, "flicker": 1.0, "sharpness": 0.5, "luma_mean": 0.25, "luma_std": 0.35, "saturation": 0.35,
    "start_jump": 1.0, "join_jump": 1.0, "clip_score": 0.15,
}  # fmt: skip
DEFAULT_DAYS = 14
DEFAULT_MIN_DAYS = 3


class DriftSettingError(ValueError):
    """A `VIDGEN_DRIFT_*` setting that is not a usable number."""


@dataclass(frozen=True)
class DriftSettings:
    thresholds: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    days: int = DEFAULT_DAYS
    min_days: int = DEFAULT_MIN_DAYS

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> DriftSettings:
        """Settings from `VIDGEN_DRIFT_*`; a bad value raises `DriftSettingError` naming the variable."""
        thresholds = {name: _number(env, f"VIDGEN_DRIFT_{name.upper()}", default, float) for name, default in DEFAULT_THRESHOLDS.items()}
        days = _number(env, "VIDGEN_DRIFT_DAYS", DEFAULT_DAYS, int)
        min_days = _number(env, "VIDGEN_DRIFT_MIN_DAYS", DEFAULT_MIN_DAYS, int)
        if days < 1 or min_days < 1 or min_days > days:
            raise DriftSettingError(f"VIDGEN_DRIFT_MIN_DAYS ({min_days}) must be between 1 and VIDGEN_DRIFT_DAYS ({days})")
        return cls(thresholds, days, min_days)


def _number(env: Mapping[str, str], name: str, default, kind):
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        value = kind(text)
    except ValueError:
        raise DriftSettingError(f"{name}={text!r} is not a {'whole ' if kind is int else ''}number") from None
    if not math.isfinite(value) or value <= 0:
        raise DriftSettingError(f"{name}={text!r} must be above 0")
    return value


@dataclass(frozen=True)
class Drift:
    """One model's metric today against its trailing median."""

    model: str
    metric: str
    today: float
    baseline: float  # median of the trailing days' medians
    change: float  # (today - baseline) / |baseline|; inf when the baseline is 0 and today is not
    threshold: float
    days: int  # trailing days the baseline was taken over

    @property
    def drifted(self) -> bool:
        return abs(self.change) > self.threshold

    def describe(self) -> str:
        change = "from 0" if math.isinf(self.change) else f"{self.change:+.0%}"
        return (f"{self.metric} of {self.model}: {self.today:.4g} today vs {self.baseline:.4g} median of the "
                f"trailing {self.days} days ({change}, threshold ±{self.threshold:.0%})")  # fmt: skip


@dataclass
class DriftReport:
    judged: list[Drift] = field(default_factory=list)
    not_judged: list[str] = field(default_factory=list)  # why a model's metric was not compared

    @property
    def drifts(self) -> list[Drift]:
        return [drift for drift in self.judged if drift.drifted]


def find_drift(stats: pd.DataFrame, day: date, settings: DriftSettings = DriftSettings()) -> DriftReport:
    """Compare each clip model's metric medians on `day` with their trailing `settings.days` days.

    `stats` holds `render_stats` rows (`day`, `kind`, `model`, `<metric>_p50`) covering those days.
    """
    report = DriftReport()
    if stats.empty:
        return report
    clips = stats[stats["kind"] == "clip"]
    days = pd.to_datetime(clips["day"]).dt.date
    first = day - timedelta(days=settings.days)
    for model, today in clips[days == day].groupby("model", sort=True):
        trailing = clips[(clips["model"] == model) & (days >= first) & (days < day)]
        for metric in CLIP_METRICS:
            value, column = today[f"{metric}_p50"].iloc[0], f"{metric}_p50"
            if value is None or pd.isna(value):
                continue  # not measured today (e.g. no continuations): nothing to compare
            history = trailing[column].dropna().astype(float)
            if len(history) < settings.min_days:
                report.not_judged.append(f"{metric} of {model}: {len(history)} trailing day(s) with a value, "
                                         f"at least {settings.min_days} needed")  # fmt: skip
                continue
            baseline = float(history.median())
            change = (float(value) - baseline) / abs(baseline) if baseline else (0.0 if float(value) == 0 else math.inf)
            threshold = settings.thresholds.get(metric, DEFAULT_THRESHOLDS[metric])
            report.judged.append(Drift(model, metric, float(value), baseline, change, threshold, len(history)))
    return report

"""A small PNG for the UI: seconds per clip by model over recent days, and one day's time by phase."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping
from datetime import date, timedelta

import pandas as pd

SIZE_PX = (720, 260)  # width, height
DPI = 80


def stats_chart_png(history: pd.DataFrame, phases: Mapping[str, float], day: date, days: int = 14) -> bytes:
    """Left: p50 seconds per clip by model, one line per model over the `days` up to `day`.
    Right: the day's seconds by phase as one stacked bar. A few tens of kB at most.
    """
    import matplotlib

    matplotlib.use("Agg")  # no display: render to memory
    from matplotlib.dates import DateFormatter
    from matplotlib.figure import Figure

    day_label = day.isoformat()
    figure = Figure(figsize=(SIZE_PX[0] / DPI, SIZE_PX[1] / DPI), dpi=DPI)
    trend, split = figure.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    clips = history[history["kind"] == "clip"] if len(history) else history
    for model, rows in clips.groupby("model") if len(clips) else []:
        rows = rows.sort_values("day")
        trend.plot(pd.to_datetime(rows["day"]), rows["s_per_item_p50"].astype(float), marker="o", label=model)
    trend.set_title(f"seconds per clip (p50) by model, last {days} days", fontsize=9)
    # Half a day and a tenth of the height of air around the points, so none sits on the frame.
    half_day = pd.Timedelta(hours=12)
    trend.set_xlim(pd.Timestamp(day - timedelta(days=days - 1)) - half_day, pd.Timestamp(day) + half_day)
    highest = float(clips["s_per_item_p50"].astype(float).max()) if len(clips) else float("nan")
    trend.set_ylim(0, highest * 1.15 if highest > 0 else 1.0)
    trend.xaxis.set_major_formatter(DateFormatter("%m-%d"))
    trend.tick_params(labelsize=7)
    if len(clips):
        trend.legend(fontsize=7)
    left = 0.0
    for name, seconds in phases.items():
        split.barh([0], [seconds], left=left, label=f"{name} {seconds:.1f}s")
        left += seconds
    split.set_xlim(0, left * 1.05 if left > 0 else 1.0)
    split.set_title(f"{day_label}: seconds by phase", fontsize=9)
    split.set_yticks([])
    split.tick_params(labelsize=7)
    split.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def png_markdown(png: bytes, alt: str) -> str:
    """Markdown that renders the PNG inline in the Dagster UI (metadata has no image type)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"

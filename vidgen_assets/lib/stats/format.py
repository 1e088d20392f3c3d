"""The stats table as text: aligned for a terminal, Markdown for the UI, CSV or JSON for scripts."""

from __future__ import annotations

import math
from datetime import date, datetime

import pandas as pd

from ..video.metrics import CLIP_SCORE_UNAVAILABLE

# (column, heading) shown in the terminal and the UI; CSV and JSON carry every column.
SHOWN = (
    ("day", "day"), ("kind", "kind"), ("model", "model"), ("device", "device"), ("items", "items"),
    ("rendered", "rendered"), ("cache_hit_rate", "hit%"), ("s_per_item_p50", "p50 s"), ("s_per_item_p95", "p95 s"),
    ("denoise_s_p50", "denoise p50"), ("decode_encode_s_p50", "dec+enc p50"), ("steps_per_s", "steps/s"),
    ("peak_memory_gb", "peak GB"), ("cost_per_item_usd", "$/item"), ("cost_day_usd", "$/day"),
    ("queue_wait_p95_s", "queue p95 s"), ("run_wall_s", "wall s"),
)  # fmt: skip
# Each clip metric's median per day × model (clip rows only), a second table in the terminal.
METRICS_SHOWN = (
    ("day", "day"), ("model", "model"), ("motion_p50", "motion"), ("flicker_p50", "flicker"),
    ("sharpness_p50", "sharpness"), ("luma_mean_p50", "luma"), ("luma_std_p50", "luma std"),
    ("saturation_p50", "saturation"), ("start_jump_p50", "start jump"), ("join_jump_p50", "join jump"),
    ("clip_score_p50", "clip score"),
)  # fmt: skip
# The few that fit the Dagster UI's metadata pane; the warehouse table and `vidgen stats` hold the rest.
UI_SHOWN = (
    ("day", "day"), ("kind", "kind"), ("model", "model"), ("items", "items"), ("cache_hit_rate", "hit%"),
    ("s_per_item_p50", "p50 s"), ("s_per_item_p95", "p95 s"), ("cost_day_usd", "$/day"),
)  # fmt: skip


def _cell(column: str, value) -> str:
    if isinstance(value, datetime):  # pandas gives DATE columns back as midnight timestamps
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if column == "cache_hit_rate":
        return f"{100 * value:.0f}"
    if column.endswith("_usd"):
        return f"{value:.4f}"
    if isinstance(value, float):
        return f"{value:.3g}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _cells(stats: pd.DataFrame, shown=SHOWN) -> list[list[str]]:
    return [[_cell(c, row[c]) for c, _ in shown] for row in stats.to_dict("records")]


def aligned_table(stats: pd.DataFrame, shown=SHOWN) -> str:
    """A plain table of the `shown` (column, heading) pairs, one line per row, columns padded to their widest cell."""
    rows = [[heading for _, heading in shown], *_cells(stats, shown)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(shown))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def markdown_table(stats: pd.DataFrame, shown=SHOWN) -> str:
    """A Markdown table of the `shown` (column, heading) pairs, days as YYYY-MM-DD."""
    rows = [[heading for _, heading in shown], ["---"] * len(shown), *_cells(stats, shown)]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def metrics_table(stats: pd.DataFrame) -> str:
    """The clip metrics' medians per day × model ("-": not measured), and whether prompt alignment was;
    empty when no clip in `stats` was measured (days rendered before clips had metrics)."""
    clips = stats[stats["kind"] == "clip"]
    if clips.reindex(columns=[column for column, _ in METRICS_SHOWN[2:]]).isna().all().all():
        return ""
    lines = ["clip metrics (median per day and model):", aligned_table(clips, METRICS_SHOWN)]
    if clips["clip_score_p50"].isna().all():
        lines.append(f"clip score: {CLIP_SCORE_UNAVAILABLE}")
    return "\n".join(lines)


def as_csv(stats: pd.DataFrame) -> str:
    return stats.to_csv(index=False)


def as_json(stats: pd.DataFrame) -> str:
    # Days as YYYY-MM-DD, as in the table and CSV, not midnight timestamps.
    return stats.assign(day=[_cell("day", d) for d in stats["day"]]).to_json(orient="records", indent=1)

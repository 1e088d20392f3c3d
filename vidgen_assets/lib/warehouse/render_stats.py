"""The `render_stats` table (one row per day × kind × model) and the lineage records it is built from."""

from __future__ import annotations

from datetime import date

import pandas as pd

from .store import Warehouse

STATS_COLUMNS = (
    "day", "kind", "model", "model_id", "device", "run_id", "items", "rendered", "cache_hits", "cache_hit_rate",
    "s_per_item_mean", "s_per_item_p50", "s_per_item_p95", "denoise_s_p50", "denoise_s_p95",
    "decode_encode_s_p50", "decode_encode_s_p95", "steps_per_s", "peak_memory_gb", "render_s_total",
    "cost_per_item_usd", "cost_day_usd", "run_queue_s", "pool_wait_p50_s", "pool_wait_p95_s",
    "queue_wait_p95_s", "run_wall_s",
    # Medians of each clip's metrics (lib/video/metrics.py); NULL for keyframes and where none applied.
    "motion_p50", "flicker_p50", "sharpness_p50", "luma_mean_p50", "luma_std_p50", "saturation_p50",
    "start_jump_p50", "join_jump_p50", "clip_score_p50",
)  # fmt: skip
_TEXT_COLUMNS = ("kind", "model", "model_id", "device", "run_id")
_INTEGER_COLUMNS = ("items", "rendered", "cache_hits")


def lineage_records(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Every lineage record of the days `first`..`last`, oldest first; JSON columns stay text."""
    with warehouse.connect() as session:
        return session.frame("SELECT * FROM clips WHERE partition_date BETWEEN ? AND ? ORDER BY recorded_at", [first, last])


def save_day_stats(warehouse: Warehouse, day: date, stats: pd.DataFrame) -> int:
    """Replace the day's rows with `stats` in one transaction: a re-run of a day leaves one row per model."""
    frame = stats.reindex(columns=list(STATS_COLUMNS))
    # Plain Python values, NaN as NULL: what both engines' drivers take as list parameters.
    values = {column: [None if pd.isna(v) else v for v in frame[column].tolist()] for column in STATS_COLUMNS}
    unnested = ", ".join(f"unnest(CAST(${column} AS {_type(column)}[]))" for column in STATS_COLUMNS)
    with warehouse.connect() as session, session.transaction():
        session.execute("DELETE FROM render_stats WHERE day = ?", [day])
        if len(frame):
            session.execute(f"INSERT INTO render_stats ({', '.join(STATS_COLUMNS)}) SELECT {unnested}", values)
    return len(frame)


def _type(column: str) -> str:
    if column == "day":
        return "DATE"
    if column in _INTEGER_COLUMNS:
        return "INTEGER"
    return "VARCHAR" if column in _TEXT_COLUMNS else "DOUBLE PRECISION"


def read_stats(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Stored rows of the days `first`..`last`, by day, kind and model; `day` as dates."""
    with warehouse.connect() as session:
        frame = session.frame(
            f"SELECT {', '.join(STATS_COLUMNS)} FROM render_stats WHERE day BETWEEN ? AND ? ORDER BY day, kind, model",
            [first, last],
        )
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame

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
)  # fmt: skip


def lineage_records(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Every lineage record of the days `first`..`last`, oldest first; JSON columns stay text."""
    with warehouse.connect() as connection:
        return connection.execute(
            "SELECT * FROM clips WHERE partition_date BETWEEN ? AND ? ORDER BY recorded_at", [first, last]
        ).df()


def save_day_stats(warehouse: Warehouse, day: date, stats: pd.DataFrame) -> int:
    """Replace the day's rows with `stats` in one transaction: a re-run of a day leaves one row per model."""
    frame = stats.reindex(columns=list(STATS_COLUMNS))
    with warehouse.connect() as connection:
        connection.execute("BEGIN")
        connection.execute("DELETE FROM render_stats WHERE day = ?", [day])
        if len(frame):
            connection.register("day_stats", frame)
            columns = ", ".join(STATS_COLUMNS)
            connection.execute(f"INSERT INTO render_stats ({columns}) SELECT {columns} FROM day_stats")
            connection.unregister("day_stats")
        connection.execute("COMMIT")
    return len(frame)


def read_stats(warehouse: Warehouse, first: date, last: date) -> pd.DataFrame:
    """Stored rows of the days `first`..`last`, by day, kind and model; `day` as dates."""
    with warehouse.connect() as connection:
        frame = connection.execute(
            f"SELECT {', '.join(STATS_COLUMNS)} FROM render_stats WHERE day BETWEEN ? AND ? ORDER BY day, kind, model",
            [first, last],
        ).df()
    frame["day"] = pd.to_datetime(frame["day"]).dt.date
    return frame

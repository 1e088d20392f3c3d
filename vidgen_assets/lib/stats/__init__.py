"""Render statistics: per-day, per-model figures from the lineage records, and their charts."""

from .compute import RunTimings, day_stats, phase_seconds

__all__ = ["RunTimings", "day_stats", "phase_seconds"]

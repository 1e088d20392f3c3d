"""Bounded lists for log lines and metadata: the event log grows with shards, never with rows.

Per-row detail (every rejection, refusal or failing clip) stays in the warehouse tables and the readable
manifests; what Dagster stores shows the first few and counts the rest.
"""

from __future__ import annotations

from collections.abc import Iterable

SHOWN = 20  # entries a log or metadata list shows before it only counts


def shown_lines(lines: Iterable[str], *, limit: int = SHOWN, rest: str = "…and {count} more") -> list[str]:
    """The first `limit` lines, then one line for the rest (`rest` with `{count}` filled in)."""
    lines = list(lines)
    if len(lines) <= limit:
        return lines
    return lines[:limit] + [rest.format(count=len(lines) - limit)]


def shown_entries(entries: Iterable, *, limit: int = SHOWN) -> tuple[list, int]:
    """The first `limit` entries and how many were left out."""
    entries = list(entries)
    return entries[:limit], max(0, len(entries) - limit)

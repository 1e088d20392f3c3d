"""The event log of a day grows with its shards, not its rows: per-row detail stays in the warehouse and manifests."""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

from vidgen_assets.lib.bounded import SHOWN, shown_entries, shown_lines
from vidgen_assets_tests.conftest import TEST_DAY


def run_day_of(rows: int, day, monkeypatch) -> list[dg.EventLogEntry]:
    """A day of `rows` valid rows over two distinct (prompt, seed) pairs plus as many rejected rows, in two shards."""
    from vidgen_assets.runner import run_day
    from vidgen_assets_tests.test_end_to_end import load

    valid = [{"prompt_id": f"v{day:%d}-{n}", "scheduled_for": str(day), "prompt": f"a kite {day} {n % 2}", "seed": n % 2}
             for n in range(rows)]  # fmt: skip
    rejected = [{"prompt_id": f"x{day:%d}-{n}", "scheduled_for": str(day), "prompt": "a kite", "seed": "not a seed"}
                for n in range(rows)]  # fmt: skip
    load(valid + rejected)
    monkeypatch.setenv("VIDGEN_SHARD_SIZE", str(rows // 2))
    run_day(day)
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        return list(instance.all_logs(run.run_id))


def test_four_times_the_rows_and_rejections_store_about_the_same_events(vidgen_home, monkeypatch):
    # More rows than a log or metadata list shows (`SHOWN`), even in the small day.
    small = run_day_of(24, TEST_DAY - timedelta(days=1), monkeypatch)
    large = run_day_of(96, TEST_DAY, monkeypatch)
    assert len(large) == len(small)  # same shards, same steps: not one more event for 4× the rows
    small_bytes, large_bytes = (sum(len(dg.serialize_value(entry)) for entry in log) for log in (small, large))
    assert large_bytes < 1.05 * small_bytes, (small_bytes, large_bytes)
    # 96 rejections: the first few logged, then one line counting the rest.
    warnings = [e.user_message for e in large if e.level == 30 and "rejected" in e.user_message]
    assert len(warnings) == SHOWN + 1 and warnings[-1].startswith(f"…and {96 - SHOWN} more rejected rows")


def test_bounded_lists_show_the_first_entries_and_count_the_rest():
    assert shown_lines(["a", "b"], limit=2) == ["a", "b"]
    assert shown_lines(["a", "b", "c"], limit=2, rest="+{count}") == ["a", "b", "+1"]
    assert shown_entries(range(5), limit=3) == ([0, 1, 2], 2)
    assert shown_entries([], limit=3) == ([], 0)

"""A local shard (tiny image-to-video and text-to-video clips) interrupted at random moments while it
renders and encodes: each trial stops in time, leaves no partial file, and the next run finishes the shard
(`interrupt_trials.py local`, in a subprocess so a hang fails with every thread's stack)."""

from __future__ import annotations

import pytest

from vidgen_assets_tests.test_interrupts import run_trials

pytestmark = pytest.mark.slow


def test_a_local_shard_interrupted_while_rendering_and_encoding_stops_in_time_leaving_no_partial_clip(
    models_dir, tmp_path
):
    summary = run_trials("local", "--trials", "30", "--work", str(tmp_path), env={"VIDGEN_MODELS_DIR": str(models_dir)})
    assert summary["failures"] == 0 and summary["interrupted"] >= 15  # a few trials end before their signal
    assert summary["max_stop_s"] < 2.0

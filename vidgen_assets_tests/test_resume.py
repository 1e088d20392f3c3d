"""A videos step killed mid-day: re-executing from failure reuses every finished clip."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import psutil
import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.video import probe_video
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import daily_reel_job
from vidgen_assets_tests.conftest import TEST_DAY

pytestmark = pytest.mark.slow

CLIPS = 8
LAUNCH = f"""
import dagster as dg
from vidgen_assets.runner import daily_reel_job
with dg.DagsterInstance.get() as instance:
    dg.execute_job(dg.reconstructable(daily_reel_job), instance=instance,
                   tags={{"dagster/partition": "{TEST_DAY}"}},
                   # Retries off: the step's own retry would resume it; this test resumes by re-execution.
                   run_config={{"execution": {{"config": {{"max_concurrent": 1, "retries": {{"disabled": {{}}}}}}}}}})
"""


def finished_clips(media: Path) -> list[Path]:
    """Clips visible under their final names; in-progress writes are hidden temporary files."""
    return sorted(p for p in (media / "clips").glob("*.mp4") if not p.name.startswith("."))


def step_processes(run_process: psutil.Process) -> list[psutil.Process]:
    """The run's step processes: forked by its fork server, the run process's child."""
    return [
        c for c in run_process.children(recursive=True)
        if c.ppid() != run_process.pid and "forkserver" in " ".join(c.cmdline())
    ]  # fmt: skip


def test_killed_videos_step_resumes_without_rerendering_finished_clips(vidgen_home, monkeypatch):
    monkeypatch.setenv("VIDGEN_EXECUTOR", "multiprocess")
    rows = [{"prompt_id": f"k{n}", "scheduled_for": str(TEST_DAY), "prompt": f"wave {n}", "seed": n} for n in range(CLIPS)]
    import_rows(Warehouse(environment.warehouse_target()), rows, {"tiny"}, {"tiny"})
    media = Path(environment.media_uri())
    run = subprocess.Popen([sys.executable, "-c", LAUNCH], env=dict(os.environ))
    deadline = time.monotonic() + 300
    while len(finished_clips(media)) < 2 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    (videos_step,) = step_processes(psutil.Process(run.pid))
    videos_step.send_signal(signal.SIGKILL)
    assert run.wait(timeout=120) == 0  # the run process itself survives and records the failure
    before = finished_clips(media)
    assert 2 <= len(before) < CLIPS
    for clip in before:  # whatever is visible is complete
        assert probe_video(clip).frames == 8
    written_at = {clip: clip.stat().st_mtime_ns for clip in before}

    with dg.DagsterInstance.get() as instance:
        (failed,) = instance.get_runs()
        assert failed.status == dg.DagsterRunStatus.FAILURE
        result = dg.execute_job(
            dg.reconstructable(daily_reel_job),
            instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance),
            tags={"dagster/partition": str(TEST_DAY)},  # the UI copies the parent's tags; the API does not
        )
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("videos"))
    metadata = {k: v.value for k, v in event.asset_materialization.metadata.items()}
    assert metadata["cache_hits"] == len(before) and metadata["rendered"] == CLIPS - len(before)
    assert len(finished_clips(media)) == CLIPS
    assert {clip: clip.stat().st_mtime_ns for clip in before} == written_at  # reused, not rewritten

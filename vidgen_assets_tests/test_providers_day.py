"""Days on Replicate through the public CLI and a killed-and-resumed multiprocess run, against the fake
Replicate in its own process: every clip's task is created once, refusals stay out of the reel, keys stay
out of everything the platform writes."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import psutil
import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.day_lock import lock_path
from vidgen_assets.lib.generation import preset_names
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import daily_reel_job
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.test_cli import vidgen
from vidgen_assets_tests.test_resume import LAUNCH, step_processes

pytestmark = pytest.mark.slow

TOKEN = "r8_fake-secret-token-4f1c"


@pytest.fixture(scope="module")
def replicate_fake():
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        yield fake


@pytest.fixture
def fake(replicate_fake, monkeypatch):
    """The fake, reset, with its URL (and by default a token) in the environment the SDK reads."""
    replicate_fake.reset()
    monkeypatch.setenv("REPLICATE_BASE_URL", replicate_fake.base_url)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    return replicate_fake


def import_day(seeds, local_seeds=(), day=TEST_DAY) -> None:
    rows = [
        {"prompt_id": f"p{seed}", "scheduled_for": str(day), "prompt": f"a heron {seed}", "seed": seed,
         "video_model": None if seed in local_seeds else "replicate-svd-xt"}
        for seed in (*seeds, *local_seeds)
    ]  # fmt: skip
    stored, rejected = import_rows(
        Warehouse(environment.warehouse_target()), rows, preset_names("text-to-image"), preset_names("image-to-video")
    )
    assert (stored, rejected) == (len(rows), [])


def latest_metadata(asset: str) -> dict:
    with dg.DagsterInstance.get() as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
    return {k: v.value for k, v in event.asset_materialization.metadata.items()}


def files_containing(root: Path, secret: str) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_a_day_mixing_local_and_replicate_rows_renders_both_and_leaves_out_the_refused_clip(vidgen_home, fake):
    import_day(seeds=(11, 12, 13, 14, 15), local_seeds=(16,))
    fake.configure(processing_s=1.0, moderate_substring='"seed": 13,')
    result = vidgen("run", "--date", str(TEST_DAY))
    assert result.returncode == 0, result.stderr[-3000:]
    assert Path(result.stdout.strip().splitlines()[-1]).is_file()
    stats = fake.stats()
    assert stats["creates"] == 5 and set(stats["creates_by_input"].values()) == {1}

    videos, reel = latest_metadata("videos"), latest_metadata("reel")
    assert videos["cost_usd_replicate"] > 0
    assert [(r["prompt_id"], r["code"]) for r in videos["provider_refusals"]] == [("p13", "prediction_failed")]
    assert (reel["clips_included"], reel["clips_excluded"]) == (5, 1)
    with duckdb.connect(str(vidgen_home / "warehouse.duckdb"), read_only=True) as connection:
        clips = connection.execute("SELECT prompt_id, models, timings FROM clips WHERE kind = 'clip' ORDER BY prompt_id").fetchall()
    by_prompt = {prompt_id: (json.loads(models)["video"], json.loads(timings)) for prompt_id, models, timings in clips}
    hosted, timings = by_prompt["p11"]
    assert hosted["provider"] == "replicate" and hosted["task_id"] and timings["cost_usd"] > 0
    assert timings["processing_s"] > 0 and timings["queue_s"] >= 0 and timings["finished_at"] >= timings["submitted_at"]
    assert by_prompt["p13"][0]["failure"]["code"] == "prediction_failed"
    assert "provider" not in by_prompt["p16"][0]  # the local row rendered on the tiny model

    again = vidgen("run", "--date", str(TEST_DAY))
    assert again.returncode == 0, again.stderr[-3000:]
    assert fake.stats()["creates"] == 5  # clips reused, the refusal not resubmitted
    assert TOKEN not in result.stdout + result.stderr + again.stdout + again.stderr
    assert files_containing(vidgen_home, TOKEN) == []  # nor in the event log, lineage, manifests or task records


def test_a_missing_key_fails_the_step_at_once_naming_the_variable(vidgen_home, fake, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    import_day(seeds=(21, 22))
    result = vidgen("run", "--date", str(TEST_DAY))
    assert result.returncode != 0
    assert "REPLICATE_API_TOKEN is not set" in result.stdout + result.stderr
    assert fake.stats()["creates"] == 0


def test_out_of_credits_stops_the_step_with_the_providers_words(vidgen_home, fake, monkeypatch):
    monkeypatch.setenv("VIDGEN_VIDEO_MODEL", "replicate-svd-xt")  # the default model, rows naming none
    import_day(seeds=(), local_seeds=(31, 32, 33))
    fake.configure(out_of_credits=True)
    result = vidgen("run", "--date", str(TEST_DAY))
    assert result.returncode != 0
    assert "Billing required" in result.stdout + result.stderr
    assert fake.stats()["creates"] == 0


def recorded_task_ids(media: Path) -> list[str]:
    records = [json.loads(p.read_text()) for p in (media / "tasks").glob("*.json")] if (media / "tasks").is_dir() else []
    return [r["task_id"] for r in records if r.get("task_id")]


def test_a_killed_step_resumes_polling_its_tasks_each_created_exactly_once(vidgen_home, fake, monkeypatch):
    monkeypatch.setenv("VIDGEN_EXECUTOR", "multiprocess")
    import_day(seeds=range(41, 45))
    fake.configure(processing_s=8.0)
    media = Path(environment.media_uri())
    run = subprocess.Popen([sys.executable, "-c", LAUNCH], env=dict(os.environ))
    deadline = time.monotonic() + 300
    while len(recorded_task_ids(media)) < 4 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    (replicate_step,) = step_processes(psutil.Process(run.pid))  # tasks in flight at the provider
    replicate_step.send_signal(signal.SIGKILL)
    assert run.wait(timeout=120) == 0
    assert fake.stats()["creates"] == 4 and not list((media / "clips").glob("*.mp4"))

    with dg.DagsterInstance.get() as instance:
        (failed,) = instance.get_runs()
        assert failed.status == dg.DagsterRunStatus.FAILURE
        result = dg.execute_job(
            dg.reconstructable(daily_reel_job), instance=instance,
            reexecution_options=dg.ReexecutionOptions.from_failure(failed.run_id, instance),
            tags={"dagster/partition": str(TEST_DAY)},
        )  # fmt: skip
        assert result.success
    stats = fake.stats()
    assert stats["creates"] == 4 and set(stats["creates_by_input"].values()) == {1}  # polled, not re-created
    assert len(list((media / "clips").glob("clip-*.mp4"))) == 4


IN_PROCESS = f"""
import dagster as dg
from vidgen_assets.definitions import build_definitions
with dg.DagsterInstance.get() as instance:
    job = build_definitions().resolve_job_def("daily_reel_job")
    job.execute_in_process(partition_key="{TEST_DAY}", instance=instance, raise_on_error=False)
"""


def interrupt_with_tasks_in_flight(media: Path, *, cancel_run: bool) -> subprocess.Popen:
    """Run the day in process (its main thread, like `vidgen run`), wait until its 3 tasks are at the
    provider, then SIGINT it: what Dagster's termination does after marking the run canceling, or what a
    preempted step gets."""
    run = subprocess.Popen([sys.executable, "-c", IN_PROCESS], env=dict(os.environ))
    deadline = time.monotonic() + 300
    while len(recorded_task_ids(media)) < 3 and run.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    if cancel_run:
        with dg.DagsterInstance.get() as instance:
            (started,) = instance.get_runs()
            instance.report_run_canceling(started)
    run.send_signal(signal.SIGINT)
    return run


def test_a_cancelled_run_cancels_its_open_provider_tasks(vidgen_home, fake):
    import_day(seeds=range(51, 54))
    fake.configure(processing_s=120.0)
    media = Path(environment.media_uri())
    with dg.DagsterInstance.get() as instance:  # a pool limit, so the step holds a slot while it renders
        instance.event_log_storage.set_concurrency_slots("api_replicate", 2)
    run = interrupt_with_tasks_in_flight(media, cancel_run=True)
    interrupted = time.monotonic()
    run.wait(timeout=120)
    # The bound the providers README states: the step within its 10 s grace, the run's own ending after it.
    assert time.monotonic() - interrupted < 30
    assert fake.stats()["cancels"] == 3 and fake.stats()["creates"] == 3  # cancelled, and not retried
    assert {json.loads(p.read_text())["state"] for p in (media / "tasks").glob("*.json")} == {"cancelled"}
    lock = lock_path(environment.dagster_home() / "locks", str(TEST_DAY))
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the day is free for the next run
    with dg.DagsterInstance.get() as instance:
        assert instance.event_log_storage.get_concurrency_info("api_replicate").claimed_slots == []


def test_an_interrupted_step_is_retried_polling_its_tasks(vidgen_home, fake):
    import_day(seeds=range(61, 64))
    fake.configure(processing_s=15.0)
    media = Path(environment.media_uri())
    interrupt_with_tasks_in_flight(media, cancel_run=False).wait(timeout=240)
    stats = fake.stats()
    assert (stats["creates"], stats["cancels"]) == (3, 0)  # a preempted step does not throw its tasks away
    assert len(list((media / "clips").glob("clip-*.mp4"))) == 3

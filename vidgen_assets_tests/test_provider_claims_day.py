"""One provider task per clip whoever launches, through the public CLI against the fake Replicate in its
own process: two days run at once sharing clips under a long `Retry-After`, a killed claimer's lease
taken over, a task the provider forgot (404), a refused clip shared by two rows, malformed keys."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import preset_names
from vidgen_assets.lib.generation.providers.http_errors import secret_forms
from vidgen_assets.lib.generation.providers.registry import KEY_VARIABLES
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, TEST_DAY, wait_for
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.test_cli import vidgen
from vidgen_assets_tests.test_providers_day import TOKEN, fake, latest_metadata, replicate_fake  # noqa: F401

pytestmark = pytest.mark.slow

DAY_2 = TEST_DAY + timedelta(days=1)


@pytest.fixture
def runway(monkeypatch):
    """The fake Runway, whose tasks can't be listed: only the claim keeps a second run from creating."""
    with running_fake("vidgen_assets_tests.fakes.runway") as fake:
        monkeypatch.setenv("RUNWAYML_API_SECRET", "key_runway-claims-test")
        monkeypatch.setenv("RUNWAYML_BASE_URL", fake.base_url)
        yield fake


def add_rows(store: Warehouse, rows: list[tuple[str, object, int]], **options) -> None:
    """(prompt_id, day, seed) rows on Replicate (or `options`' model); rows with the same seed share a prompt,
    hence a clip key."""
    specs = [{"prompt_id": pid, "scheduled_for": str(day), "prompt": f"a heron {seed}", "seed": seed,
              "video_model": "replicate-svd-xt", **options} for pid, day, seed in rows]  # fmt: skip
    stored, rejected = import_rows(store, specs, preset_names("text-to-image"), preset_names("image-to-video"))
    assert (stored, rejected) == (len(rows), [])


def task_records(media: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in (media / "tasks").glob("*.json")] if (media / "tasks").is_dir() else []


def start_run(day, log: Path) -> subprocess.Popen:
    """`vidgen run --date day` in its own process group (a kill takes its steps too), output to `log`."""
    with log.open("w") as out:
        return subprocess.Popen([sys.executable, "-m", "vidgen_assets.cli", "run", "--date", str(day)], stdout=out,
                                stderr=subprocess.STDOUT, env=dict(os.environ), start_new_session=True)  # fmt: skip


def claim_rows(store: Warehouse) -> list[dict]:
    with store.connect() as session:
        return session.rows("SELECT * FROM provider_claims")


@BOTH_WAREHOUSES
def test_two_days_run_at_once_sharing_clips_under_a_long_retry_after_create_each_clip_once(store, runway, tmp_path):
    fake = runway  # 2 s clips: the shortest Runway makes
    add_rows(store, [("d1-a", TEST_DAY, 1), ("d1-b", TEST_DAY, 2), ("d1-only", TEST_DAY, 11),
                     ("d2-a", DAY_2, 1), ("d2-b", DAY_2, 2), ("d2-only", DAY_2, 21)],
             video_model="runway-gen4-turbo", num_frames=48)  # fmt: skip
    media = Path(environment.media_uri())
    fake.configure(processing_s=0.5, throttle_next=10_000, retry_after_s=3)  # every create: 429, Retry-After 3
    first = start_run(TEST_DAY, tmp_path / "first.log")
    wait_for(lambda: len(task_records(media)) >= 3, 240, "the first day's three intents (its creates throttled)")
    second = start_run(DAY_2, tmp_path / "second.log")
    # The second day's own clip reaches its create: its shared clips are at their claims, held by the first run.
    wait_for(lambda: len(task_records(media)) >= 4 or second.poll() is not None, 240, "the second day's own intent")
    wait_for(lambda: fake.stats()["throttled"] >= 6, 60, "both runs still waiting out Retry-After")
    fake.configure(throttle_next=0)
    assert first.wait(timeout=300) == 0, (tmp_path / "first.log").read_text()[-3000:]
    assert second.wait(timeout=300) == 0, (tmp_path / "second.log").read_text()[-3000:]
    stats = fake.stats()
    assert stats["creates"] == 4 and sorted(stats["creates_by_input"].values()) == [1, 1, 1, 1], (stats, task_records(media))
    assert {r["state"] for r in task_records(media)} == {"succeeded"} and len(task_records(media)) == 4
    assert claim_rows(store) == []  # every claim released once its task id was recorded


def test_a_killed_claimers_lease_expires_and_the_next_run_takes_over_without_a_second_create(
    vidgen_home, store, fake, tmp_path, monkeypatch
):  # fmt: skip
    monkeypatch.setenv("VIDGEN_CLAIM_LEASE_S", "3")
    add_rows(store, [("k1", TEST_DAY, 31), ("k2", TEST_DAY, 32)])
    media = Path(environment.media_uri())
    fake.configure(processing_s=0.5, throttle_next=10_000, retry_after_s=30)
    killed = start_run(TEST_DAY, tmp_path / "killed.log")
    wait_for(lambda: len(task_records(media)) >= 2 and fake.stats()["throttled"] >= 2, 240, "both creates throttled")
    os.killpg(killed.pid, signal.SIGKILL)  # inside its Retry-After wait, holding both claims
    killed.wait(timeout=60)
    assert {row["clip_key"] for row in claim_rows(store)} == {r["clip_key"] for r in task_records(media)}
    fake.configure(throttle_next=0)
    result = vidgen("run", "--date", str(TEST_DAY))
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    stats = fake.stats()
    assert stats["creates"] == 2 and sorted(stats["creates_by_input"].values()) == [1, 1]
    assert claim_rows(store) == []


def test_a_task_the_provider_no_longer_knows_is_replaced_and_shown_as_a_second_attempt(vidgen_home, store, fake):
    add_rows(store, [("g1", TEST_DAY, 41), ("g2", TEST_DAY, 42)])
    fake.configure(processing_s=0.3)
    assert vidgen("run", "--date", str(TEST_DAY)).returncode == 0
    media = Path(environment.media_uri())
    for clip in (media / "clips").glob("clip-*.mp4"):
        clip.unlink()  # the clips must be fetched again from their recorded tasks...
    fake.purge()  # ...which the provider has forgotten: 404 on every poll
    for attempt in range(2):  # and the day does not fail on this run or any later one
        result = vidgen("run", "--date", str(TEST_DAY))
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert fake.stats()["creates"] == 4  # one new task per forgotten one, once
    with store.connect() as session:
        models = [json.loads(r["models"])["video"] for r in session.rows(
            "SELECT models FROM clips WHERE kind = 'clip' AND prompt_id = 'g1' AND NOT cache_hit")]  # fmt: skip
    (replaced,) = [m for m in models if m.get("previous_tasks")]
    assert replaced["creates"] == 2 and "no longer knows task" in replaced["previous_tasks"][0]["reason"]
    assert replaced["task_id"] != replaced["previous_tasks"][0]["task_id"]


def test_a_refused_clip_shared_by_two_rows_refuses_both_and_does_not_stop_the_reel(vidgen_home, store, fake):
    add_rows(store, [("r1", TEST_DAY, 51), ("r2", TEST_DAY, 51), ("r3", TEST_DAY, 52), ("r4", TEST_DAY, 53)])
    fake.configure(processing_s=0.3, moderate_substring='"seed": 51,')
    for attempt in range(2):  # no crash on a later run either
        result = vidgen("run", "--date", str(TEST_DAY))
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert fake.stats()["creates"] == 3
    videos = latest_metadata("videos")
    # One refused clip of three is 33 % > VIDGEN_MAX_FAILED_CLIP_SHARE's 20 %: refusals are counted apart.
    assert sorted(r["prompt_id"] for r in videos["provider_refusals"]) == ["r1", "r2"] and videos["refused"] == 2
    assert latest_metadata("reel")["clips_included"] == 2
    assert "refused 2" in result.stdout
    with store.connect() as session:
        rows = session.rows("SELECT prompt_id, models FROM clips WHERE kind = 'clip' AND prompt_id IN ('r1', 'r2')")
    assert {r["prompt_id"]: json.loads(r["models"])["video"]["failure"]["code"] for r in rows} == {
        "r1": "prediction_failed", "r2": "prediction_failed"}  # fmt: skip


# Every provider's malformed keys (each shape) are refused in test_provider_claims.py; one whole run shows the
# shared path: the step stops, and no form of the key reaches any file.
def test_a_malformed_key_stops_the_run_naming_the_variable_and_no_form_of_it_is_written(vidgen_home, store, fake,
                                                                                        monkeypatch):  # fmt: skip
    provider, key = "replicate", f"{TOKEN}\n"
    monkeypatch.setenv(KEY_VARIABLES[provider], key)
    monkeypatch.setenv("VIDGEN_VIDEO_MODEL", "replicate-svd-xt")
    stored, _ = import_rows(store, [{"prompt_id": "m1", "scheduled_for": str(TEST_DAY), "prompt": "a heron", "seed": 1}],
                            preset_names("text-to-image"), preset_names("image-to-video"))  # fmt: skip
    assert stored == 1
    result = vidgen("run", "--date", str(TEST_DAY))
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"{KEY_VARIABLES[provider]} is malformed" in output
    assert fake.stats()["creates"] == 0 and fake.stats()["polls"] == 0
    forms = [f.encode() for f in secret_forms(key)]
    assert not [f for f in forms if f.decode() in output]
    written = [p for p in vidgen_home.rglob("*") if p.is_file() and any(f in p.read_bytes() for f in forms)]
    assert written == []  # VIDGEN_HOME holds DAGSTER_HOME: event log, step outputs, manifests, records, lineage

"""Faults injected on purpose: out-of-memory, permanent errors, hostile rows, a broken setup."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
import threading
from pathlib import Path

import dagster as dg
import duckdb
import numpy as np
import pytest
import torch
from PIL import Image

from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib import environment
from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
from vidgen_assets.lib.generation.render import render_clip_shard, render_keyframe_shard
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.video import probe_video
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import TEST_DAY, wait_for

ROWS = [{"prompt_id": f"o{n}", "prompt": f"a storm {n}", "seed": n, "negative_prompt": ""} for n in range(4)]


class OutOfMemoryAbove:
    """Wraps a real pipeline; calls bigger than `limit` fail the way CUDA does."""

    def __init__(self, pipeline, limit: int):
        self.pipeline, self.limit, self.failures = pipeline, limit, 0

    def __call__(self, prompt, **kwargs):
        if len(prompt) > self.limit:
            self.failures += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return self.pipeline(prompt=prompt, **kwargs)


def test_out_of_memory_retries_keyframes_in_smaller_batches_with_the_same_pixels(models_dir, tmp_path):
    pipeline = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    flaky = OutOfMemoryAbove(pipeline, limit=1)
    lines = []
    stores = {name: LocalMediaStore(tmp_path / name) for name in ("flaky", "plain")}
    for name, get in (("flaky", lambda *_: flaky), ("plain", lambda *_: pipeline)):
        items = plan_keyframes(ROWS, "tiny", "tiny")
        render_keyframe_shard(items, stores[name], get, StepProfile(total=4), batch_size=4, report=lines.append)
    assert flaky.failures == 2 and any("batches of 1" in line for line in lines)
    for item in plan_keyframes(ROWS, "tiny", "tiny"):
        with stores["flaky"].local_path(item["media_key"]) as a, stores["plain"].local_path(item["media_key"]) as b:
            np.testing.assert_array_equal(np.asarray(Image.open(a)), np.asarray(Image.open(b)))


def test_out_of_memory_while_decoding_retries_with_a_smaller_chunk(models_dir, tmp_path):
    store = LocalMediaStore(tmp_path)
    t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir)
    i2v = PIPELINES.get(get_preset("tiny", "image-to-video"), models_dir)
    keyframes = render_keyframe_shard(plan_keyframes(ROWS[:1], "tiny", "tiny"), store, lambda *_: t2i, StepProfile(total=1))
    decode = i2v.vae.decode

    def decode_small_chunks_only(latents, **kwargs):
        if latents.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory")
        return decode(latents, **kwargs)

    (planned,) = plan_clips(ROWS[:1], keyframes, "tiny")
    i2v.vae.decode = decode_small_chunks_only
    try:
        (clip,) = render_clip_shard(plan_clips(ROWS[:1], keyframes, "tiny"), store, lambda *_: i2v, StepProfile(total=1))
        # The next run plans the original chunk again, runs out of memory again, and finds the retried clip.
        (again,) = render_clip_shard(plan_clips(ROWS[:1], keyframes, "tiny"), store, lambda *_: i2v, StepProfile(total=1))
    finally:
        del i2v.vae.decode  # back to the class's own method
    assert clip["decode_chunk_size_used"] == 2 and clip["frames"] == 8
    # Stored under the key of what it rendered (SVD's decoded pixels depend on the chunk), not the planned one.
    assert clip["key"] != planned["key"] and clip["params"]["decode_chunk_size"] == 2
    assert not store.exists(planned["media_key"]) and probe_video(store.uri(clip["media_key"])).frames == 8
    assert again["cache_hit"] and again["key"] == clip["key"]


def test_missing_model_fails_at_once_without_retries(vidgen_home, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets.lib.warehouse.importer import import_rows

    import_rows(Warehouse(environment.warehouse_target()),
                [{"prompt_id": "m", "scheduled_for": str(TEST_DAY), "prompt": "x", "keyframe_model": "sdxl-turbo"}],
                {"sdxl-turbo"}, {"tiny"})  # fmt: skip
    job = build_definitions().resolve_job_def("daily_reel_job")
    with dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(partition_key=str(TEST_DAY), instance=instance, raise_on_error=False)
    assert not result.success
    failures = [e for e in result.all_events if e.is_step_failure]
    retries = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
    assert len(failures) == 1 and not retries
    assert "stabilityai/sdxl-turbo" in failures[0].step_failure_data.error.message


def hostile_rows() -> list[dict]:
    day = str(TEST_DAY)
    bad = [
        {"prompt": ""}, {"prompt": "   \t  "}, {"prompt": "x" * 100_000}, {"prompt": "bell\x07"}, {"prompt": "nul\x00l"},
        {"prompt": "esc\x1b[31m"}, {"prompt": "lone \udcff surrogate"}, {"seed": "-5"}, {"seed": str(2**64)},
        {"seed": "NaN"}, {"seed": "1e3x"}, {"seed": "3.5"}, {"keyframe_model": "midjourney"},
        {"video_model": "sora"}, {"motion_bucket_ids": "256"}, {"motion_bucket_ids": "-1"},
        {"motion_bucket_ids": "1;2;3;4;5;6;7;8;9"}, {"motion_bucket_ids": "a;b"}, {"num_frames": "0"},
        {"num_frames": "999"}, {"num_frames": "15"}, {"fps": "0"}, {"fps": "NaN"}, {"scheduled_for": ""},
        {"scheduled_for": "2026-02-30"}, {"scheduled_for": "9999-12-31"}, {"scheduled_for": "yesterday"},
        {"prompt_id": ""}, {"prompt_id": "id" * 100}, {"width": "63"}, {"width": "100000"},
        {"noise_aug_strength": "inf"}, {"min_guidance_scale": "5", "max_guidance_scale": "1"},
    ]  # fmt: skip
    rows = [{"prompt_id": f"bad{n:02d}", "scheduled_for": day, "prompt": "fine", "seed": "1", **fields}
            for n, fields in enumerate(bad)]  # fmt: skip
    good = [
        {"prompt_id": "good-sql", "scheduled_for": day, "prompt": "'); DROP TABLE prompts; --", "seed": "1"},
        {"prompt_id": "good-emoji", "scheduled_for": day, "prompt": "🦊 fox, مرحبا بالعالم, שלום", "seed": "2"},
        {"prompt_id": "good-big-seed", "scheduled_for": day, "prompt": "a comet", "seed": str(2**63 - 1)},
    ]
    duplicate = {**good[0], "prompt": "a different prompt under the same id"}
    return good + rows + [duplicate]


def test_hostile_rows_are_quarantined_and_the_good_rows_render(vidgen_home, tmp_path):
    rows = hostile_rows()
    path = tmp_path / "hostile.csv"
    fields = sorted({key for row in rows for key in row})
    fields.remove("prompt_id"), fields.insert(0, "prompt_id")
    with path.open("w", newline="", encoding="utf-8", errors="surrogateescape") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    result = subprocess.run([sys.executable, "-m", "vidgen_assets.cli", "prompts", "import", str(path)],
                            capture_output=True, text=True, env=dict(os.environ))  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    with duckdb.connect(environment.warehouse_target()) as connection:
        stored = sorted(r[0] for r in connection.execute("SELECT prompt_id FROM prompts").fetchall())
        reasons = connection.execute("SELECT prompt_id, reason FROM prompt_rejections").fetchall()
        tables = sorted(r[0] for r in connection.execute("SELECT table_name FROM information_schema.tables").fetchall())
    assert stored == ["good-big-seed", "good-emoji", "good-sql"]
    assert len(reasons) == len(rows) - 3 >= 30 and all(reason for _, reason in reasons)
    assert tables == ["clips", "day_renders", "prompt_rejections", "prompts", "provider_claims", "render_stats",
                      "schema_migrations", "spend", "theme_rejections", "themes"]  # fmt: skip
    reel = probe_video(run_day(TEST_DAY))
    assert reel.frames == 3 * 8


def doctor(**env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vidgen_assets.cli", "doctor"], capture_output=True, text=True,
                          env={**os.environ, **env})  # fmt: skip


def test_doctor_passes_on_the_default_setup(vidgen_home):
    result = doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "warehouse" in result.stdout and "PyAV codecs" in result.stdout and result.stdout.strip().endswith("ready")


@pytest.mark.parametrize(
    ("env", "failing"),
    [({"VIDGEN_WAREHOUSE": "/proc/no-such-dir/w.duckdb"}, "warehouse"),
     ({"VIDGEN_VIDEO_MODEL": "svd-xt", "HF_HUB_OFFLINE": "1"}, "model image-to-video/svd-xt")],
)  # fmt: skip
def test_doctor_exits_non_zero_when_something_required_is_missing(vidgen_home, tmp_path, env, failing):
    result = doctor(HF_HOME=str(tmp_path / "hf"), **env)
    assert result.returncode == 1 and f"not ready: {failing}" in result.stderr


def test_two_runs_of_the_same_day_take_turns(vidgen_home):
    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows
    from vidgen_assets.runner import one_writer_per_day, use_dagster_home

    import_rows(Warehouse(environment.warehouse_target()), demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    use_dagster_home()
    command = [sys.executable, "-m", "vidgen_assets.cli", "run", "--date", str(TEST_DAY)]
    outputs: list[list[str]] = [[], []]
    # The test holds the day first, so both launches must queue behind it, whatever the machine's speed.
    with one_writer_per_day(TEST_DAY, on_wait=lambda _: None):
        runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in outputs]
        readers = [threading.Thread(target=lambda r=r, o=o: o.extend(r.stdout), daemon=True) for r, o in zip(runs, outputs)]
        for reader in readers:
            reader.start()
        wait_for(lambda: all(any("another run of" in line for line in o) for o in outputs), 120, "both runs to wait")
    for run, reader in zip(runs, readers):
        assert run.wait(timeout=300) == 0
        reader.join(timeout=10)
    assert outputs[0][-1] == outputs[1][-1]  # the same reel
    assert probe_video(outputs[0][-1].strip()).frames == 2 * 8
    with dg.DagsterInstance.get() as instance:
        first, second = sorted(instance.get_run_records(), key=lambda r: r.start_time)
    assert first.end_time <= second.start_time  # never both at once


def test_the_local_instance_config_is_valid(vidgen_home):
    from vidgen_assets.lib.k8s import validate_instance_yaml
    from vidgen_assets.runner import use_dagster_home

    config = validate_instance_yaml(Path(use_dagster_home()) / "dagster.yaml")
    (limit,) = config["concurrency"]["runs"]["tag_concurrency_limits"]
    assert limit["key"] == "dagster/partition" and limit["limit"] == 1

"""A day of many rows: cache lookups, repeated keys, progress lines, quality results, manifests, shard sizes.

Behaviour only (requests, renders, decodes, lines counted); the speed figures are in benchmarks/bench_scale.py.
"""

from __future__ import annotations

import threading

import dagster as dg
import numpy as np
import pytest

from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation.plan import plan_keyframes
from vidgen_assets.lib.generation.render import render_keyframe_shard
from vidgen_assets.lib.generation.profile import PROGRESS_LINES, StepProfile
from vidgen_assets.lib.generation.sharding import START_UP_SHARE, shard_size, start_up_share
from vidgen_assets.lib.storage import LocalMediaStore, S3MediaStore
from vidgen_assets.lib.storage import s3 as s3_module
from vidgen_assets.lib.storage.manifests import PART_RECORDS, read_manifest, write_manifest
from vidgen_assets.lib.video import encode_frames, quality
from vidgen_assets.lib.video.quality import check_day_clips
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401
from vidgen_assets_tests.test_video_lib import write_clip


def rows(count: int, distinct: int) -> list[dict]:
    return [{"prompt_id": f"r{n:04d}", "prompt": f"scene {n % distinct}", "seed": n % distinct, "negative_prompt": ""}
            for n in range(count)]  # fmt: skip


class CountingRenders:
    """The real tiny text-to-image pipeline, counting the images it makes."""

    def __init__(self, pipeline):
        self.pipeline, self.images = pipeline, 0

    def __call__(self, prompt, **kwargs):
        self.images += len(prompt)
        return self.pipeline(prompt=prompt, **kwargs)


def count_requests(client) -> dict:
    """HEAD, GET and LIST calls the client makes, and the most HEADs in flight at once."""
    counts, lock = {"HeadObject": 0, "GetObject": 0, "ListObjectsV2": 0, "in_flight": 0, "max_in_flight": 0}, threading.Lock()

    def before(event_name, **_):
        with lock:
            operation = event_name.rsplit(".", 1)[-1]
            counts[operation] = counts.get(operation, 0) + 1
            if operation == "HeadObject":
                counts["in_flight"] += 1
                counts["max_in_flight"] = max(counts["max_in_flight"], counts["in_flight"])

    def after(event_name, **_):
        if event_name.endswith("HeadObject"):
            with lock:
                counts["in_flight"] -= 1

    client.meta.events.register("before-call.s3", before)
    client.meta.events.register("after-call.s3", after)
    return counts


def test_s3_cache_lookup_asks_once_per_distinct_key_a_few_at_a_time(s3_bucket, tmp_path):  # noqa: F811
    client, bucket = s3_bucket
    store = S3MediaStore(bucket, "day", client, tmp_path / "cache")
    present = [f"keyframes/keyframe-{n}.png" for n in range(5)]
    for key in present:
        with store.writing(key) as path:
            path.write_bytes(b"png")
    wanted = [f"keyframes/keyframe-{n}.png" for n in range(30)] * 4  # 120 items, 30 distinct keys
    counts = count_requests(client)
    assert store.existing(wanted) == set(present)
    assert counts["HeadObject"] == 30 and counts["GetObject"] == counts["ListObjectsV2"] == 0
    assert counts["max_in_flight"] <= s3_module.LOOKUP_THREADS


def test_a_cached_shard_on_s3_costs_one_head_per_distinct_keyframe(s3_bucket, tmp_path):  # noqa: F811
    client, bucket = s3_bucket
    store = S3MediaStore(bucket, "day", client, tmp_path / "cache")
    items = plan_keyframes(rows(200, 4), "tiny", "tiny")
    for key in {item["media_key"] for item in items}:
        with store.writing(key) as path:
            path.write_bytes(b"png")
    counts = count_requests(client)

    def no_pipeline(*_):
        raise AssertionError("every keyframe exists: nothing may load a model")

    done = render_keyframe_shard(items, store, no_pipeline, StepProfile(total=len(items)))
    assert all(item["cache_hit"] for item in done) and counts["HeadObject"] == 4


def test_a_shard_renders_a_repeated_key_once_and_logs_a_bounded_number_of_lines(models_dir, tmp_path):
    pipeline = CountingRenders(PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir))
    items, lines = plan_keyframes(rows(60, 30), "tiny", "tiny"), []
    done = render_keyframe_shard(items, LocalMediaStore(tmp_path), lambda *_: pipeline, StepProfile(total=len(items)),
                                 report=lines.append)  # fmt: skip
    assert pipeline.images == 30
    assert [item["cache_hit"] for item in done] == [False] * 30 + [True] * 30  # the repeats reuse the first
    assert len({item["uri"] for item in done}) == 30
    # Progress lines grow with the shard's twentieths, not with its items: 20 lines for 30 images.
    assert len(lines) == PROGRESS_LINES and lines[-1].startswith("keyframe r0029: 30/30 ")


def test_progress_lines_per_step_are_bounded_and_end_with_the_last_item():
    for total in (5, 200, 5000):
        profile = StepProfile(total=total)
        lines = [line for line in (profile.add(0.01) for _ in range(total)) if line]
        assert len(lines) == min(total, PROGRESS_LINES) and lines[-1].startswith(f"{total}/{total} ")


def clip_items(store, keys: list[str], repeats: int) -> list[dict]:
    for key in keys:
        with store.writing(f"clips/{key}.mp4") as path:
            write_clip(path, 8, fps=8)
    params = {"num_frames": 8, "fps": 8, "width": 64, "height": 64}
    return [{"key": key, "media_key": f"clips/{key}.mp4", "params": params} for key in keys for _ in range(repeats)]


def test_the_quality_check_decodes_each_clip_once_and_again_only_when_its_file_changes(tmp_path, monkeypatch):
    store = LocalMediaStore(tmp_path)
    items = clip_items(store, ["clip-a", "clip-b"], repeats=50)
    decoded = []
    real_check = quality.check_clip
    monkeypatch.setattr(quality, "check_clip", lambda path, **kwargs: decoded.append(path) or real_check(path, **kwargs))
    first = check_day_clips(items, store)
    assert len(decoded) == 2 and set(first) == {"clip-a", "clip-b"} and all(r["passed"] for r in first.values())
    assert check_day_clips(items, store) == first and len(decoded) == 2  # a re-run decodes nothing
    # A clip replaced in place (a bad disk, a hand edit) is a changed file: it is decoded and judged again.
    encode_frames(store.uri("clips/clip-a.mp4"), [np.zeros((64, 64, 3), np.uint8)] * 8, fps=8, width=64, height=64)
    third = check_day_clips(items, store)
    assert len(decoded) == 3 and not third["clip-a"]["passed"] and third["clip-b"] == first["clip-b"]


def test_the_quality_check_on_s3_reads_results_instead_of_clips(s3_bucket, tmp_path):  # noqa: F811
    client, bucket = s3_bucket
    writer = S3MediaStore(bucket, "day", client, tmp_path / "writer-cache")
    items = clip_items(writer, ["clip-a", "clip-b"], repeats=3)
    first = check_day_clips(items, writer)
    # Another pod: an empty download cache. It asks for sizes and tags, and fetches results, not clips.
    reader = S3MediaStore(bucket, "day", client, tmp_path / "reader-cache")
    counts = count_requests(client)
    assert check_day_clips(items, reader) == first
    assert counts["GetObject"] == 2 and not (tmp_path / "reader-cache" / bucket / "day" / "clips").exists()


def test_a_manifest_is_split_into_parts_and_reads_back(tmp_path):
    store, name = LocalMediaStore(tmp_path), "manifests/videos/2026-11-01/v1"
    items = [{"key": f"k{n}", "cache_hit": n % 2 == 0} for n in range(2 * PART_RECORDS + 5)]
    value = {"partition": "2026-11-01", "items": items, "quality": {"k0": {"passed": True}}, "empty": []}
    assert write_manifest(store, name, value) == store.uri(f"{name}.json")
    index = store.get_json(f"{name}.json")
    assert index["partition"] == "2026-11-01" and index["empty"] == [] and index["items"]["count"] == len(items)
    parts = sorted((tmp_path / name).glob("items-*.jsonl"))
    assert [str(p) for p in parts] == index["items"]["parts"]
    assert [len(p.read_text().splitlines()) for p in parts] == [PART_RECORDS, PART_RECORDS, 5]
    back = read_manifest(store, name)
    assert back["items"] == items and back["quality"] == [{"key": "k0", "passed": True}]


def test_a_day_of_repeated_rows_plays_each_clip_once_and_shows_its_shard_size(vidgen_home, monkeypatch):
    from vidgen_assets.lib.video import probe_video
    from vidgen_assets.runner import run_day
    from vidgen_assets_tests.test_end_to_end import load, manifests

    monkeypatch.delenv("VIDGEN_SHARD_SIZE", raising=False)
    monkeypatch.setenv("VIDGEN_S_PER_CLIP", "45")  # the rule: 90 s start-up ≤ 10 % of 45 s × 20 rows
    load([{"prompt_id": f"d{n}", "scheduled_for": TEST_DAY.isoformat(), "prompt": f"a kite {n % 2}", "seed": n % 2}
          for n in range(6)])  # fmt: skip
    reel = probe_video(run_day(TEST_DAY))
    found = manifests()
    assert len(found["videos"]["items"]) == 6 and len({c["key"] for c in found["videos"]["items"]}) == 2
    assert len(found["reel"]["clips"]) == 2 and reel.frames == 2 * 8  # each clip once, not once per row
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs(limit=1)
        outputs = {
            entry.step_key: entry.dagster_event.step_output_data.metadata
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.STEP_OUTPUT)
            if entry.step_key.endswith("_shards") and entry.dagster_event.step_output_data.output_name == "rows"
        }
    clips = outputs["videos.plan_clip_shards"]
    assert clips["shard_rows"].value == 20 and clips["est_start_up_share"].value == pytest.approx(0.1 * 20 / 6, abs=1e-4)
    assert "10%" in clips["shard_rows_reason"].value and clips["shards"].value == 1
    assert outputs["keyframes.plan_keyframe_shards"]["shard_rows"].value == 1800


def test_shard_size_keeps_pod_start_up_under_a_tenth_of_gpu_time():
    chosen = shard_size(pod_start_s=90, s_per_item=12, items_per_row=1)
    assert chosen.rows == 75 and chosen.start_up_share <= START_UP_SHARE
    assert start_up_share(chosen.rows - 1, pod_start_s=90, s_per_item=12, items_per_row=1) > START_UP_SHARE
    assert shard_size(pod_start_s=90, s_per_item=12, items_per_row=2).rows == 38  # two clips per row
    assert shard_size(pod_start_s=90, s_per_item=0.5).rows == 1800  # fast keyframes: big shards
    assert shard_size(pod_start_s=0, s_per_item=12).rows == 1
    user = shard_size(configured=20, pod_start_s=90, s_per_item=12)
    assert user.rows == 20 and "user" in user.reason and user.start_up_share == pytest.approx(0.375)
    with pytest.raises(ValueError, match="seconds per item"):
        shard_size(s_per_item=0)

"""Hosted clips without Dagster: presets and limits, and the runner against a loopback Replicate (its own
process, the real protocol): one create per clip, resume, 429s, drops, refusals, deadlines, cancellation."""

from __future__ import annotations

import _thread
import threading
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.generation import get_preset
from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.generation.params import preset_limit_error
from vidgen_assets.lib.generation.plan import plan_clips
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.base import MissingKeyError, OutOfCreditsError
from vidgen_assets.lib.generation.providers.io import ProviderSetupError, keyframe_reference
from vidgen_assets.lib.generation.providers.records import read_record
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import Halt, HostedSettings
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.video import probe_video
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401

HOSTED = ("replicate-svd-xt", "runway-gen4-turbo", "luma-ray-2", "fal-kling-2.1")


@pytest.fixture(scope="module")
def replicate_fake():
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        yield fake


@pytest.fixture
def fake(replicate_fake):
    replicate_fake.reset()
    return replicate_fake


@pytest.fixture
def store(tmp_path):
    return open_media_store(str(tmp_path / "media"))


def day(store, seeds, *, keyframe_size: int = 64, **row) -> list[dict]:
    """Clip items for one replicate-svd-xt row per seed, each with a keyframe in the store."""
    rows, keyframes = [], []
    for seed in seeds:
        prompt_id, key = f"p{seed}", f"keyframe-test-{seed}-{keyframe_size}"
        rows.append({"prompt_id": prompt_id, "prompt": f"a heron {seed}", "seed": seed, "video_model": "replicate-svd-xt", **row})
        noise = np.random.default_rng(seed).integers(0, 256, (keyframe_size, keyframe_size, 3), dtype=np.uint8)
        with store.writing(f"keyframes/{key}.png") as path:
            Image.fromarray(noise).save(path, format="PNG")
        keyframes.append({"prompt_id": prompt_id, "key": key, "media_key": f"keyframes/{key}.png"})
    return plan_clips(rows, keyframes, "tiny")


def render(items, store, fake, halt=None, **settings) -> list[dict]:
    client = client_for("replicate", "r8_test_token", fake.base_url)
    settings = HostedSettings(**{"concurrency": 4, **settings})
    return render_hosted_items(items, store, client, StepProfile(total=len(items)), settings=settings, report=lambda line: None, halt=halt)


def test_hosted_presets_load_no_weights_and_reject_what_the_provider_cant_do():
    for name in HOSTED:
        preset = get_preset(name, "image-to-video")
        assert preset.hosted is not None and preset.pipeline_class == "hosted" and preset.max_takes == 8
    svd, runway = get_preset("replicate-svd-xt", "image-to-video"), get_preset("runway-gen4-turbo", "image-to-video")
    assert preset_limit_error({"num_frames": 25, "fps": 8, "motion_bucket_ids": (40, 200)}, svd) is None
    assert "it takes 14, 25" in preset_limit_error({"num_frames": 30}, svd)
    assert "num_inference_steps is not something" in preset_limit_error({"num_inference_steps": 4}, svd)
    assert "outside 1-255" in preset_limit_error({"motion_bucket_ids": (0,)}, svd)
    assert "takes 9 exceeds 8" in preset_limit_error({"takes": 9}, svd)
    assert "not a ratio" in preset_limit_error({"width": 1000, "height": 1000}, runway)
    assert preset_limit_error({"width": 720, "height": 1280, "num_frames": 240}, runway) is None
    # Luma names sizes by the short side (540p-4k); a local model's sides are multiples of 8, a hosted one's need not be.
    luma, tiny = get_preset("luma-ray-2", "image-to-video"), get_preset("tiny", "image-to-video")
    assert preset_limit_error({"width": 960, "height": 540}, luma) is None
    assert preset_limit_error({"width": 540, "height": 960}, luma) is None
    assert "short side is one of 540, 720, 1080, 2160" in preset_limit_error({"width": 1024, "height": 576}, luma)
    assert "multiples of 8" in preset_limit_error({"width": 96, "height": 540}, tiny)
    assert preset_limit_error({"width": 96, "height": 64}, tiny) is None
    # Price: Runway bills 5 credits a second ($0.05); a 5 s clip costs $0.25.
    assert runway.hosted.cost_usd({"num_frames": 120, "fps": 24}, processing_s=40) == pytest.approx(0.25)


def test_a_missing_key_fails_at_once_naming_its_variable():
    with pytest.raises(MissingKeyError, match="REPLICATE_API_TOKEN"):
        client_for("replicate", "", None)


def test_each_clip_is_created_once_stored_checked_and_reused(fake, store):
    fake.configure(processing_s=0.6)
    items = render(day(store, range(4)), store, fake)
    assert fake.stats()["creates"] == 4 and set(fake.stats()["creates_by_input"].values()) == {1}
    for item in items:
        assert probe_video(item["uri"]).frames == 25 and item["frames"] == 25
        assert item["timings"]["processing_s"] == pytest.approx(0.54, abs=0.01)
        assert item["timings"]["cost_usd"] == pytest.approx(0.54 * 0.0014, rel=0.05)
        assert read_record(store, item["key"]).state == "succeeded"
    rows = clip_lineage(items, TEST_DAY, "run-1")
    assert {r["models"]["video"]["provider"] for r in rows} == {"replicate"}
    assert all(r["models"]["video"]["task_id"] and r["timings"]["submitted_at"] for r in rows)
    again = render(day(store, range(4)), store, fake)
    assert all(i["cache_hit"] for i in again) and fake.stats()["creates"] == 4


def test_a_stopped_step_leaves_its_tasks_to_the_next_run_which_polls_them(fake, store):
    fake.configure(processing_s=3.0)
    halt = Halt()
    threading.Timer(1.0, lambda: halt.stop(cancel=False)).start()  # e.g. the step stopped, its tasks not cancelled
    stopped = render(day(store, range(3)), store, fake, halt=halt)
    assert not any("frames" in i for i in stopped) and fake.stats()["cancels"] == 0
    assert all(read_record(store, i["key"]).task_id for i in stopped)
    resumed = render(day(store, range(3)), store, fake)
    assert all(i["frames"] == 25 for i in resumed)
    assert fake.stats()["creates"] == 3


def test_throttling_waits_for_retry_after_and_dropped_connections_are_retried(fake, store):
    fake.configure(processing_s=0.3, throttle_next=2, retry_after_s=1)
    started = time.monotonic()
    (item,) = render(day(store, [7]), store, fake)
    assert time.monotonic() - started >= 2.0  # two 429s, each honoured for its Retry-After of 1 s
    assert fake.stats()["throttled"] == 2 and item["frames"] == 25
    fake.configure(drop_next=2)
    (item,) = render(day(store, [8]), store, fake)
    assert fake.stats()["dropped"] == 2 and item["frames"] == 25 and fake.stats()["creates"] == 2


def test_a_refused_clip_is_recorded_and_not_resubmitted_until_its_row_changes(fake, store):
    fake.configure(processing_s=0.3, moderate_substring='"seed": 1,')
    items = render(day(store, [1, 2, 3]), store, fake)
    refused = [i for i in items if "failure" in i]
    assert [i["prompt_id"] for i in refused] == ["p1"]
    assert refused[0]["failure"] == {"code": "prediction_failed", "reason": "NSFW content detected. Try running it again, or try a different prompt."}
    assert not store.exists(refused[0]["media_key"]) and read_record(store, refused[0]["key"]).state == "failed"
    render(day(store, [1, 2, 3]), store, fake)
    assert fake.stats()["creates"] == 3  # the refusal stands for the unchanged row
    (changed,) = render(day(store, [1], fps=8), store, fake)  # an edited row has a new key: asked again
    assert fake.stats()["creates"] == 4 and "failure" in changed


def test_a_clip_refused_at_create_is_recorded_while_the_rest_render(fake, store):
    fake.configure(processing_s=0.3)
    # Past validation (e.g. a row imported before a limit existed): Replicate answers 422 to the create.
    items = render(day(store, [1], motion_bucket_ids=(300,)) + day(store, [2]), store, fake)
    refused, rendered = items
    assert refused["failure"]["code"] == "http_422" and "motion_bucket_id" in refused["failure"]["reason"]
    assert read_record(store, refused["key"]).state == "failed" and rendered["frames"] == 25
    render(day(store, [1], motion_bucket_ids=(300,)), store, fake)
    assert fake.stats()["creates"] == 1  # the refusal stands: not asked again for the unchanged row


def test_out_of_credits_stops_the_whole_shard(fake, store):
    fake.configure(out_of_credits=True)
    with pytest.raises(OutOfCreditsError, match="Billing required"):
        render(day(store, range(5)), store, fake, concurrency=2)
    assert fake.stats()["creates"] == 0


def test_a_stalled_task_is_cancelled_at_the_clip_deadline_and_asked_again_next_run(fake, store):
    fake.configure(stall=True)
    (item,) = render(day(store, [5]), store, fake, clip_deadline_s=1.5)
    assert item["failure"]["code"] == "vidgen.deadline" and fake.stats()["cancels"] == 1
    assert read_record(store, item["key"]).state == "cancelled"
    fake.configure(stall=False, processing_s=0.3)
    (item,) = render(day(store, [5]), store, fake)
    assert item["frames"] == 25 and fake.stats()["creates"] == 2


def test_an_interrupted_run_cancels_its_open_tasks(fake, store):
    fake.configure(processing_s=30)
    threading.Timer(1.5, _thread.interrupt_main).start()  # what Ctrl-C or Dagster's termination raises
    items = day(store, range(3))
    with pytest.raises(KeyboardInterrupt):
        render(items, store, fake)
    assert fake.stats()["cancels"] == 3
    assert {read_record(store, i["key"]).state for i in items} == {"cancelled"}


def test_a_keyframe_too_large_to_inline_needs_media_on_s3(fake, store):
    with pytest.raises(ProviderSetupError, match="VIDGEN_MEDIA_URI=s3://"):
        render(day(store, [9], keyframe_size=640), store, fake)
    assert fake.stats()["creates"] == 0


def test_a_keyframe_too_large_to_inline_goes_as_a_presigned_url_when_media_is_on_s3(fake, s3_bucket, tmp_path):
    client, bucket = s3_bucket
    store = open_media_store(f"s3://{bucket}/media", s3_client=client, cache_dir=tmp_path / "cache")
    (item,) = day(store, [9], keyframe_size=640)
    url = keyframe_reference(store, item["keyframe_media_key"], "replicate", 1_000_000)
    assert url.startswith("http") and "Signature=" in url
    with store.local_path(item["keyframe_media_key"]) as path:
        assert httpx.get(url).content == path.read_bytes()  # the provider can fetch it
    (rendered,) = render([item], store, fake)
    assert rendered["frames"] == 25 and store.exists(rendered["media_key"]) and fake.stats()["creates"] == 1

"""Long takes on hosted providers (issue 17), against the Luma fake in its own process and media on moto S3
(Luma reads keyframes by URL): each take its own task, extended from the previous take's generation,
reused when the clip is extended, and resumed after a kill without creating a finished take again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import boto3
import httpx
import numpy as np
import pytest
from PIL import Image

from vidgen_assets.lib.generation.lineage_rows import clip_lineage
from vidgen_assets.lib.generation.takes import last_frame
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.records import read_record
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.video import probe_video
from vidgen_assets_tests.conftest import TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401
from vidgen_assets_tests.test_providers import day

pytestmark = pytest.mark.slow

KEY = "luma-takes-secret-91ab"
FRAMES = 5 * 24  # one 5 s take at 24 fps
ROW = {"video_model": "luma-ray-2", "width": 960, "height": 540}  # 540p: a small output keeps the test quick


@pytest.fixture(scope="module")
def luma_fake():
    with running_fake("vidgen_assets_tests.fakes.luma") as fake:
        yield fake


@pytest.fixture
def fake(luma_fake):
    luma_fake.reset()
    luma_fake.configure(processing_s=0.4)
    return luma_fake


@pytest.fixture
def media(s3_bucket):  # noqa: F811
    _, bucket = s3_bucket
    uri = f"s3://{bucket}/media"
    return uri, open_media_store(uri, s3_client=boto3.client("s3"))


def render(items, store, fake_url: str) -> list[dict]:
    client = client_for("luma", KEY, fake_url + "/dream-machine/v1")
    return render_hosted_items(items, store, client, StepProfile(total=len(items)),
                               settings=HostedSettings(concurrency=2), report=lambda line: None)  # fmt: skip


def frames_of(store, item: dict) -> int:
    with store.local_path(item["media_key"]) as path:
        return probe_video(path).frames


def generation_request(fake, task_id: str) -> dict:
    """What the fake Luma was asked for when it created this generation."""
    answer = httpx.get(f"{fake.base_url}/dream-machine/v1/generations/{task_id}", headers={"Authorization": f"Bearer {KEY}"})
    return answer.json()["request"]


def test_a_three_take_clip_extends_each_generation_and_four_takes_reuse_them(fake, media):
    _, store = media
    [item] = render(day(store, [7], takes=3, **ROW), store, fake.base_url)
    assert "failure" not in item, item.get("failure")
    assert item["frames"] == frames_of(store, item) == 3 * FRAMES - 2  # each continuation's first frame dropped
    assert fake.stats()["creates"] == 3
    task_ids = [read_record(store, take["key"]).task_id for take in item["takes"]]
    assert "image" == generation_request(fake, task_ids[0])["keyframes"]["frame0"]["type"]
    for previous, task_id in zip(task_ids, task_ids[1:]):
        assert generation_request(fake, task_id)["keyframes"]["frame0"] == {"type": "generation", "id": previous}
    # Lineage: a row per take with its own task and cost (every take is billed); the clip costs their sum.
    takes = [row for row in clip_lineage([item], TEST_DAY, "run-1") if row["kind"] == "take"]
    assert [row["models"]["video"]["task_id"] for row in takes] == task_ids
    assert all(row["timings"]["cost_usd"] > 0 for row in takes)
    assert item["timings"]["cost_usd"] == pytest.approx(sum(row["timings"]["cost_usd"] for row in takes))

    [longer] = render(day(store, [7], takes=4, **ROW), store, fake.base_url)
    assert [t["key"] for t in longer["takes"][:3]] == [t["key"] for t in item["takes"]]
    assert [t["cache_hit"] for t in longer["takes"]] == [True, True, True, False]
    assert fake.stats()["creates"] == 4  # only take 4 was created
    take4 = read_record(store, longer["takes"][3]["key"]).task_id
    assert generation_request(fake, take4)["keyframes"]["frame0"] == {"type": "generation", "id": task_ids[2]}
    assert longer["frames"] == frames_of(store, longer) == 4 * FRAMES - 3


def render_from_environment() -> None:
    """Entry point of the process the kill test kills: renders the items in $TAKE_ITEMS."""
    store = open_media_store(os.environ["TAKE_MEDIA"], s3_client=boto3.client("s3"))
    items = json.loads(os.environ["TAKE_ITEMS"])
    render(items, store, os.environ["TAKE_FAKE"])


def test_a_run_killed_between_takes_resumes_without_creating_finished_takes(fake, media):
    uri, store = media
    fake.configure(processing_s=1.5)
    items = day(store, [11], takes=3, **ROW)
    env = {**os.environ, "TAKE_MEDIA": uri, "TAKE_ITEMS": json.dumps(items), "TAKE_FAKE": fake.base_url}
    script = "from vidgen_assets_tests.test_provider_takes import render_from_environment as r; r()"
    process = subprocess.Popen([sys.executable, "-c", script], env=env)
    try:
        third = items[0]["takes"][2]["key"]
        deadline = time.monotonic() + 120
        while not ((record := read_record(store, third)) and record.task_id):  # take 3 created, takes 1-2 done
            assert process.poll() is None and time.monotonic() < deadline, "the render ended before take 3 began"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert fake.stats()["creates"] == 3 and not store.exists(items[0]["media_key"])
    [item] = render(day(store, [11], takes=3, **ROW), store, fake.base_url)
    assert [t["cache_hit"] for t in item["takes"]] == [True, True, False]  # take 3 was polled, not created again
    assert fake.stats()["creates"] == 3
    assert read_record(store, item["takes"][2]["key"]).creates == 1
    assert frames_of(store, item) == 3 * FRAMES - 2


def test_other_providers_continue_from_the_previous_takes_last_frame(tmp_path):
    store = open_media_store(str(tmp_path / "media"))
    with running_fake("vidgen_assets_tests.fakes.runway") as runway:
        runway.configure(processing_s=0.3)
        client = client_for("runway", KEY, runway.base_url)
        items = day(store, [5], takes=2, video_model="runway-gen4-turbo")
        [item] = render_hosted_items(items, store, client, StepProfile(total=1), report=lambda line: None)
        assert runway.stats()["creates"] == 2
    assert "failure" not in item, item.get("failure")
    assert item["frames"] == frames_of(store, item) == 2 * FRAMES - 1
    first = item["takes"][0]
    with store.local_path(f"frames/{first['key']}.last.png") as path:  # what take 2 was sent, as a data URI
        sent = np.asarray(Image.open(path))
    assert sent.shape == (720, 1280, 3)
    assert np.array_equal(sent, np.asarray(last_frame(store, first["media_key"])))
    assert read_record(store, item["takes"][1]["key"]).creates == 1

"""Runway, Luma and fal clients against loopback fakes of their real protocols, each in its own process."""

from __future__ import annotations

import base64
import io
import time
import urllib.request

import httpx
import pytest
from PIL import Image

from vidgen_assets.lib.generation.providers.base import (
    MissingKeyError,
    UnauthorizedError,
    OutOfCreditsError,
    PermanentProviderError,
    ProviderRequest,
    TransientProviderError,
)
from vidgen_assets.lib.generation.providers.fal import FalClient
from vidgen_assets.lib.generation.providers.luma import LumaClient
from vidgen_assets.lib.generation.providers.runway import RunwayClient
from vidgen_assets.lib.video.probe import probe_video
from vidgen_assets_tests.fakes.harness import running_fake

KEY = "sk-test-7c1f0d93e5b24a8f"  # distinctive, so a leak into any message is found


def _png_data_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 90, 30)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


# Per provider: the fake, the client, the base URL's path, a valid request, the moderation code, a bad request.
PROVIDERS = {
    "runway": dict(fake="vidgen_assets_tests.fakes.runway", client=RunwayClient, path="",
                   request=lambda prompt: ProviderRequest("gen4_turbo", prompt, image=_png_data_uri(), seed=3,
                                                          duration_s=5, ratio="1280:720"),
                   moderation_code="SAFETY.INPUT.TEXT",
                   bad=ProviderRequest("gen4_turbo", "x", image=_png_data_uri(), ratio="16:9")),
    "luma": dict(fake="vidgen_assets_tests.fakes.luma", client=LumaClient, path="/dream-machine/v1",
                 request=lambda prompt: ProviderRequest("ray-2", prompt, duration_s=5, ratio="16:9"),
                 moderation_code="moderation", bad=ProviderRequest("ray-2", "x", ratio="1280:720")),
    "fal": dict(fake="vidgen_assets_tests.fakes.fal", client=FalClient, path="",
                request=lambda prompt: ProviderRequest("fal-ai/kling-video/v2.1/standard/image-to-video", prompt,
                                                       image=_png_data_uri(), duration_s=5),
                moderation_code="content_policy_violation",
                bad=ProviderRequest("fal-ai/kling-video/v2.1/standard/image-to-video", "x")),
}  # fmt: skip


@pytest.fixture(scope="module", params=sorted(PROVIDERS))
def provider(request):
    spec = PROVIDERS[request.param]
    with running_fake(spec["fake"]) as fake:
        yield {**spec, "name": request.param, "fake_server": fake,
               "make": lambda: spec["client"](KEY, base_url=fake.base_url + spec["path"])}


@pytest.fixture
def fake(provider):
    """The provider's fake, reset to quick, fault-free defaults for each test."""
    server = provider["fake_server"]
    server.reset()
    server.configure(processing_s=0.3)
    return server


def _finish(client, task_id: str, seconds: float = 15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        status = client.poll(task_id)
        if status.finished:
            return status
        time.sleep(0.1)
    raise AssertionError(f"task {task_id} did not finish in {seconds}s")


def test_create_poll_download_decodes(provider, fake, tmp_path):
    client = provider["make"]()
    before = fake.stats()
    task_id = client.create(provider["request"]("a red fox"))
    assert client.poll(task_id).state in ("queued", "running")
    status = _finish(client, task_id)
    assert status.state == "succeeded", status
    path = tmp_path / "out.mp4"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    path.write_bytes(opener.open(status.output_url, timeout=10).read())
    assert probe_video(path).frames == 5 * 24  # a 5 s clip at 24 fps
    stats = fake.stats()
    assert stats["creates"] == before["creates"] + 1 and list(stats["creates_by_input"].values()) == [1]
    assert stats["polls"] > before["polls"]


def test_throttle_is_transient_with_retry_after(provider, fake):
    client = provider["make"]()
    fake.configure(throttle_next=1)
    with pytest.raises(TransientProviderError) as caught:
        client.create(provider["request"]("throttled"))
    assert caught.value.retry_after == 1.0
    assert KEY not in str(caught.value)
    assert client.create(provider["request"]("throttled"))  # the next try goes through


def test_dropped_connection_is_transient(provider, fake):
    fake.configure(drop_next=1)
    with pytest.raises(TransientProviderError) as caught:
        provider["make"]().create(provider["request"]("dropped"))
    assert caught.value.retry_after is None and KEY not in str(caught.value)


def test_moderation_fails_the_task_with_the_provider_code(provider, fake):
    fake.configure(moderate_substring="forbidden")
    client = provider["make"]()
    status = _finish(client, client.create(provider["request"]("a forbidden scene")))
    assert (status.state, status.error_code) == ("failed", provider["moderation_code"])
    assert status.reason and KEY not in status.reason


def test_invalid_input_is_permanent(provider, fake):
    with pytest.raises(PermanentProviderError) as caught:
        provider["make"]().create(provider["bad"])
    assert caught.value.code and KEY not in str(caught.value)
    assert fake.stats()["creates"] == 0


def test_out_of_credits(provider, fake):
    fake.configure(out_of_credits=True)
    with pytest.raises(OutOfCreditsError) as caught:
        provider["make"]().create(provider["request"]("no money"))
    assert KEY not in str(caught.value)


def test_cancel_hits_the_cancel_endpoint_and_spares_finished_tasks(provider, fake):
    client = provider["make"]()
    fake.configure(processing_s=60)
    running = client.create(provider["request"]("to cancel"))
    cancels = fake.stats()["cancels"]
    client.cancel(running)
    assert fake.stats()["cancels"] == cancels + 1
    if provider["name"] == "runway":
        assert client.poll(running).state == "cancelled"
    fake.configure(processing_s=0.2)
    done = client.create(provider["request"]("finished"))
    assert _finish(client, done).state == "succeeded"
    client.cancel(done)
    assert client.poll(done).state == "succeeded"  # still there, output and all


def test_missing_key_names_the_variable(provider):
    with pytest.raises(MissingKeyError) as caught:
        provider["client"]("", base_url="http://127.0.0.1:9")
    assert caught.value.variable == provider["client"].key_variable
    assert provider["client"].key_variable in str(caught.value)


def test_unknown_task_and_wrong_key_never_echo_the_key(provider, fake):
    client = provider["make"]()
    task = {"fal": "fal-ai/kling-video/requests/00000000-0000-0000-0000-000000000000"}.get(
        provider["name"], "00000000-0000-0000-0000-000000000000")  # fmt: skip
    with pytest.raises(PermanentProviderError) as caught:
        client.poll(task)
    assert caught.value.code == "HTTP_404" and KEY not in str(caught.value)


def test_refused_key_stops_naming_the_variable(provider, fake):
    client = provider["client"]("not a key", base_url=fake.base_url + provider["path"])
    with pytest.raises(UnauthorizedError) as caught:
        client.create(provider["request"]("any"))
    assert provider["client"].key_variable in str(caught.value) and "not a key" not in str(caught.value)


CREATE_PATHS = {"runway": "/v1/image_to_video", "luma": "/dream-machine/v1/generations/video",
                "fal": "/fal-ai/kling-video/v2.1/standard/image-to-video"}  # fmt: skip


def test_fakes_refuse_requests_without_the_providers_headers(provider, fake):
    url = fake.base_url + CREATE_PATHS[provider["name"]]
    assert httpx.post(url, json={}).status_code == 401
    if provider["name"] == "runway":  # Runway also wants its API version on every request
        answer = httpx.post(url, headers={"Authorization": f"Bearer {KEY}"}, json={})
        assert answer.status_code == 400 and "X-Runway-Version" in answer.json()["error"]
    assert fake.stats()["creates"] == 0

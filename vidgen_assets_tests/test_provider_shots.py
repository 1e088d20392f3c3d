"""Hosted presets for new kinds of shot (issue 26): text-to-video, first-and-last-frame and video-to-video,
each rendered through `render_hosted_items` against its provider's fake (its own process, the real routes,
bodies and statuses): one create on the right route with the right body, the clip stored, a re-run creating
nothing, the list price the estimate uses; and the fakes refusing what the real APIs refuse."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from vidgen_assets.lib.generation import VIDEO_TASKS, get_preset
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.base import PermanentProviderError, ProviderRequest
from vidgen_assets.lib.generation.providers.catalog_shots import luma_modify_mode
from vidgen_assets.lib.generation.providers.records import read_record
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.rules.budget import task_price
from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.video import probe_video
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.fakes.media import mp4_bytes

ZEROSCOPE = "9f747673945c62801b13b84701c783929c0ee784e4748ec062204894dda1a351"
KEYS = {"runway": "rw-shots-key-4411", "luma": "luma-shots-key-4411", "fal": "fal-shots-key-4411", "replicate": "r8_shots_key_4411"}
FAKES = {"runway": ("vidgen_assets_tests.fakes.runway", ""), "luma": ("vidgen_assets_tests.fakes.luma", "/dream-machine/v1"),
         "fal": ("vidgen_assets_tests.fakes.fal", ""), "replicate": ("vidgen_assets_tests.fakes.replicate_server", "")}  # fmt: skip
PROMPT = "a heron lifts off a misty lake at dawn"


class UrlMediaStore(LocalMediaStore):
    """Media on disk that also answers presigned URLs, as S3 does: Luma reads media by URL only."""

    def presigned_url(self, key: str, expires_s: int = 6 * 3600) -> str:
        return f"https://media.test/{key}"


@pytest.fixture(scope="module")
def fakes():
    """One fake per provider, started when a test first needs it, stopped with the module."""
    started, stack = {}, []

    def fake(provider: str):
        if provider not in started:
            context = running_fake(FAKES[provider][0])
            started[provider] = context.__enter__()
            stack.append(context)
        server = started[provider]
        server.reset()
        server.configure(processing_s=0.2)
        return server

    yield fake
    for context in reversed(stack):
        context.__exit__(None, None, None)


@pytest.fixture
def store(tmp_path):
    store = UrlMediaStore(tmp_path / "media")
    for key, color in (("keyframes/start.png", (200, 90, 30)), ("keyframes/end.png", (20, 90, 200))):
        with store.writing(key) as path:
            Image.new("RGB", (64, 64), color).save(path, format="PNG")
    with store.writing("clips/source.mp4") as path:
        path.write_bytes(mp4_bytes(24, 8))
    return store


def shot(preset: str, name: str, *, params: dict | None = None, **media) -> dict:
    """A clip item as the plan hands it to the runner: its preset, prompt, params, keys and media keys."""
    found = get_preset(preset, *VIDEO_TASKS)
    return {
        "prompt_id": f"p-{name}", "preset": preset, "task": found.task, "prompt": PROMPT, "motion_bucket_id": 0,
        "params": {"seed": 7, **(params or {})}, "key": f"clip-{name}", "media_key": f"clips/clip-{name}.mp4",
        "provider": found.hosted.provider, "keyframe_media_key": None, **media,
    }  # fmt: skip


def render(item: dict, store, fake, provider: str) -> dict:
    client = client_for(provider, KEYS[provider], fake.base_url + FAKES[provider][1])
    [done] = render_hosted_items([item], store, client, StepProfile(total=1), settings=HostedSettings(first_poll_s=0.1),
                                 report=lambda line: None)  # fmt: skip
    return done


def data_uri(store, key: str, mime: str) -> str:
    with store.local_path(key) as path:
        return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"


START, END, SOURCE = "keyframes/start.png", "keyframes/end.png", "clips/source.mp4"
# preset, provider, item media and params, the create route, the body fields it must carry (None: absent),
# the list price of its item.
CASES = {
    "runway-gen4.5": ("runway", {"params": {"num_frames": 120}}, "/v1/text_to_video",
                      {"model": "gen4.5", "promptText": PROMPT, "ratio": "1280:720", "duration": 5, "seed": 7,
                       "promptImage": None}, 0.60),
    "runway-veo3.1": ("runway", {"params": {"num_frames": 96}}, "/v1/text_to_video",
                      {"model": "veo3.1", "duration": 4, "audio": False, "ratio": "1280:720", "promptImage": None}, 0.80),
    "runway-veo3.1-i2v": ("runway", {"params": {"num_frames": 96}, "keyframe_media_key": START,
                                     "end_keyframe_media_key": END}, "/v1/image_to_video",
                          {"model": "veo3.1", "duration": 4, "audio": False,
                           "promptImage": [{"uri": ("data", START), "position": "first"},
                                           {"uri": ("data", END), "position": "last"}]}, 0.80),
    "runway-aleph2": ("runway", {"source_media_key": SOURCE}, "/v1/video_to_video",
                      {"model": "aleph2", "videoUri": ("data", SOURCE), "promptText": PROMPT, "ratio": "1280:720",
                       "seed": 7, "duration": None}, 0.75),
    "luma-ray-2-t2v": ("luma", {"params": {"width": 960, "height": 540}}, "/dream-machine/v1/generations/video",
                       {"model": "ray-2", "prompt": PROMPT, "aspect_ratio": "16:9", "duration": "5s",
                        "resolution": "540p", "keyframes": None}, 0.71),
    "luma-ray-2": ("luma", {"params": {"width": 960, "height": 540}, "keyframe_media_key": START,
                            "end_keyframe_media_key": END}, "/dream-machine/v1/generations/video",
                   {"model": "ray-2", "keyframes": {"frame0": {"type": "image", "url": f"https://media.test/{START}"},
                                                    "frame1": {"type": "image", "url": f"https://media.test/{END}"}}},
                   0.71),
    "luma-ray-2-modify": ("luma", {"params": {"strength": 0.5}, "source_media_key": SOURCE},
                          "/dream-machine/v1/generations/video/modify",
                          {"generation_type": "modify_video", "media": {"url": f"https://media.test/{SOURCE}"},
                           "mode": "flex_2", "model": "ray-2", "prompt": PROMPT, "keyframes": None}, 0.71),
    "fal-kling-2.1-t2v": ("fal", {}, "/fal-ai/kling-video/v2.1/standard/text-to-video",
                          {"prompt": PROMPT, "duration": "5", "aspect_ratio": "16:9", "image_url": None}, 0.28),
    "replicate-zeroscope-t2v": ("replicate", {}, "/v1/predictions",
                                {"version": ZEROSCOPE, "input": {"prompt": PROMPT, "model": "xl", "width": 1024,
                                                                 "height": 576, "num_frames": 24, "fps": 8, "seed": 7}},
                                0.168),
}  # fmt: skip


def expected(value, store):
    """A body field as the provider sees it: ("data", key) is that media file as a data URI."""
    if isinstance(value, tuple):
        return data_uri(store, value[1], "video/mp4" if value[1].endswith(".mp4") else "image/png")
    if isinstance(value, list):
        return [expected(part, store) for part in value]
    if isinstance(value, dict):
        return {name: expected(part, store) for name, part in value.items()}
    return value


@pytest.mark.parametrize("preset", sorted(CASES))
def test_each_new_preset_renders_its_kind_of_shot_with_one_create_on_its_route(preset, fakes, store):
    provider, fields, route, body_fields, price = CASES[preset]
    fake = fakes(provider)
    item = shot(preset, preset, **fields)
    assert task_price(item) == pytest.approx(price)  # what the estimate and the budget hold for it

    done = render(dict(item, params=dict(item["params"])), store, fake, provider)
    assert "failure" not in done, done.get("failure")
    with store.local_path(done["media_key"]) as path:
        assert probe_video(path).frames == done["frames"] > 0
    assert fake.stats()["creates_by_route"] == {route: 1}
    [created] = fake.creates()
    assert created["route"] == route
    for name, value in body_fields.items():
        assert created["body"].get(name) == expected(value, store), name
    record = read_record(store, item["key"])
    assert (record.state, record.creates) == ("succeeded", 1)
    if provider != "replicate":  # billed by the second of video made: the list price (Replicate: by run time)
        assert done["timings"]["cost_usd"] == pytest.approx(price)

    again = render(dict(item, params=dict(item["params"])), store, fake, provider)
    assert again["cache_hit"] and fake.stats()["creates"] == 1
    Path(store.uri(item["media_key"])).unlink()  # the clip lost, its task recorded: polled and fetched, not bought again
    again = render(dict(item, params=dict(item["params"])), store, fake, provider)
    assert "failure" not in again and store.exists(item["media_key"]) and fake.stats()["creates"] == 1


@pytest.mark.parametrize("strength, mode", [(0.05, "adhere_1"), (0.12, "adhere_2"), (1 / 3, "adhere_3"), (0.4, "flex_1"),
                                            (0.5, "flex_2"), (0.7, "reimagine_1"), (0.9, "reimagine_3"), (1.0, "reimagine_3")])  # fmt: skip
def test_strength_picks_lumas_modify_mode_in_nine_steps(strength, mode):
    assert luma_modify_mode(strength) == mode


def test_the_catalog_declares_each_shot_kind():
    kinds = {name: (get_preset(name, *VIDEO_TASKS).task, get_preset(name, *VIDEO_TASKS).modes) for name in CASES}
    assert kinds["runway-gen4.5"] == kinds["luma-ray-2-t2v"] == kinds["replicate-zeroscope-t2v"] == ("text-to-video", ("text",))
    assert kinds["runway-veo3.1-i2v"] == kinds["luma-ray-2"] == ("image-to-video", ("image", "last_image"))
    assert kinds["runway-aleph2"] == kinds["luma-ray-2-modify"] == ("video-to-video", ("video",))
    assert "strength" in get_preset("luma-ray-2-modify", *VIDEO_TASKS).hosted.knobs
    assert get_preset("runway-gen4-turbo", "image-to-video").modes == ("image",)  # the others are unchanged


def _png_uri() -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


RUNWAY_HEADERS = {"Authorization": "Bearer k", "X-Runway-Version": "2024-11-06"}
# provider, path, body, status, the error's words; each as the real API refuses it (its own error shape).
REFUSED = [
    ("runway", "/v1/text_to_video", {"model": "gen4.5", "ratio": "1280:720", "duration": 5}, 400, "promptText is required"),
    ("runway", "/v1/text_to_video", {"model": "gen4_turbo", "promptText": "x", "ratio": "1280:720"}, 400, "Invalid model"),
    ("runway", "/v1/text_to_video", {"model": "veo3.1", "promptText": "x", "ratio": "1280:720", "duration": 5}, 400,
     "duration must be one of [4, 6, 8]"),
    ("runway", "/v1/image_to_video", {"model": "gen4_turbo", "ratio": "1280:720", "promptImage": [
        {"uri": _png_uri(), "position": "first"}, {"uri": _png_uri(), "position": "last"}]}, 400, "does not support a last frame"),
    ("runway", "/v1/image_to_video", {"model": "veo3.1", "ratio": "1280:720", "promptImage": [
        {"uri": _png_uri(), "position": "last"}]}, 400, "only a last frame"),
    ("runway", "/v1/video_to_video", {"model": "aleph2", "promptText": "x"}, 400, "videoUri must be"),
    ("luma", "/dream-machine/v1/generations/video", {"model": "ray-2", "aspect_ratio": "16:9"}, 400, "prompt is required"),
    ("luma", "/dream-machine/v1/generations/video/modify", {"generation_type": "modify_video", "model": "ray-2",
     "media": {"url": "https://x/y.mp4"}, "mode": "flex_4"}, 400, "Invalid mode"),
    ("luma", "/dream-machine/v1/generations/video/modify", {"generation_type": "modify_video", "model": "ray-2",
     "media": {"url": "data:video/mp4;base64,AAAA"}, "mode": "flex_1"}, 400, "media.url must be a video URL"),
    ("fal", "/fal-ai/kling-video/v2.1/standard/text-to-video", {"duration": "5"}, 422, "field required"),
    ("fal", "/fal-ai/kling-video/v2.1/standard/text-to-video", {"prompt": "x", "aspect_ratio": "4:3"}, 422, "must be one of"),
    ("replicate", "/v1/predictions", {"version": ZEROSCOPE, "input": {"prompt": "x", "model": "xxl"}}, 422, "input.model"),
    ("replicate", "/v1/models/anotherjesse/zeroscope-v2-xl/predictions", {"input": {"prompt": "x", "num_frames": 0}}, 422,
     "input.num_frames"),
]  # fmt: skip


def _words(provider: str, answer: dict) -> str:
    """The provider's error words: Runway {"error"}, Luma and fal {"detail"}, Replicate RFC 7807 {detail}."""
    return str(answer.get("error") or answer.get("detail"))


@pytest.mark.parametrize("provider, path, body, status, words", REFUSED, ids=lambda v: v if isinstance(v, str) else None)
def test_the_fakes_refuse_what_the_real_apis_refuse_and_create_nothing(fakes, provider, path, body, status, words):
    fake = fakes(provider)
    headers = RUNWAY_HEADERS if provider == "runway" else {
        "Authorization": ("Key k" if provider == "fal" else "Bearer k")}  # fmt: skip
    answer = httpx.post(fake.base_url + path, json=body, headers=headers, timeout=10)
    assert answer.status_code == status and words in _words(provider, answer.json()), answer.text
    assert fake.stats()["creates"] == 0


def test_a_clients_request_with_a_last_frame_on_a_model_without_one_is_refused_not_created(fakes):
    fake = fakes("runway")
    client = client_for("runway", KEYS["runway"], fake.base_url)
    request = ProviderRequest("gen4_turbo", PROMPT, image=_png_uri(), last_image=_png_uri(), ratio="1280:720", duration_s=5)
    with pytest.raises(PermanentProviderError, match="does not support a last frame") as refused:
        client.create(request)
    assert refused.value.code == "HTTP_400" and fake.stats()["creates"] == 0
    # Zeroscope by its model route (the latest version) takes the same input as the pinned one.
    fake = fakes("replicate")
    client = client_for("replicate", KEYS["replicate"], fake.base_url)
    options = {"width": 1024, "height": 576, "num_frames": 24, "fps": 8}
    client.create(ProviderRequest("anotherjesse/zeroscope-v2-xl", PROMPT, seed=1, options=options))
    assert fake.stats()["creates_by_route"] == {"/v1/models/anotherjesse/zeroscope-v2-xl/predictions": 1}


def test_a_long_first_and_last_frame_shot_ends_on_its_end_keyframe_in_its_last_take_only():
    from vidgen_assets.lib.generation.providers.takes import _take_item

    item = shot("luma-ray-2", "takes", keyframe_media_key=START, end_keyframe_media_key=END)
    item["takes"] = [{"key": f"take-{n}", "media_key": f"clips/take-{n}.mp4"} for n in range(3)]
    assert [_take_item(item, n)["end_keyframe_media_key"] for n in range(3)] == [None, None, END]

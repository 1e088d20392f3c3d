"""The hosted soundtrack preset through a loopback Replicate: rendered and billed once, one prediction for
concurrent launches, refused by a budget before any create, resumed after a crash, long tracks in segments."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from datetime import date

import av
import pytest

from vidgen_assets.lib.audio.hosted import (
    HOSTED_MUSIC_PRESETS, BudgetRefused, HostedSoundtrackError, render_hosted_soundtrack,
)  # fmt: skip
from vidgen_assets.lib.generation.providers.base import MissingKeyError, ProviderRequest
from vidgen_assets.lib.generation.providers.records import SUBMITTED, new_intent, write_record
from vidgen_assets.lib.generation.providers.replicate import ReplicateClient
from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.warehouse.spend import Task, reserve
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES
from vidgen_assets_tests.fakes.harness import running_fake

DAY = date(2026, 11, 2)
TOKEN = "r8_hosted-music-test-token"
PRESET = HOSTED_MUSIC_PRESETS["replicate-musicgen"]

LAUNCH = """
import json, sys
from vidgen_assets.lib.audio.hosted import render_hosted_soundtrack
from vidgen_assets.lib.storage.media import LocalMediaStore
from vidgen_assets.lib.warehouse import Warehouse
print(json.dumps(render_hosted_soundtrack(
    "replicate-musicgen", prompt="a slow waltz", seconds=2.0, seed=5, key="track-race",
    media_key="soundtracks/track-race.wav", day="2026-11-02", warehouse=Warehouse(sys.argv[1]),
    store=LocalMediaStore(sys.argv[2]), run_id=sys.argv[3], log=lambda line: None)))
"""


@pytest.fixture(scope="module")
def fake():
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as server:
        yield server


@pytest.fixture
def replicate(fake, monkeypatch):
    fake.reset()
    fake.configure(processing_s=0.3)
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
    for variable in ("VIDGEN_BUDGET_USD_PER_DAY", "VIDGEN_BUDGET_USD_PER_MONTH", "VIDGEN_REPLICATE_BUDGET_USD_PER_DAY"):
        monkeypatch.delenv(variable, raising=False)
    return fake


@pytest.fixture
def media(tmp_path):
    return LocalMediaStore(tmp_path / "media")


def render(warehouse, media, key="track-a", seconds=2.5, prompt="warm synth pads", log=None):
    return render_hosted_soundtrack(
        "replicate-musicgen", prompt=prompt, seconds=seconds, seed=7, key=key, media_key=f"soundtracks/{key}.wav",
        day=DAY, warehouse=warehouse, store=media, run_id="run-1", log=log if log is not None else (lambda line: None),
    )  # fmt: skip


def spend_rows(warehouse) -> list[dict]:
    with warehouse.connect() as session:
        return session.rows("SELECT clip_key, provider, model, state, reserved_usd, billed_usd, reason FROM spend ORDER BY clip_key")


def decoded(media, key: str) -> tuple[float, int, int, str]:
    """(seconds, sample rate, channels, codec) of a stored track, decoded sample by sample."""
    with media.local_path(key) as path, av.open(str(path)) as container:
        stream = container.streams.audio[0]
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.rate, stream.rate, stream.channels, stream.codec_context.name


def test_a_track_renders_through_the_fake_is_billed_once_and_a_second_call_reuses_it(store, media, replicate):
    lines: list[str] = []
    done = render(store, media, log=lines.append)
    assert done["cache_hit"] is False and done["provider_task_id"]
    assert done["seconds"] == pytest.approx(2.5, abs=1 / 32000)
    assert decoded(media, "soundtracks/track-a.wav") == (pytest.approx(2.5, abs=1 / 32000), 32000, 2, "pcm_s16le")
    [create] = replicate.creates()
    assert create["body"]["version"] == PRESET.model.rpartition(":")[2]
    assert create["body"]["input"] == {"prompt": "warm synth pads", "duration": 3, "model_version": "stereo-large",
                                       "output_format": "wav", "normalization_strategy": "peak", "seed": 7}  # fmt: skip
    [row] = spend_rows(store)
    assert (row["clip_key"], row["provider"], row["model"], row["state"]) == ("track-a", "replicate", "replicate-musicgen", "billed")
    assert row["reserved_usd"] == pytest.approx(PRESET.list_price_usd(3))
    assert row["billed_usd"] == pytest.approx(0.27 * 0.0014) == pytest.approx(done["cost_usd"])  # predict_time 0.9 × 0.3 s
    assert not any(TOKEN in line for line in lines) and any(done["provider_task_id"] in line for line in lines)

    again = render(store, media)
    assert again == {"seconds": done["seconds"], "cost_usd": 0.0, "provider_task_id": done["provider_task_id"], "cache_hit": True}
    assert replicate.stats()["creates"] == 1 and len(spend_rows(store)) == 1


@BOTH_WAREHOUSES
def test_two_processes_launching_one_track_create_one_prediction(store, media, replicate, tmp_path):
    store.schema_version()  # migrated once, before the race
    replicate.configure(processing_s=1.0)
    launches = [
        subprocess.Popen([sys.executable, "-c", LAUNCH, store.target, str(tmp_path / "media"), f"run-{n}"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in range(2)
    ]  # fmt: skip
    results = []
    for launch in launches:
        out, err = launch.communicate(timeout=120)
        assert launch.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert replicate.stats()["creates"] == 1
    assert len({r["provider_task_id"] for r in results}) == 1
    [row] = spend_rows(store)
    assert row["state"] == "billed" and sum(r["cost_usd"] for r in results) == pytest.approx(row["billed_usd"])
    assert decoded(media, "soundtracks/track-race.wav")[0] == pytest.approx(2.0, abs=1 / 32000)


def test_a_budget_without_room_refuses_before_any_create(store, media, replicate, monkeypatch):
    monkeypatch.setenv("VIDGEN_BUDGET_USD_PER_DAY", "0.01")  # the list price of 3 s is 0.0448 USD
    with pytest.raises(BudgetRefused, match=r"VIDGEN_BUDGET_USD_PER_DAY is 0\.01 USD .* list price is 0\.04 USD"):
        render(store, media)
    assert replicate.stats()["creates"] == 0
    assert [row["state"] for row in spend_rows(store)] == ["refused"]
    assert not media.exists("soundtracks/track-a.wav")


@pytest.mark.parametrize("crash", ["after the create", "inside the create"])
def test_a_run_killed_around_its_create_is_resumed_without_a_second_create(store, media, replicate, crash):
    # What the killed run left: its reservation, an expired claim, the prediction on Replicate and its record.
    wanted = PRESET.model_input("warm synth pads", 3, 7)
    request = ProviderRequest(model=PRESET.model, prompt="warm synth pads", seed=7, options=wanted)
    intent = new_intent("replicate", PRESET.model, "track-a", "soundtrack", creates=1)
    reserve(store, Task(DAY, "replicate", PRESET.name, "track-a", None, "run-0", PRESET.list_price_usd(3)), [])
    with store.connect() as session:
        session.execute("INSERT INTO provider_claims (clip_key, provider, holder, claimed_at, expires_at, takeovers) "
                        "VALUES (?, ?, ?, ?, ?, 0)", ["track-a", "replicate", "dead-pod", time.time() - 90, time.time() - 30])  # fmt: skip
    task_id = ReplicateClient(TOKEN, replicate.base_url).create(request)
    if crash == "after the create":
        intent.task_id, intent.state, intent.submitted_at = task_id, SUBMITTED, time.time()
    write_record(media, intent)  # inside the create: an intent without id, found again by its input

    done = render(store, media)
    assert done["provider_task_id"] == task_id and done["cost_usd"] > 0
    assert replicate.stats()["creates"] == 1
    assert [(row["state"], row["billed_usd"]) for row in spend_rows(store)] == [("billed", pytest.approx(done["cost_usd"]))]
    assert decoded(media, "soundtracks/track-a.wav")[0] == pytest.approx(2.5, abs=1 / 32000)


def test_a_track_longer_than_one_prediction_is_joined_from_segments(store, media, replicate, monkeypatch):
    monkeypatch.setitem(HOSTED_MUSIC_PRESETS, "replicate-musicgen", PRESET.__class__(**{**PRESET.__dict__, "max_seconds": 2}))
    replicate.configure(throttle_next=1, retry_after_s=1)  # the first create is throttled: retried after Retry-After
    done = render(store, media, seconds=3.5)
    assert [c["body"]["input"]["duration"] for c in replicate.creates()] == [2, 2]
    assert [c["body"]["input"]["seed"] for c in replicate.creates()] == [7, 8]
    assert replicate.stats()["throttled"] == 1 and len(done["provider_task_id"].split(",")) == 2
    assert decoded(media, "soundtracks/track-a.wav")[0] == pytest.approx(3.5, abs=1 / 32000)
    assert [(row["clip_key"], row["state"]) for row in spend_rows(store)] == [("track-a-part00", "billed"), ("track-a-part01", "billed")]
    assert done["cost_usd"] == pytest.approx(sum(row["billed_usd"] for row in spend_rows(store)))


def test_a_refused_prompt_is_a_clear_error_and_billed_as_replicate_bills_it(store, media, replicate):
    replicate.configure(moderate_substring="forbidden")
    with pytest.raises(HostedSoundtrackError, match=r"replicate made no soundtrack for track-a: prediction_failed: NSFW"):
        render(store, media, prompt="forbidden chords")
    assert not media.exists("soundtracks/track-a.wav")
    [row] = spend_rows(store)
    assert row["state"] == "billed" and row["billed_usd"] > 0  # Replicate bills a failed prediction's run time


def test_a_missing_key_or_an_unknown_preset_fails_at_once_without_a_request(store, media, replicate, monkeypatch):
    monkeypatch.delenv("REPLICATE_API_TOKEN")
    with pytest.raises(MissingKeyError, match="REPLICATE_API_TOKEN is not set"):
        render(store, media)
    with pytest.raises(ValueError, match="unknown hosted music preset 'suno'; known: replicate-musicgen"):
        render_hosted_soundtrack("suno", prompt="x", seconds=1, seed=1, key="k", media_key="soundtracks/k.wav",
                                 day=DAY, warehouse=store, store=media, run_id=None, log=print)  # fmt: skip
    assert replicate.stats()["creates"] == 0 and spend_rows(store) == []

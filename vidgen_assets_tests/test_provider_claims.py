"""Claims on clip keys in the warehouse (DuckDB and PostgreSQL), a task found again after a kill inside
its create, malformed keys, redaction of every form of a key, and the billing rules."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import time
from urllib.parse import quote

import pytest

from vidgen_assets.lib.generation.providers.base import MalformedKeyError, ProviderRequest
from vidgen_assets.lib.generation.providers.billing import billed_usd
from vidgen_assets.lib.generation.providers.catalog import HOSTED_MODELS
from vidgen_assets.lib.generation.providers.http_errors import redact, secret_forms
from vidgen_assets.lib.generation.providers.registry import KEY_VARIABLES, client_for
from vidgen_assets.lib.warehouse.claims import WarehouseClaims
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

RACE = """
import sys
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.claims import WarehouseClaims
claims = WarehouseClaims(Warehouse(sys.argv[1]))
print("won" if claims.acquire("clip-shared", "replicate", sys.argv[2], 30.0) else "lost")
"""


@BOTH_WAREHOUSES
def test_a_claim_is_held_renewed_taken_over_only_after_expiry_and_released_by_its_holder(store):
    clock = [1000.0]
    claims = WarehouseClaims(store, clock=lambda: clock[0])
    assert claims.acquire("clip-a", "replicate", "run-1", 10.0)
    assert claims.acquire("clip-a", "replicate", "run-1", 10.0)  # already ours
    assert not claims.acquire("clip-a", "replicate", "run-2", 10.0)  # live: the second run waits
    clock[0] += 8
    claims.renew(["clip-a"], "run-1", 10.0)  # the heartbeat: now expires at 1018
    clock[0] += 8
    assert not claims.acquire("clip-a", "replicate", "run-2", 10.0)
    claims.release("clip-a", "run-2")  # not its claim: nothing happens
    assert claims.holder("clip-a")["holder"] == "run-1"
    clock[0] += 3  # run-1 died: no heartbeat since
    assert claims.acquire("clip-a", "replicate", "run-2", 10.0)
    row = claims.holder("clip-a")
    assert (row["holder"], row["takeovers"]) == ("run-2", 1)
    claims.release("clip-a", "run-2")
    assert claims.holder("clip-a") is None


@BOTH_WAREHOUSES
def test_of_processes_racing_for_one_clip_exactly_one_wins(store):
    store.schema_version()  # migrated once, before the race
    racers = [
        subprocess.Popen([sys.executable, "-c", RACE, store.target, f"run-{n}"], stdout=subprocess.PIPE, text=True)
        for n in range(4)
    ]  # fmt: skip
    outcomes = sorted(racer.communicate(timeout=120)[0].strip() for racer in racers)
    assert outcomes == ["lost", "lost", "lost", "won"]


KEY = "r8_Tk9-secret+value/with=odd_chars"


@pytest.mark.parametrize("form", ["raw", "repr", "url", "base64", "basic", "bearer"])
def test_every_form_of_a_key_is_redacted(form):
    key = KEY + "\n"
    text = {
        "raw": f"failed with {key}",
        "repr": f"Illegal header value {('Key ' + key).encode()!r}",
        "url": f"GET /x?token={quote(key, safe='')}",
        "base64": f"echo {base64.b64encode(key.encode()).decode()}",
        "basic": f"Authorization: Basic {base64.b64encode(('user:' + KEY).encode()).decode()}",
        "bearer": f"header {base64.urlsafe_b64encode(('Bearer ' + KEY).encode()).decode()}",
    }[form]
    redacted = redact(text, key)
    assert "***" in redacted
    assert not any(piece in redacted for piece in secret_forms(key)), redacted
    assert KEY not in redacted and KEY[3:12] not in redacted


@pytest.mark.parametrize("provider", sorted(KEY_VARIABLES))
@pytest.mark.parametrize(
    "shape, problem",
    [("{p}good-key-1234\n", "newline"), (" {p}good-key-1234", "whitespace"), ("{p}good key-1234", "whitespace inside"),
     ("{p}good-key\x07-1234", "non-printable")],
)  # fmt: skip
def test_a_malformed_key_stops_naming_the_variable_and_never_the_value(provider, shape, problem):
    key = shape.format(p="r8_" if provider == "replicate" else "")
    with pytest.raises(MalformedKeyError) as raised:
        client_for(provider, key, "http://127.0.0.1:9")
    message = str(raised.value)
    assert message.startswith(f"{KEY_VARIABLES[provider]} is malformed") and problem in message
    assert "good" not in message and "1234" not in message


def test_a_replicate_token_without_its_prefix_is_malformed():
    with pytest.raises(MalformedKeyError, match="REPLICATE_API_TOKEN is malformed: replicate keys start with 'r8_'"):
        client_for("replicate", "sk-not-a-replicate-token", None)


def test_what_each_provider_bills():
    params = lambda name: {**HOSTED_MODELS[name].defaults}  # noqa: E731
    replicate, runway, fal = HOSTED_MODELS["replicate-svd-xt"], HOSTED_MODELS["runway-gen4-turbo"], HOSTED_MODELS["fal-kling-2.1"]
    now = time.time()
    # Replicate: by the second it ran, delivered or not; its reported predict_time first.
    assert billed_usd(replicate, params("replicate-svd-xt"), "succeeded", started_at=now - 50, finished_at=now,
                      billed_s=40.0) == pytest.approx(40 * 0.0014)  # fmt: skip
    assert billed_usd(replicate, params("replicate-svd-xt"), "cancelled", started_at=now - 30, finished_at=now) == pytest.approx(30 * 0.0014)
    assert billed_usd(replicate, params("replicate-svd-xt"), "cancelled", started_at=None) == 0.0  # never left the queue
    # Runway: a started task cancelled at our deadline still costs its list price; a failed one is refunded.
    assert billed_usd(runway, params("runway-gen4-turbo"), "cancelled", started_at=now - 5) == pytest.approx(0.25)
    assert billed_usd(runway, params("runway-gen4-turbo"), "failed", started_at=now - 5) == 0.0
    # fal bills only successful requests.
    assert billed_usd(fal, params("fal-kling-2.1"), "cancelled", started_at=now - 5) == 0.0
    assert billed_usd(fal, params("fal-kling-2.1"), "succeeded", started_at=now - 5) == pytest.approx(0.28)


def test_a_task_created_by_a_holder_killed_inside_its_create_is_found_again_not_created_twice(tmp_path):
    from vidgen_assets.lib.generation.providers.claims import ClipClaims, MemoryClaims
    from vidgen_assets.lib.generation.providers.records import new_intent, read_record, write_record
    from vidgen_assets.lib.generation.providers.tasks import Halt, HostedSettings, run_task
    from vidgen_assets.lib.storage import open_media_store
    from vidgen_assets_tests.fakes.harness import running_fake

    store = open_media_store(str(tmp_path / "media"))
    request = ProviderRequest(model=HOSTED_MODELS["replicate-svd-xt"].model, image="data:image/png;base64,AAAA",
                              seed=7, options={"num_frames": 25, "fps": 6, "motion_bucket_id": 127})  # fmt: skip
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        fake.configure(processing_s=0.3)
        client = client_for("replicate", "r8_test-token", fake.base_url)
        # The killed holder: its intent written, its create sent (the provider made the task), no id recorded.
        intent = new_intent("replicate", request.model, "clip-k", "p1", creates=1)
        write_record(store, intent)
        client.create(request)
        claims = ClipClaims(MemoryClaims(), "replicate", lease_s=30)
        record, status = run_task(client, store, read_record(store, "clip-k"), lambda: request, settings=HostedSettings(),
                                  halt=Halt(), deadline=time.time() + 60, claims=claims)  # fmt: skip
        claims.close()
        assert status.state == "succeeded" and fake.stats()["creates"] == 1
        assert json.loads((tmp_path / "media" / "tasks" / "clip-k.json").read_text())["task_id"] == record.task_id


def test_a_cancelled_run_leaves_running_the_task_another_run_created_for_the_same_clip(tmp_path):
    """Two days sharing a clip: the run that waits on the other's task is terminated; the task, which the other
    run still needs, is not cancelled (its output is reused), while the task a run created itself is."""
    import threading

    from vidgen_assets.lib.generation.providers.claims import ClipClaims, MemoryClaims
    from vidgen_assets.lib.generation.providers.records import new_intent, read_record, write_record
    from vidgen_assets.lib.generation.providers.tasks import Halt, Halted, HostedSettings, run_task
    from vidgen_assets.lib.storage import open_media_store
    from vidgen_assets_tests.fakes.harness import running_fake

    store = open_media_store(str(tmp_path / "media"))
    request = ProviderRequest(model=HOSTED_MODELS["replicate-svd-xt"].model, image="data:image/png;base64,AAAA",
                              seed=7, options={"num_frames": 25, "fps": 6, "motion_bucket_id": 127})  # fmt: skip
    settings = HostedSettings(first_poll_s=0.05, max_poll_s=0.1)
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        fake.configure(processing_s=60.0)
        client = client_for("replicate", "r8_test-token", fake.base_url)

        def terminated_while_polling(clip_key: str) -> None:
            halt, claims = Halt(), ClipClaims(MemoryClaims(), "replicate", lease_s=30)
            stopper = threading.Timer(0.5, lambda: halt.stop(cancel=True))
            stopper.start()
            with pytest.raises(Halted):
                run_task(client, store, read_record(store, clip_key) or new_intent("replicate", request.model, clip_key, "p1"),
                         lambda: request, settings=settings, halt=halt, deadline=time.time() + 60, claims=claims)  # fmt: skip
            claims.close()

        peers = new_intent("replicate", request.model, "clip-shared", "p1", creates=1)
        peers.task_id, peers.state = client.create(request), "submitted"  # the other day's run made it
        write_record(store, peers)
        terminated_while_polling("clip-shared")
        assert fake.stats()["cancels"] == 0 and read_record(store, "clip-shared").state == "submitted"
        terminated_while_polling("clip-own")  # this run creates it: terminated, it cancels it
        assert fake.stats()["cancels"] == 1 and read_record(store, "clip-own").state == "cancelled"

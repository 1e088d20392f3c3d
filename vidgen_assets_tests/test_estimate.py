"""`lib/rules/estimate.py` on a planned day, no run: takes, cache hits, tasks already created and final
refusals, rows sharing a clip, local GPU seconds, and budgets left (DuckDB and PostgreSQL)."""

from __future__ import annotations

import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.generation.providers.records import FAILED, SUBMITTED, new_intent, write_record
from vidgen_assets.lib.rules.budget import Budgets
from vidgen_assets.lib.rules.estimate import estimate_day, estimate_days, planned_day
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.warehouse import PromptSpec
from vidgen_assets.lib.warehouse.spend import Task, reserve
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, TEST_DAY

PLANNING = {"keyframe_model": "tiny", "video_model": "tiny", "s_per_clip": 12.0, "s_per_keyframe": 0.5}
PRICE = 0.10  # runway-gen4-turbo, 2 s


def paid(lines: list[dict]) -> list[tuple]:
    return [(line["provider"], line["model"], line["clips"], line["takes"], line["list_usd"]) for line in lines if line["provider"] != "local"]


@BOTH_WAREHOUSES
def test_the_estimate_counts_only_the_tasks_a_run_would_create(store):
    runway = {"video_model": "runway-gen4-turbo", "num_frames": 48}
    store.upsert_prompts([
        PromptSpec("long", TEST_DAY, "a fox running", seed=1, takes=3, **runway),
        PromptSpec("a", TEST_DAY, "a heron", seed=2, **runway),
        PromptSpec("twin", TEST_DAY, "a heron", seed=2, **runway),  # the same clip as "a": created once
        PromptSpec("b", TEST_DAY, "a gull", seed=3, **runway),
        PromptSpec("local", TEST_DAY, "a lighthouse", seed=4),
    ])  # fmt: skip
    media = open_media_store(environment.media_uri())
    lines = estimate_day(store, media, TEST_DAY, p50={}, **PLANNING)
    assert paid(lines) == [("runway", "runway-gen4-turbo", 3, 5, pytest.approx(5 * PRICE))]
    local = {(line["model"], line["kind"]): line for line in lines if line["provider"] == "local"}
    assert local[("tiny", "keyframe")]["clips"] == 4 and local[("tiny", "keyframe")]["gpu_s"] == 2.0  # "twin" shares "a"'s
    assert local[("tiny", "clip")]["clips"] == 1 and local[("tiny", "clip")]["gpu_s"] == 12.0

    by_prompt = {item["prompt_id"]: item for item in planned_day(store, TEST_DAY, "tiny", "tiny")[1]}
    with media.writing(by_prompt["long"]["takes"][0]["media_key"]) as path:
        path.write_bytes(b"take 0 made")  # a finished take is reused
    running = new_intent("runway", "gen4_turbo", by_prompt["long"]["takes"][1]["key"], "long")
    running.state, running.task_id = SUBMITTED, "task-1"  # created by an earlier run: polled, not created
    write_record(media, running)
    refused = new_intent("runway", "gen4_turbo", by_prompt["b"]["key"], "b")
    refused.state = FAILED  # moderation: final until the row changes
    write_record(media, refused)
    lines = estimate_day(store, media, TEST_DAY, p50={("clip", "tiny"): 3.0}, **PLANNING)
    assert paid(lines) == [("runway", "runway-gen4-turbo", 2, 2, pytest.approx(2 * PRICE))]
    assert [line["gpu_s"] for line in lines if line["kind"] == "clip" and line["provider"] == "local"] == [3.0]

    reserve(store, Task(TEST_DAY, "runway", "runway-gen4-turbo", "clip-x", "x", "r", 0.05), [])
    found = estimate_days(store, media, [TEST_DAY], Budgets(per_day=0.2, per_provider_day={"runway": 0.5}), **PLANNING)
    assert found["list_usd"] == pytest.approx(2 * PRICE)
    assert [(b["budget"], b["remaining_usd"]) for b in found["budgets"]] == [
        ("VIDGEN_BUDGET_USD_PER_DAY", pytest.approx(0.15)), ("VIDGEN_RUNWAY_BUDGET_USD_PER_DAY", pytest.approx(0.45))]
    assert found["over"] == [f"VIDGEN_BUDGET_USD_PER_DAY for {TEST_DAY}: 0.20 USD asked, 0.15 USD left"]

"""Budgets and the spend ledger through the public CLI against the fake Runway (its own process, the real
protocol): a day over `VIDGEN_BUDGET_USD_PER_DAY` creates exactly the clips
that fit, refuses the rest with `budget` (out of the reel, in metadata and lineage), and a later run with
room creates them; `vidgen estimate` says beforehand what the run then creates."""

from __future__ import annotations

import json

import pytest

from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES, TEST_DAY
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.test_cli import vidgen
from vidgen_assets_tests.test_providers_day import latest_metadata

pytestmark = pytest.mark.slow

KEY = "budget-secret-9a7e"
PRICE = 0.10  # runway-gen4-turbo, 2 s (48 frames at 24 fps) at 5 credits/s, $0.01 a credit


@pytest.fixture(scope="module")
def runway_fake():
    with running_fake("vidgen_assets_tests.fakes.runway") as fake:
        yield fake


@pytest.fixture
def runway(runway_fake, monkeypatch):
    runway_fake.reset()
    runway_fake.configure(processing_s=0.3)
    monkeypatch.setenv("RUNWAYML_BASE_URL", runway_fake.base_url)
    monkeypatch.setenv("RUNWAYML_API_SECRET", KEY)
    monkeypatch.setenv("VIDGEN_PROVIDER_CONCURRENCY", "8")
    return runway_fake


def import_rows(tmp_path, count: int, day=TEST_DAY) -> None:
    lines = ["prompt_id,scheduled_for,prompt,negative_prompt,seed,keyframe_model,video_model,num_frames"]
    lines += [f"r{n},{day},a lighthouse in fog {n},,{n},tiny,runway-gen4-turbo,48" for n in range(1, count + 1)]
    path = tmp_path / f"rows-{day}.csv"
    path.write_text("\n".join(lines) + "\n")
    result = vidgen("prompts", "import", str(path))
    assert result.returncode == 0, result.stderr[-2000:]


def estimate(day=TEST_DAY, env: dict | None = None) -> dict:
    result = vidgen("estimate", "--date", str(day), "--format", "json", env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def ledger(store: Warehouse) -> list[tuple[str, float, float | None]]:
    with store.connect() as session:
        rows = session.execute("SELECT state, reserved_usd, billed_usd FROM spend ORDER BY state").fetchall()
    return [(state, round(reserved, 6), None if billed is None else round(billed, 6)) for state, reserved, billed in rows]


def refused_in_lineage(store: Warehouse) -> list[str]:
    with store.connect() as session:
        rows = session.execute("SELECT prompt_id, models FROM clips WHERE kind = 'clip' ORDER BY recorded_at").fetchall()
    latest = {prompt_id: json.loads(models)["video"] for prompt_id, models in rows}
    return sorted(p for p, video in latest.items() if (video.get("failure") or {}).get("code") == "budget")


# One warehouse end to end (two day runs take minutes): the ledger's SQL runs on both in test_spend_ledger.py.
@pytest.mark.parametrize("store", ["postgres"], indirect=True)
def test_a_day_over_its_budget_creates_what_fits_and_a_later_run_the_rest(store, runway, tmp_path, monkeypatch):
    import_rows(tmp_path, 5)
    monkeypatch.setenv("VIDGEN_BUDGET_USD_PER_DAY", f"{3 * PRICE:.2f}")
    # 2 refused of 5 is above VIDGEN_MAX_FAILED_CLIP_SHARE's 20 %: refusals are not render failures, the reel is made.

    before = estimate()
    (paid,) = [line for line in before["lines"] if line["provider"] == "runway"]
    assert (paid["model"], paid["clips"], paid["takes"], paid["list_usd"]) == ("runway-gen4-turbo", 5, 5, 5 * PRICE)
    assert before["budgets"] == [{"budget": "VIDGEN_BUDGET_USD_PER_DAY", "limit_usd": 0.3, "spent_usd": 0.0,
                                  "remaining_usd": 0.3, "day": str(TEST_DAY)}]  # fmt: skip
    assert before["over"] and "VIDGEN_BUDGET_USD_PER_DAY" in before["over"][0]

    first = vidgen("run", "--date", str(TEST_DAY))
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-3000:]
    assert f"estimate {TEST_DAY}: 5 runway-gen4-turbo task(s) 0.50 USD" in first.stdout
    assert runway.stats()["creates"] == 3  # exactly the clips that fit
    videos, reel = latest_metadata("videos"), latest_metadata("reel")
    assert sorted(r["code"] for r in videos["provider_refusals"]) == ["budget", "budget"]
    assert "VIDGEN_BUDGET_USD_PER_DAY" in videos["provider_refusals"][0]["reason"]
    assert (reel["clips_included"], reel["clips_excluded"]) == (3, 2)
    assert len(refused_in_lineage(store)) == 2
    assert ledger(store) == [("billed", PRICE, PRICE)] * 3 + [("refused", PRICE, None)] * 2

    # The refused clips are asked for again: the estimate names them, and a run with room creates just those.
    monkeypatch.setenv("VIDGEN_BUDGET_USD_PER_DAY", f"{5 * PRICE:.2f}")
    after = estimate()
    (paid,) = [line for line in after["lines"] if line["provider"] == "runway"]
    assert (paid["clips"], paid["takes"], after["over"]) == (2, 2, [])
    assert after["budgets"][0]["remaining_usd"] == pytest.approx(2 * PRICE)
    second = vidgen("run", "--date", str(TEST_DAY))
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-3000:]
    assert runway.stats()["creates"] == 5  # what the estimate said: 2 more
    assert latest_metadata("reel")["clips_included"] == 5
    assert [line for line in estimate()["lines"] if line["provider"] == "runway"] == []

    stats = vidgen("stats", "--days", "1", "--until", str(TEST_DAY))
    assert stats.returncode == 0, stats.stderr[-2000:]
    assert f"{TEST_DAY}  runway" in stats.stdout and "0.5000 USD" in stats.stdout and "refused 2" in stats.stdout
    assert "day budget 0.50 USD" in stats.stdout
    assert KEY not in first.stdout + first.stderr + second.stdout + second.stderr


def test_a_budget_that_is_not_an_amount_is_named_before_anything_runs(vidgen_home, runway, tmp_path, monkeypatch):
    import_rows(tmp_path, 1)
    monkeypatch.setenv("VIDGEN_RUNWAY_BUDGET_USD_PER_DAY", "ten dollars")
    for command in (("estimate", "--date", str(TEST_DAY)), ("run", "--date", str(TEST_DAY))):
        result = vidgen(*command)
        assert result.returncode == 2
        assert "VIDGEN_RUNWAY_BUDGET_USD_PER_DAY must be an amount of US dollars" in result.stderr
        assert "Traceback" not in result.stderr
    assert runway.stats()["creates"] == 0


@BOTH_WAREHOUSES
def test_a_sensor_tick_asking_for_days_over_budget_says_so(store, monkeypatch, capfd):
    import dagster as dg

    from vidgen_assets.definitions import build_definitions
    from vidgen_assets.lib.warehouse import PromptSpec
    from vidgen_assets_tests.test_sensor import tick

    definitions = build_definitions()
    cursor = tick(definitions, store, None).cursor
    monkeypatch.setenv("VIDGEN_RUNWAY_BUDGET_USD_PER_DAY", "0.15")
    store.upsert_prompts([PromptSpec(f"s{n}", TEST_DAY, f"a gull {n}", seed=n, video_model="runway-gen4-turbo", num_frames=48)
                          for n in range(2)])  # fmt: skip
    capfd.readouterr()
    result = tick(definitions, store, cursor)
    (request,) = result.run_requests
    assert request.partition_key == str(TEST_DAY)
    reason = request.tags["vidgen/over_budget"]
    assert reason.startswith("estimate 0.20 USD exceeds what remains: VIDGEN_RUNWAY_BUDGET_USD_PER_DAY for 2026-11-01")
    assert "0.15 USD left" in reason and "WARNING - " + reason in capfd.readouterr().err  # the tick's log
    monkeypatch.setenv("VIDGEN_RUNWAY_BUDGET_USD_PER_DAY", "0.20")  # it fits: nothing said
    store.upsert_prompts([PromptSpec("s0", TEST_DAY, "a gull 0, at dusk", seed=0, video_model="runway-gen4-turbo", num_frames=48)])
    assert "vidgen/over_budget" not in tick(definitions, store, result.cursor).run_requests[0].tags
    assert isinstance(request, dg.RunRequest)

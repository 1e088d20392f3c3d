"""The spend ledger and the budget rule, on DuckDB and PostgreSQL: reservations from concurrent processes
(each with threads) never hold more than a budget, settling bills or releases, and budget settings."""

from __future__ import annotations

import multiprocessing
from datetime import date, timedelta

import pytest

from vidgen_assets.lib.rules.budget import Budgets, BudgetSettingError, LedgerSpending, task_price
from vidgen_assets.lib.generation.providers.spending import BudgetRefused
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.spend import Limit, Task, day_spend, month_spent, reserve, settle
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

DAY = date(2026, 11, 1)
PRICE = 0.25


def _reserve_many(target: str, worker: int, count: int, budget: float, results) -> None:
    """One process: `count` reservations from 3 threads against a monthly budget; the ids it got."""
    from concurrent.futures import ThreadPoolExecutor

    warehouse = Warehouse(target)
    limits = [Limit("VIDGEN_BUDGET_USD_PER_MONTH", "month", budget)]

    def one(n: int) -> bool:
        task = Task(DAY + timedelta(days=worker), "runway", "runway-gen4-turbo", f"clip-{worker}-{n}", f"p{n}", f"run{worker}", PRICE)
        spend_id, short, _ = reserve(warehouse, task, limits)
        if short is None:
            settle(warehouse, task.clip_key, PRICE, spend_id=spend_id)
        return short is None

    with ThreadPoolExecutor(3) as pool:
        results.put(sum(pool.map(one, range(count))))


@BOTH_WAREHOUSES
def test_four_processes_never_hold_more_than_the_monthly_budget(store):
    with store.connect():
        pass  # migrated once, before the processes race
    budget = 12.4 * PRICE  # room for 12 tasks, not 13
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    workers = [context.Process(target=_reserve_many, args=(store.target, w, 6, budget, results)) for w in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    created = sum(results.get(timeout=5) for _ in workers)
    assert created == 12
    assert month_spent(store) == pytest.approx(12 * PRICE) and month_spent(store) <= budget
    refused = sum(row["refused"] for row in day_spend(store, DAY, DAY + timedelta(days=3)))
    assert refused == 24 - 12


@BOTH_WAREHOUSES
def test_settling_bills_or_releases_and_a_resumed_task_settles_the_earlier_reservation(store):
    limits = [Limit("VIDGEN_BUDGET_USD_PER_DAY", "day", 0.5)]
    first, _, _ = reserve(store, Task(DAY, "runway", "m", "clip-a", "a", "run1", PRICE), limits)
    reserve(store, Task(DAY, "runway", "m", "clip-b", "b", "run1", PRICE), limits)
    _, short, remaining = reserve(store, Task(DAY, "runway", "m", "clip-c", "c", "run1", PRICE), limits)
    assert short.name == "VIDGEN_BUDGET_USD_PER_DAY" and remaining == 0.0
    assert settle(store, "clip-a", 0.0, spend_id=first, reason="refused at create") == 1  # released: room again
    assert settle(store, "clip-b", 0.3) == 1  # no id: the task an earlier run created, resumed here
    (row,) = day_spend(store, DAY, DAY)
    assert (row["spent_usd"], row["billed_usd"], row["held_usd"], row["tasks"], row["refused"]) == (
        pytest.approx(0.3), pytest.approx(0.3), 0, 2, 1)  # fmt: skip
    _, short, _ = reserve(store, Task(DAY, "runway", "m", "clip-c", "c", "run2", 0.2), limits)
    assert short is None  # 0.3 billed + 0.2 fits 0.5 exactly


@BOTH_WAREHOUSES
def test_a_reservation_left_by_a_killed_run_is_released_when_the_clip_is_asked_for_again(store):
    """A run killed while waiting out a Retry-After held the clip's price and created nothing: the run that
    takes the clip over must not be refused by that dead reservation, nor count it twice."""
    limits = [Limit("VIDGEN_BUDGET_USD_PER_DAY", "day", 0.3)]
    reserve(store, Task(DAY, "replicate", "m", "clip-a", "a", "killed-run", PRICE), limits)  # never settled
    _, short, _ = reserve(store, Task(DAY, "replicate", "m", "clip-a", "a", "next-run", PRICE), limits)
    assert short is None
    (row,) = day_spend(store, DAY, DAY)
    assert (row["held_usd"], row["tasks"], row["refused"]) == (pytest.approx(PRICE), 2, 0)
    with store.connect() as session:
        states = session.rows("SELECT run_id, state, reason FROM spend ORDER BY run_id")
    assert [(r["run_id"], r["state"]) for r in states] == [("killed-run", "released"), ("next-run", "reserved")]
    assert states[0]["reason"].startswith("superseded")


def test_budgets_come_from_the_environment_and_a_bad_one_is_named(vidgen_home):
    budgets = Budgets.from_env({"VIDGEN_BUDGET_USD_PER_DAY": "5", "VIDGEN_BUDGET_USD_PER_MONTH": " 100.5 ",
                                "VIDGEN_LUMA_BUDGET_USD_PER_DAY": "2"})  # fmt: skip
    assert [(limit.name, limit.usd) for limit in budgets.limits("luma")] == [
        ("VIDGEN_LUMA_BUDGET_USD_PER_DAY", 2.0), ("VIDGEN_BUDGET_USD_PER_DAY", 5.0), ("VIDGEN_BUDGET_USD_PER_MONTH", 100.5)]
    assert [limit.name for limit in budgets.limits("fal")] == ["VIDGEN_BUDGET_USD_PER_DAY", "VIDGEN_BUDGET_USD_PER_MONTH"]
    assert Budgets.from_env({}).limits("fal") == []  # unset: no limit
    for bad in ("-1", "nan", "inf", "5$"):
        with pytest.raises(BudgetSettingError, match="VIDGEN_BUDGET_USD_PER_MONTH must be an amount"):
            Budgets.from_env({"VIDGEN_BUDGET_USD_PER_MONTH": bad})


def test_the_gate_refuses_with_the_budget_it_has_no_room_in(vidgen_home):
    store = Warehouse(vidgen_home / "warehouse.duckdb")
    item = {"provider": "fal", "preset": "fal-kling-2.1", "task": "image-to-video", "key": "clip-x", "prompt_id": "x",
            "params": {"num_frames": 120, "fps": 24}}  # fmt: skip
    assert task_price(item) == pytest.approx(0.28)
    spending = LedgerSpending(store, DAY, "run1", Budgets(per_provider_day={"fal": 0.5}))
    spending(item).reserve()
    with pytest.raises(BudgetRefused, match=r"VIDGEN_FAL_BUDGET_USD_PER_DAY is 0.50 USD and 0.22 USD of it remains"):
        spending({**item, "key": "clip-y"}).reserve()


def test_four_concurrent_runs_on_postgres_stay_within_one_clips_price_of_the_monthly_budget(postgres_url):
    """bench_providers' budget part, small: 4 runner processes, half their clips shared, one ledger."""
    from benchmarks.bench_providers import budget_part
    from vidgen_assets_tests.fakes.harness import running_fake

    with running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        money = budget_part(fake, clips=6, share=0.5, concurrency=4, warehouse=postgres_url, processing_s=0.5)
    assert money["budget"] == pytest.approx(0.5 * money["distinct"] * money["price"])
    assert money["spent"] - money["budget"] <= money["price"]  # overshoot ≤ one clip's list price
    assert money["refused"] >= 1 and money["creates"] >= 1
    with Warehouse(postgres_url).connect() as session:
        (created,) = session.execute("SELECT count(*) FROM spend WHERE state <> 'refused'").fetchone()
    assert created == money["creates"]  # every create went through the ledger

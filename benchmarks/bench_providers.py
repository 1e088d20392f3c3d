"""Hosted clips at scale: 200 clips against the fake Replicate (its own process, the real protocol) with
2 s of simulated processing each and 20 tasks in flight.

It drives the provider runner directly (`lib/generation/providers/runner.py`, no Dagster) with a real local
media store: the same code the `render_replicate_clips` step runs, including the durable task records,
polling, download and the decode check of every clip. Measured:
  wall_s            rendering all clips (create, poll, download, decode, store)
  ideal_s           clips × processing ÷ concurrency: the provider's time alone
  ratio             wall_s / ideal_s (target ≤ 1.3)
  creates_per_clip  creates the fake counted ÷ clips (target exactly 1)
  peak_threads, peak_rss_mb   of this process while rendering
Then the budget part: 4 concurrent runs (processes), each of `--budget-clips` clips of which half are shared
by all four, against one monthly budget in one spend ledger (a DuckDB file, or `--warehouse` a PostgreSQL
URL) holding `--budget-share` of the distinct clips' list price:
  creates_per_clip  now over both parts: creates ÷ distinct clips (target exactly 1)
  overshoot_usd     what the ledger counts beyond the budget (target ≤ one clip's list price)
  budget_refused    clips refused with `budget` across the 4 runs
Prints readable lines, then one JSON line {clips, wall_s, ideal_s, ratio, creates_per_clip, peak_rss_mb,
overshoot_usd, budget_refused}.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

import psutil
from PIL import Image

from vidgen_assets.lib.generation.plan import plan_clips
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.rules.budget import Budgets, LedgerSpending, task_price
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.claims import WarehouseClaims
from vidgen_assets.lib.warehouse.spend import month_spent
from vidgen_assets_tests.fakes.harness import running_fake


def planned_day(store, clips: int, first: int = 0) -> list[dict]:
    """One replicate-svd-xt row per clip, each with its own small keyframe in the store."""
    rows, keyframes = [], []
    for n in range(first, first + clips):
        key = f"keyframe-bench-{n}"
        with store.writing(f"keyframes/{key}.png") as path:
            Image.new("RGB", (64, 64), (n % 256, (n * 7) % 256, 90)).save(path, format="PNG")
        rows.append({"prompt_id": f"b{n}", "prompt": f"bench {n}", "seed": n, "video_model": "replicate-svd-xt"})
        keyframes.append({"prompt_id": f"b{n}", "key": key, "media_key": f"keyframes/{key}.png"})
    return plan_clips(rows, keyframes, "tiny")


class PeakThreads:
    """Samples this process's thread count every 50 ms."""

    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        process = psutil.Process()
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, process.num_threads())

    def __enter__(self) -> PeakThreads:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def budget_run(run: int, media: str, base_url: str, warehouse: str, clips: int, budget: float, concurrency: int, results) -> None:
    """One run (its own process): half its clips shared with every run, half its own, under the monthly budget;
    each task created under its clip's claim in the same warehouse, as the provider step does."""
    store = open_media_store(media)
    items = planned_day(store, clips // 2) + planned_day(store, clips - clips // 2, first=100_000 * (run + 1))
    ledger = Warehouse(warehouse)
    spending = LedgerSpending(ledger, date(2026, 11, 1 + run), f"bench-{run}", Budgets(per_month=budget))
    done = render_hosted_items(items, store, client_for("replicate", "r8_bench-token", base_url), StepProfile(total=len(items)),
                               settings=HostedSettings(concurrency=concurrency), report=lambda line: None,
                               claims=WarehouseClaims(ledger), spending=spending)  # fmt: skip
    results.put(sum(1 for item in done if item.get("failure", {}).get("code") == "budget"))


def budget_part(fake, clips: int, share: float, concurrency: int, warehouse: str | None, processing_s: float) -> dict:
    """4 concurrent runs sharing half their clips under one monthly budget: creates, refusals, overshoot."""
    with tempfile.TemporaryDirectory() as home:
        target = warehouse or str(Path(home) / "warehouse.duckdb")
        ledger = Warehouse(target)
        with ledger.connect():
            pass  # migrated before the runs race
        already = month_spent(ledger)  # a shared PostgreSQL ledger may hold this month's earlier spend
        distinct = clips // 2 + 4 * (clips - clips // 2)
        price = task_price(planned_day(open_media_store(home + "/probe"), 1)[0])
        budget = round(already + share * distinct * price, 6)
        fake.reset()  # zeroed counters (tasks kept): creates per input count this part alone
        fake.configure(processing_s=processing_s)
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        runs = [context.Process(target=budget_run, args=(n, home + "/media", fake.base_url, target, clips,
                                                         budget, concurrency, results)) for n in range(4)]  # fmt: skip
        for run in runs:
            run.start()
        for run in runs:
            run.join()
        refused = sum(results.get(timeout=10) for _ in runs)
        spent = month_spent(ledger)
    stats = fake.stats()
    return {"distinct": distinct, "creates": stats["creates"], "created_clips": len(stats["creates_by_input"]),
            "budget": budget - already, "spent": spent - already, "price": price, "refused": refused}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--processing-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--budget-clips", type=int, default=40, help="clips per run in the budget part (half shared)")
    parser.add_argument("--budget-share", type=float, default=0.5, help="the monthly budget as a share of the distinct clips' list price")
    parser.add_argument("--warehouse", help="the spend ledger's PostgreSQL URL (default: a temporary DuckDB file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as media, running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        store = open_media_store(media)
        items = planned_day(store, args.clips)
        fake.configure(processing_s=args.processing_s)
        client = client_for("replicate", "r8_bench-token", fake.base_url)
        settings = HostedSettings(concurrency=args.concurrency)
        started = time.perf_counter()
        with PeakThreads() as threads:
            done = render_hosted_items(items, store, client, StepProfile(total=len(items)), settings=settings, report=lambda line: None)
        wall = time.perf_counter() - started
        stats = fake.stats()
        money = budget_part(fake, args.budget_clips, args.budget_share, args.concurrency, args.warehouse, args.processing_s)
    made = sum(1 for item in done if item.get("frames"))
    ideal = args.clips * args.processing_s / args.concurrency
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{made}/{args.clips} clips made in {wall:.1f} s (ideal {ideal:.1f} s: {args.clips} × {args.processing_s} s ÷ {args.concurrency})")
    print(f"creates {stats['creates']}, polls {stats['polls']} ({stats['polls'] / args.clips:.1f} per clip), peak threads {threads.peak}, peak RSS {peak_rss_mb:.0f} MB")
    overshoot = max(0.0, money["spent"] - money["budget"])
    print(f"budget part: 4 runs × {args.budget_clips} clips (half shared), {money['distinct']} distinct, budget "
          f"{money['budget']:.4f} USD: {money['creates']} creates of {money['created_clips']} clips, {money['refused']} refused (budget), ledger "
          f"{money['spent']:.4f} USD, overshoot {overshoot:.4f} USD (one clip lists at {money['price']:.4f} USD)")  # fmt: skip
    print(json.dumps({
        "clips": args.clips, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3),
        "creates_per_clip": round((stats["creates"] + money["creates"]) / (args.clips + money["created_clips"]), 3),
        "peak_rss_mb": round(peak_rss_mb, 1), "overshoot_usd": round(overshoot, 6), "budget_refused": money["refused"],
    }))  # fmt: skip


if __name__ == "__main__":
    main()

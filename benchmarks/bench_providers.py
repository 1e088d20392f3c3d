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
Prints readable lines, then one JSON line {clips, wall_s, ideal_s, ratio, creates_per_clip, peak_rss_mb}.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import threading
import time

import psutil
from PIL import Image

from vidgen_assets.lib.generation.plan import plan_clips
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.storage import open_media_store
from vidgen_assets_tests.fakes.harness import running_fake


def planned_day(store, clips: int) -> list[dict]:
    """One replicate-svd-xt row per clip, each with its own small keyframe in the store."""
    rows, keyframes = [], []
    for n in range(clips):
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--processing-s", type=float, default=2.0)
    parser.add_argument("--concurrency", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as media, running_fake("vidgen_assets_tests.fakes.replicate_server") as fake:
        store = open_media_store(media)
        items = planned_day(store, args.clips)
        fake.configure(processing_s=args.processing_s)
        client = client_for("replicate", "bench-token", fake.base_url)
        settings = HostedSettings(concurrency=args.concurrency)
        started = time.perf_counter()
        with PeakThreads() as threads:
            done = render_hosted_items(items, store, client, StepProfile(total=len(items)), settings=settings, report=lambda line: None)
        wall = time.perf_counter() - started
        stats = fake.stats()
    made = sum(1 for item in done if item.get("frames"))
    ideal = args.clips * args.processing_s / args.concurrency
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{made}/{args.clips} clips made in {wall:.1f} s (ideal {ideal:.1f} s: {args.clips} × {args.processing_s} s ÷ {args.concurrency})")
    print(f"creates {stats['creates']}, polls {stats['polls']} ({stats['polls'] / args.clips:.1f} per clip), peak threads {threads.peak}, peak RSS {peak_rss_mb:.0f} MB")
    print(json.dumps({
        "clips": args.clips, "wall_s": round(wall, 2), "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3),
        "creates_per_clip": round(stats["creates"] / args.clips, 3), "peak_rss_mb": round(peak_rss_mb, 1),
    }))  # fmt: skip


if __name__ == "__main__":
    main()

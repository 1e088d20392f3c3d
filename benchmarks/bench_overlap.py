"""A shard of clips rendered with and without the encode overlap: seconds, ratio, and the same bytes.

With `overlap_encode`, `render_clip_shard` decodes and H.264-encodes clip N on a CPU worker thread while
clip N+1 denoises. Both runs render the same planned shard (tiny preset by default, on this machine's
device) into fresh media stores, alternately `--repeats` times (the best of each counts: a shared machine is
noisy); every clip's sha256 must match. Final line: JSON
{"clips", "serial_s", "overlap_s", "ratio", "same_bytes"}.

    python benchmarks/bench_overlap.py [--clips 8] [--frames 8] [--repeats 3] [--models-dir DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import tempfile
import time
from pathlib import Path

from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation.plan import plan_clips, plan_keyframes
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.render import render_clip_shard, render_keyframe_shard
from vidgen_assets.lib.storage import LocalMediaStore

BUCKETS = (100, 127)  # two clips per keyframe, as a day's rows have


def rows(clips: int, frames: int) -> list[dict]:
    return [{"prompt_id": f"r{n}", "prompt": f"a paper boat on a pond, take {n}", "seed": 100 + n,
             "negative_prompt": "", "num_frames": frames, "motion_bucket_ids": BUCKETS}
            for n in range((clips + len(BUCKETS) - 1) // len(BUCKETS))]  # fmt: skip


def timed_shard(root: Path, keyframe_root: Path, day: list[dict], keyframes: list[dict], pipeline, overlap: bool):
    """Seconds to render the shard into a fresh store holding only the keyframes, and each clip's sha256."""
    shutil.copytree(keyframe_root, root)
    store = LocalMediaStore(root)
    items = plan_clips(day, keyframes, "tiny")
    started = time.perf_counter()
    render_clip_shard(items, store, lambda *_: pipeline, StepProfile(total=len(items)), report=lambda _: None,
                      overlap_encode=overlap)  # fmt: skip
    seconds = time.perf_counter() - started
    return seconds, [hashlib.sha256(Path(store.uri(i["media_key"])).read_bytes()).hexdigest() for i in items]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clips", type=int, default=8)
    parser.add_argument("--frames", type=int, default=8, help="frames per clip")
    parser.add_argument("--repeats", type=int, default=3, help="alternate runs of each; the fastest counts")
    parser.add_argument("--models-dir", type=Path, help="where the tiny models are built (default: a scratch dir)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        models = args.models_dir or scratch / "models"
        t2i = PIPELINES.get(get_preset("tiny", "text-to-image"), models)
        i2v = PIPELINES.get(get_preset("tiny", "image-to-video"), models)
        day = rows(args.clips, args.frames)
        keyframe_store = LocalMediaStore(scratch / "keyframes")
        keyframes = render_keyframe_shard(plan_keyframes(day, "tiny", "tiny"), keyframe_store, lambda *_: t2i,
                                          StepProfile(total=len(day)), report=lambda _: None)  # fmt: skip
        timed_shard(scratch / "warmup", scratch / "keyframes", day[:1], keyframes[:1], i2v, overlap=True)
        runs = {False: [], True: []}
        for repeat in range(args.repeats):
            for overlap in runs:
                root = scratch / f"{'overlap' if overlap else 'serial'}-{repeat}"
                runs[overlap].append(timed_shard(root, scratch / "keyframes", day, keyframes, i2v, overlap))
        (serial_s, serial), (overlap_s, _) = min(runs[False]), min(runs[True])
        same = all(hashes == serial for _, hashes in runs[False] + runs[True])
    print(f"{len(serial)} clips: serial {serial_s:.2f} s, overlapped {overlap_s:.2f} s")
    print(json.dumps({"clips": len(serial), "serial_s": round(serial_s, 3), "overlap_s": round(overlap_s, 3),
                      "ratio": round(overlap_s / serial_s, 3), "same_bytes": same}))  # fmt: skip


if __name__ == "__main__":
    main()

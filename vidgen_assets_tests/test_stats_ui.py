"""`render_stats` as the UI shows it: per-keyframe timing of batched renders, days as dates, a table that fits."""

from __future__ import annotations

import json
import types

import pandas as pd

from vidgen_assets.lib.generation import PIPELINES, get_preset
from vidgen_assets.lib.generation import render as render_module
from vidgen_assets.lib.generation.plan import plan_keyframes
from vidgen_assets.lib.generation.render import render_keyframe_shard
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.stats import RunTimings, day_stats
from vidgen_assets.lib.stats.format import UI_SHOWN, as_json, markdown_table
from vidgen_assets.lib.storage import LocalMediaStore
from vidgen_assets.lib.warehouse.lineage import lineage_row
from vidgen_assets.lib.warehouse.render_stats import STATS_COLUMNS
from vidgen_assets_tests.conftest import TEST_DAY


class Clock:
    """A clock only the pipeline moves: each image it makes costs the seconds its prompt names."""

    def __init__(self):
        self.now = 100.0

    def perf_counter(self) -> float:
        return self.now


class TimedPipeline:
    """The real tiny pipeline; each call advances the clock by the known cost of every image in the batch."""

    def __init__(self, pipeline, clock: Clock, cost: dict[str, float]):
        self.pipeline, self.clock, self.cost, self.batches = pipeline, clock, cost, []

    def __call__(self, prompt, **kwargs):
        self.batches.append(len(prompt))
        self.clock.now += sum(self.cost[p] for p in prompt)
        return self.pipeline(prompt=prompt, **kwargs)


def test_batched_keyframes_each_get_their_share_of_the_batch_time(models_dir, tmp_path, monkeypatch):
    clock = Clock()
    monkeypatch.setattr(render_module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
    # Six rows in batches of four: 4 × 0.5 s, then 2 × 1.5 s.
    cost = {f"prompt {n}": 0.5 if n < 4 else 1.5 for n in range(6)}
    rows = [{"prompt_id": f"p{n}", "prompt": f"prompt {n}", "seed": n} for n in range(6)]
    pipeline = TimedPipeline(PIPELINES.get(get_preset("tiny", "text-to-image"), models_dir), clock, cost)
    profile = StepProfile(total=6)
    items = render_keyframe_shard(plan_keyframes(rows, "tiny", "tiny"), LocalMediaStore(tmp_path), lambda *_: pipeline,
                                  profile, batch_size=4)  # fmt: skip
    assert pipeline.batches == [4, 2]
    assert [i["seconds"] for i in items] == [0.5, 0.5, 0.5, 0.5, 1.5, 1.5]
    assert sum(profile.seconds) == 5.0  # the day's keyframes took 5 s, and the items add up to it

    rows = [lineage_row(key=i["key"], kind="keyframe", day=TEST_DAY, uri=i["key"], prompt_id=i["prompt_id"],
                        models={"keyframe": {"preset": "tiny"}}, timings={"render_s": i["seconds"]}, run_id="r1")
            for i in items]  # fmt: skip
    # As the warehouse returns them: JSON columns as text.
    records = pd.DataFrame([{**r, **{c: json.dumps(r[c]) for c in ("models", "params", "timings")}} for r in rows])
    stats = day_stats(records, RunTimings(run_id="r1"), price_per_gpu_hour=0.0)
    assert stats["s_per_item_p50"].iloc[0] == 0.5 and stats["s_per_item_p95"].iloc[0] == 1.5


def test_days_show_as_dates_and_the_ui_table_keeps_to_columns_that_fit():
    stats = pd.DataFrame([{column: None for column in STATS_COLUMNS} | {
        "day": pd.Timestamp(TEST_DAY), "kind": "clip", "model": "tiny", "items": 3, "rendered": 3, "cache_hit_rate": 0.0,
        "s_per_item_p50": 1.25, "run_id": "r1", "model_id": "some/long-model-id",
    }])  # fmt: skip
    table = markdown_table(stats, UI_SHOWN)
    header, _, row = table.splitlines()
    assert f"| {TEST_DAY.isoformat()} |" in row and "00:00:00" not in table
    assert len(header.split("|")) - 2 == len(UI_SHOWN) <= 9
    assert "model_id" not in header and "some/long-model-id" not in row
    # Everything stays in the JSON (and the warehouse table): the UI only shows less.
    (record,) = json.loads(as_json(stats))
    assert record["day"] == TEST_DAY.isoformat() and record["model_id"] == "some/long-model-id"

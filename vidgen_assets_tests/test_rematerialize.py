"""Single-asset re-materialization through Dagster's own CLI, after a change to each upstream.

Each asset must build from its direct upstream's current output for the day, never from a file
another asset wrote at a fixed path, or stop naming the upstream to materialize.
"""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import REPO_ROOT, TEST_DAY
from vidgen_assets_tests.test_end_to_end import load

pytestmark = pytest.mark.slow

DAY = TEST_DAY.isoformat()
ROWS = [
    {"prompt_id": "p1", "scheduled_for": DAY, "prompt": "a fox in snow", "seed": 1, "num_frames": 4},
    {"prompt_id": "p2", "scheduled_for": DAY, "prompt": "a boat", "style": "watercolor", "seed": 2, "num_frames": 4},
    {"prompt_id": "p3", "scheduled_for": DAY, "prompt": "a lighthouse", "seed": 3, "num_frames": 4},
]  # fmt: skip


def materialize(asset: str, day: str = DAY) -> subprocess.CompletedProcess:
    """`dagster asset materialize` for one asset and day, as a user would run it."""
    return subprocess.run(
        [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "vidgen_assets.definitions",
         "--select", asset, "--partition", day],
        cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def cli_env() -> dict[str, str]:
    # Steps in the command's own process: what an asset reads does not depend on the executor, and step
    # processes (test_fanout.py, test_share_nothing.py) would double the time of these twelve commands.
    pythonpath = os.pathsep.join(filter(None, [str(REPO_ROOT), os.getenv("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": pythonpath, "VIDGEN_EXECUTOR": "in_process"}


def materialized(asset: str) -> None:
    done = materialize(asset)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def output(asset: str):
    """The asset's stored output for the day, loaded through the IO manager as its downstream would."""
    from vidgen_assets.definitions import build_definitions

    with dg.DagsterInstance.get() as instance:
        return build_definitions().load_asset_value(asset, instance=instance, partition_key=DAY)


def stale_status() -> dict[str, str]:
    """Each asset's stale status for the day, as the UI shows it, through Dagster's GraphQL CLI."""
    query = '{ assetNodes { assetKey { path } staleStatusByPartition(partitions: ["%s"]) } }' % DAY
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dagster-graphql"), "-m", "vidgen_assets.definitions", "-t", query],
        cwd=REPO_ROOT, env=cli_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    answer = json.loads(next(line for line in done.stdout.splitlines() if line.startswith("{")))
    return {n["assetKey"]["path"][-1]: n["staleStatusByPartition"][0] for n in answer["data"]["assetNodes"]
            if n["assetKey"]["path"][-1] != "experiment"}  # partitioned by experiment name, not by day


def sql(statement: str) -> None:
    with Warehouse(environment.warehouse_target()).connect() as connection:
        connection.execute(statement)


def test_each_asset_rematerialized_alone_builds_from_its_direct_upstream(vidgen_home):
    load(ROWS)
    run_day(TEST_DAY)
    first_reel, first_videos = output("reel"), output("videos")

    # The case: a row soft-deleted, `prompts` re-read, then `reel` alone. It must build from the
    # videos it reads (all three rows), not mix the new snapshot with the old clips.
    sql("UPDATE prompts SET deleted_at = now() WHERE prompt_id = 'p2'")
    materialized("prompts")
    assert [r["prompt_id"] for r in output("prompts")["rows"]] == ["p1", "p3"]
    materialized("reel")
    reel = output("reel")
    assert reel["key"] == first_reel["key"] and reel["cache_hit"]  # same inputs: the same file, reused
    assert stale_status()["keyframes"] == "STALE"  # the UI marks what the new snapshot would change

    # `keyframes` alone follows the new snapshot; `reel` alone still follows the unchanged videos.
    materialized("keyframes")
    keyframes = output("keyframes")
    assert sorted(k["prompt_id"] for k in keyframes["items"]) == ["p1", "p3"]
    assert [r["prompt_id"] for r in keyframes["rows"]] == ["p1", "p3"]
    assert output("videos") == first_videos

    # `videos` alone follows the keyframes; its quality report covers exactly its clips.
    materialized("videos")
    videos = output("videos")
    assert sorted(c["prompt_id"] for c in videos["items"]) == ["p1", "p3"]
    assert set(videos["quality"]) == {c["key"] for c in videos["items"]}
    assert set(videos["rows"]) == {"p1", "p3"}
    materialized("soundtrack")  # it reads the videos too (none here: the day has no music prompt)
    materialized("reel")
    reel = output("reel")
    assert [c["key"] for c in reel["clips"]] == sorted(
        (c["key"] for c in videos["items"]), key=lambda k: next(c["prompt_id"] for c in videos["items"] if c["key"] == k)
    )  # fmt: skip
    assert not reel["cache_hit"] and reel["frames"] == 2 * 4
    assert stale_status()["render_stats"] == "STALE"  # downstream of the reel, not yet re-run
    materialized("render_stats")
    assert set(stale_status().values()) == {"FRESH"}

    # A changed prompt text: `videos` alone keeps following the keyframes it reads, until they change.
    sql("UPDATE prompts SET prompt = 'a red fox in snow', updated_at = now() WHERE prompt_id = 'p1'")
    materialized("prompts")
    materialized("videos")
    clip_parents = {c["prompt_id"]: c["keyframe"] for c in output("videos")["items"]}
    assert clip_parents == {k["prompt_id"]: k["key"] for k in keyframes["items"]}
    materialized("keyframes")
    new_keyframes = {k["prompt_id"]: k for k in output("keyframes")["items"]}
    assert new_keyframes["p1"]["prompt"] == "a red fox in snow"
    assert new_keyframes["p1"]["key"] != clip_parents["p1"] and new_keyframes["p3"]["key"] == clip_parents["p3"]


def test_an_asset_whose_upstream_was_never_materialized_names_it(vidgen_home):
    load(ROWS[:1])
    never = (TEST_DAY + timedelta(days=1)).isoformat()
    done = materialize("reel", never)
    assert done.returncode != 0
    # Both of the reel's upstreams are missing: the message names one, with the command that makes it.
    assert re.search(rf"materialize `(videos|soundtrack)` for {never} first", done.stdout + done.stderr)

"""`vidgen lineage` on a real warehouse (DuckDB file and PostgreSQL): shared content keys, rows not rendered yet, every run."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date

import pytest

from vidgen_assets.lib.warehouse import PromptSpec, Warehouse
from vidgen_assets.lib.warehouse.lineage import lineage_chain, lineage_row, record_lineage
from vidgen_assets_tests.conftest import BOTH_WAREHOUSES

pytestmark = BOTH_WAREHOUSES

DAY = date(2026, 11, 1)


def day_of_run(warehouse: Warehouse, run_id: str, prompt_ids: list[str], *, cache_hit: bool) -> None:
    """What one run records when every row makes the same keyframe and clip (same prompt, same seed)."""
    rows = []
    for prompt_id in prompt_ids:
        rows += [
            lineage_row(key="keyframe-same", kind="keyframe", day=DAY, uri="k.png", prompt_id=prompt_id,
                        cache_hit=cache_hit, run_id=run_id),
            lineage_row(key="clip-same", kind="clip", day=DAY, uri="c.mp4", prompt_id=prompt_id,
                        parents=["keyframe-same"], cache_hit=cache_hit, run_id=run_id),
        ]  # fmt: skip
    rows.append(lineage_row(key=f"reel-{run_id}", kind="reel", day=DAY, uri="r.mp4", parents=["clip-same"], run_id=run_id))
    record_lineage(warehouse, rows)


@pytest.fixture
def warehouse(store) -> Warehouse:
    warehouse = store
    warehouse.upsert_prompts([PromptSpec(p, DAY, "a fox", seed=1) for p in ("twin-a", "twin-b", "waiting")])
    day_of_run(warehouse, "run-1", ["twin-a", "twin-b"], cache_hit=False)
    day_of_run(warehouse, "run-2", ["twin-a", "twin-b"], cache_hit=True)
    return warehouse


def vidgen_lineage(identifier: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "vidgen_assets.cli", "lineage", identifier]
    return subprocess.run(command, capture_output=True, text=True, env=dict(os.environ), timeout=120)


def test_rows_sharing_a_content_key_each_have_their_lineage(warehouse):
    for prompt_id in ("twin-a", "twin-b"):
        chain = lineage_chain(warehouse, prompt_id)
        assert [(o["kind"], o["prompt_id"]) for o in chain["outputs"]] == [
            ("keyframe", prompt_id), ("clip", prompt_id), ("reel", None),
        ]  # fmt: skip
        assert chain["outputs"][-1]["key"] == "reel-run-2" and [p["prompt_id"] for p in chain["prompts"]] == [prompt_id]
    shared = lineage_chain(warehouse, "clip-same")
    assert [p["prompt_id"] for p in shared["prompts"]] == ["twin-a", "twin-b"]


def test_every_run_that_touched_a_row_is_listed_oldest_first(warehouse):
    runs = lineage_chain(warehouse, "twin-a")["runs"]
    assert [(r["run_id"], r["rendered"], r["reused"]) for r in runs] == [("run-1", 2, 0), ("run-2", 0, 2)]
    printed = vidgen_lineage("twin-a")
    assert printed.returncode == 0, printed.stderr
    run_lines = [line.split()[1] for line in printed.stdout.splitlines() if line.startswith("run ")]
    assert run_lines == ["run-1", "run-2"]


def test_a_row_imported_but_not_rendered_says_so(warehouse):
    chain = lineage_chain(warehouse, "waiting")
    assert not chain["rendered"] and not chain["outputs"] and chain["prompts"][0]["prompt_id"] == "waiting"
    printed = vidgen_lineage("waiting")
    assert printed.returncode == 0 and "not rendered yet" in printed.stdout and f"vidgen run --date {DAY}" in printed.stdout


def test_an_unknown_id_is_a_clear_error(warehouse):
    with pytest.raises(LookupError, match="not a known prompt id or content key"):
        lineage_chain(warehouse, "nobody")
    printed = vidgen_lineage("nobody")
    assert printed.returncode == 1 and "not a known prompt id" in printed.stderr and "Traceback" not in printed.stderr


def test_a_day_of_lineage_is_one_set_based_insert(store):
    """20,000 rows, typed as the row-by-row insert typed them, NULLs included."""
    warehouse = store
    rows = [
        lineage_row(key=f"clip-{n}", kind="clip", day=DAY, uri=f"{n}.mp4", prompt_id=f"p{n}" if n % 7 else None,
                    parents=[f"keyframe-{n}"], params={"seed": n}, device="cpu" if n % 2 else None,
                    cache_hit=bool(n % 3), run_id="big")
        for n in range(20_000)
    ]  # fmt: skip
    assert record_lineage(warehouse, rows) == 20_000
    with warehouse.connect() as connection:
        counts = connection.execute(
            "SELECT count(*), count(prompt_id), count(device), sum(cache_hit::INT), count(DISTINCT partition_date) FROM clips"
        ).fetchone()
        sample = connection.execute("SELECT parent_keys, params FROM clips WHERE key = 'clip-14'").fetchone()
    assert counts == (20_000, 20_000 - len(range(0, 20_000, 7)), 10_000, 20_000 - len(range(0, 20_000, 3)), 1)
    assert sample == ('["keyframe-14"]', '{"seed": 14}')

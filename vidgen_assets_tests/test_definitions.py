"""The code location loads, holds the daily assets on one partitioning, and schedules days."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import datetime, timezone

import dagster as dg
import pytest

from vidgen_assets.definitions import build_definitions, executor_from_env
from vidgen_assets.runner import run_day
from vidgen_assets_tests.conftest import TEST_DAY

ASSETS = {"theme_prompts", "prompts", "keyframes", "videos", "soundtrack", "reel", "render_stats"}


def test_definitions_hold_the_daily_assets():
    definitions = build_definitions()
    specs = {spec.key.to_user_string(): spec for spec in definitions.resolve_all_asset_specs()}
    # Experiments are apart from the days: their own (dynamic) partitions, not in the daily job.
    assert isinstance(specs.pop("experiment").partitions_def, dg.DynamicPartitionsDefinition)
    assert set(specs) == ASSETS
    partitionings = {spec.partitions_def for spec in specs.values()}
    assert len(partitionings) == 1 and isinstance(partitionings.pop(), dg.DailyPartitionsDefinition)
    assert definitions.resolve_job_def("daily_reel_job").partitions_def is not None
    assert definitions.resolve_schedule_def("daily_reel_schedule").job_name == "daily_reel_job"


def test_schedule_tick_renders_the_previous_day_and_skips_an_empty_one(vidgen_home):
    from datetime import date

    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import PromptSpec, Warehouse

    definitions = build_definitions()
    schedule = definitions.resolve_schedule_def("daily_reel_schedule")

    def tick(day: int):
        with dg.build_schedule_context(
            scheduled_execution_time=datetime(2026, 3, day, 1, 0, tzinfo=timezone.utc),
            repository_def=definitions.get_repository_def(), resources=definitions.resources,
        ) as context:  # fmt: skip
            return schedule.evaluate_tick(context)

    Warehouse(environment.warehouse_target()).upsert_prompts([PromptSpec("a", date(2026, 2, 28), "a fox")])
    (request,) = tick(1).run_requests
    assert request.partition_key == "2026-02-28"
    empty = tick(2)
    assert not empty.run_requests and empty.skip_message == "no prompts scheduled for 2026-03-01"


def test_definitions_are_built_once_per_environment(monkeypatch):
    """Dagster asks for them several times a command; a changed environment still gets its own."""
    monkeypatch.setenv("VIDGEN_EXECUTOR", "in_process")
    first = build_definitions()
    assert build_definitions() is first
    monkeypatch.setenv("VIDGEN_EXECUTOR", "multiprocess")
    rebuilt = build_definitions()
    assert rebuilt is not first
    assert rebuilt.resolve_job_def("daily_reel_job").executor_def.name == "multiprocess"
    assert first.resolve_job_def("daily_reel_job").executor_def.name == "in_process"


@pytest.mark.parametrize(("name", "expected"), [("in_process", dg.in_process_executor), ("multiprocess", dg.multiprocess_executor)])
def test_executor_follows_the_environment(monkeypatch, name, expected):
    """Dagster's own executor, same name and config, wrapped to hold the day lock (see test_one_writer.py)."""
    monkeypatch.setenv("VIDGEN_EXECUTOR", name)
    executor = executor_from_env()
    assert executor.name == expected.name and executor.config_schema is expected.config_schema
    assert executor is not expected


def test_unknown_executor_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("VIDGEN_EXECUTOR", "spark")
    with pytest.raises(ValueError, match="not one of in_process, multiprocess, k8s"):
        executor_from_env()


def graphql(port: int, query: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def test_dagster_dev_serves_the_code_location_with_the_partition_materialized(dagster_dev):
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import Warehouse
    from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows

    import_rows(Warehouse(environment.warehouse_target()), demo_rows(TEST_DAY, 1), {"tiny"}, {"tiny"})
    run_day(TEST_DAY)
    nodes = graphql(dagster_dev, "{ assetNodes { assetKey { path } partitionStats { numMaterialized } } }")
    materialized = {n["assetKey"]["path"][0]: n["partitionStats"]["numMaterialized"] for n in nodes["assetNodes"]}
    assert materialized == {**{asset: 1 for asset in ASSETS}, "experiment": 0}
    # The day's statistics carry their chart, and their queue target was evaluated with the run.
    stats = graphql(
        dagster_dev,
        '{ assetNodeOrError(assetKey: {path: ["render_stats"]}) { ... on AssetNode { assetMaterializations(limit: 1) '
        "{ metadataEntries { label } } assetChecksOrError { ... on AssetChecks { checks { name "
        "executionForLatestMaterialization { status } } } } } } }",
    )["assetNodeOrError"]
    assert "chart" in {e["label"] for e in stats["assetMaterializations"][0]["metadataEntries"]}
    checks = {c["name"]: c["executionForLatestMaterialization"]["status"] for c in stats["assetChecksOrError"]["checks"]}
    assert checks == {"queue_wait_within_target": "SUCCEEDED", "clip_metrics_drift": "SUCCEEDED"}


def test_k8s_executor_takes_its_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("VIDGEN_EXECUTOR", "k8s")
    monkeypatch.setenv("VIDGEN_MEDIA_URI", "s3://media-bucket/vidgen")
    monkeypatch.setenv("VIDGEN_WAREHOUSE", "postgresql://vidgen:secret@warehouse:5432/vidgen")
    monkeypatch.setenv("VIDGEN_K8S_NAMESPACE", "render")
    executor = executor_from_env()
    assert executor.name == "k8s"
    job = dg.define_asset_job("probe", selection=["prompts"]).resolve(asset_graph=build_definitions().resolve_asset_graph())
    assert dg.validate_run_config(job.with_executor_def(executor)) is not None


def test_k8s_executor_refuses_local_media(monkeypatch):
    monkeypatch.setenv("VIDGEN_EXECUTOR", "k8s")
    monkeypatch.delenv("VIDGEN_MEDIA_URI", raising=False)
    with pytest.raises(ValueError, match="needs VIDGEN_MEDIA_URI=s3://"):
        executor_from_env()


@pytest.mark.parametrize("warehouse", ["", "/data/warehouse.duckdb", "relative/w.duckdb"])
def test_k8s_executor_refuses_a_local_warehouse_file(monkeypatch, tmp_path, warehouse):
    monkeypatch.setenv("VIDGEN_HOME", str(tmp_path))  # unset: the default $VIDGEN_HOME/warehouse.duckdb
    monkeypatch.setenv("VIDGEN_EXECUTOR", "k8s")
    monkeypatch.setenv("VIDGEN_MEDIA_URI", "s3://media-bucket/vidgen")
    monkeypatch.setenv("VIDGEN_WAREHOUSE", warehouse)
    with pytest.raises(ValueError, match="needs a warehouse every pod reaches: VIDGEN_WAREHOUSE=postgresql://"):
        executor_from_env()
    for shared in ("postgresql://vidgen:secret@warehouse:5432/vidgen", "md:vidgen"):
        monkeypatch.setenv("VIDGEN_WAREHOUSE", shared)
        assert executor_from_env().name == "k8s"


def test_a_dagster_plus_deployment_defaults_to_k8s(monkeypatch):
    monkeypatch.setenv("DAGSTER_CLOUD_DEPLOYMENT_NAME", "prod")
    monkeypatch.setenv("VIDGEN_MEDIA_URI", "s3://media-bucket/vidgen")
    monkeypatch.setenv("VIDGEN_WAREHOUSE", "md:vidgen")
    monkeypatch.delenv("VIDGEN_EXECUTOR", raising=False)
    assert executor_from_env().name == "k8s"


def code_versions(**env: str) -> dict[str, str]:
    """The assets' code versions as a code server started with `env` sees them (a fresh process)."""
    script = (
        "import json, dagster as dg; from vidgen_assets.definitions import build_definitions; "
        "g = build_definitions().resolve_asset_graph(); "
        "print(json.dumps({n: g.get(dg.AssetKey(n)).code_version for n in ('keyframes', 'videos', 'reel')}))"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                            env={**os.environ, **env})  # fmt: skip
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_switching_the_default_preset_changes_the_code_version():
    before, after = code_versions(VIDGEN_VIDEO_MODEL="tiny"), code_versions(VIDGEN_VIDEO_MODEL="svd-xt")
    assert after["videos"] != before["videos"] and "9e43909513c6714f1bc78bcb44d96e733cd242aa" in after["videos"]
    assert after["keyframes"] == before["keyframes"] and after["reel"] == before["reel"]

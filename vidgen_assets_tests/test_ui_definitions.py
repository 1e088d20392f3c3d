"""What the UI shows of the definitions: where partitions start, checks that name their day, automation that
says how to turn it on, and runs whose logs hold no library noise."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date, datetime, timedelta, timezone

import dagster as dg
import pytest

from vidgen_assets.cli import main
from vidgen_assets.defs.partitions import daily_partitions
from vidgen_assets.definitions import build_definitions
from vidgen_assets.lib.environment import first_day
from vidgen_assets_tests.conftest import REPO_ROOT


def python(code: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT,
                          env={**os.environ, **env})  # fmt: skip


def test_vidgen_first_day_sets_where_the_partitions_start():
    shown = python(
        "from vidgen_assets.definitions import build_definitions\n"
        "job = build_definitions().resolve_job_def('daily_reel_job')\n"
        "print(job.partitions_def.get_first_partition_key())",
        VIDGEN_FIRST_DAY="2026-10-15",
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.split()[-1] == "2026-10-15"
    broken = python("from vidgen_assets.definitions import build_definitions; build_definitions()", VIDGEN_FIRST_DAY="15/10/2026")
    assert broken.returncode != 0 and "VIDGEN_FIRST_DAY='15/10/2026' is not a day (YYYY-MM-DD)" in broken.stderr


def test_the_default_first_day_is_the_first_of_the_previous_month(monkeypatch):
    monkeypatch.delenv("VIDGEN_FIRST_DAY")
    assert first_day(date(2026, 3, 15)) == date(2026, 2, 1)
    assert first_day(date(2027, 1, 1)) == date(2026, 12, 1)  # about a month or two of days, not years
    monkeypatch.setenv("VIDGEN_FIRST_DAY", (date.today() + timedelta(days=5)).isoformat())
    with pytest.raises(ValueError, match="after tomorrow"):
        first_day()


def test_the_cli_refuses_a_day_before_the_first_partition_and_says_how_to_move_it(monkeypatch, capsys, vidgen_home):
    monkeypatch.setenv("VIDGEN_FIRST_DAY", "2026-11-01")
    assert main(["run", "--date", "2026-10-31"]) == 2
    assert "is before 2026-11-01, the first daily partition: it can never render (set VIDGEN_FIRST_DAY" in capsys.readouterr().err
    monkeypatch.setenv("VIDGEN_FIRST_DAY", "yesterday")
    assert main(["run", "--date", "2026-10-31"]) == 2
    assert "error: VIDGEN_FIRST_DAY='yesterday' is not a day (YYYY-MM-DD)" in capsys.readouterr().err


def test_every_check_is_described_and_partitioned_by_day():
    asset_graph = build_definitions().resolve_asset_graph()
    checks = {key.name: asset_graph.get(key) for key in asset_graph.asset_check_keys}
    assert set(checks) >= {"prompts_rejections", "videos_quality", "reel_plays_and_adds_up", "reel_due_by_deadline",
                           "queue_wait_within_target", "day_render_retries"}  # fmt: skip
    for name, node in checks.items():
        assert node.description, name
        assert node.partitions_def == daily_partitions, name


def test_automation_says_whether_it_is_on_and_how_to_turn_it_on():
    definitions = build_definitions()
    sensor = definitions.resolve_sensor_def("prompts_changed_sensor")
    schedule = definitions.resolve_schedule_def("daily_reel_schedule")
    freshness = definitions.resolve_sensor_def("reel_freshness_sensor")
    assert "Off by default" in sensor.description and "dagster sensor start prompts_changed_sensor" in sensor.description
    assert "Off by default" in schedule.description and "dagster schedule start daily_reel_schedule" in schedule.description
    assert "daily_reel_job_partition_set" in schedule.description
    assert "On by default" in freshness.description and "reel_due_by_deadline" in freshness.description


def test_reel_freshness_sensor_requests_the_deadline_check_of_an_overdue_day_once():
    definitions = build_definitions()
    sensor = definitions.resolve_sensor_def("reel_freshness_sensor")
    now = datetime.now(timezone.utc)
    # The latest 06:00 UTC deadline that has passed is the one of the day before its date.
    overdue = (now.date() if now.hour >= 6 else now.date() - timedelta(days=1)) - timedelta(days=1)
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, repository_def=definitions.get_repository_def())
        (request,) = sensor.evaluate_tick(context).run_requests
        assert request.tags["dagster/partition"] == overdue.isoformat() and request.run_key.endswith(overdue.isoformat())
        assert [key.name for key in request.asset_check_keys] == ["reel_due_by_deadline"]
        instance.report_runless_asset_event(dg.AssetMaterialization(asset_key="reel", partition=overdue.isoformat()))
        assert not sensor.evaluate_tick(context).run_requests  # its run checked it


def test_a_step_logs_no_library_noise():
    """What a step process does: load the code location, import the models' libraries, return a versioned output."""
    run = python(
        "import vidgen_assets.definitions, dagster as dg\n"
        "from transformers import CLIPImageProcessor\n"
        "import diffusers, tqdm\n"
        "dg.Output(1, data_version=dg.DataVersion('x'))\n"
        "for _ in tqdm.tqdm(range(3)): pass\n",
    )
    assert run.returncode == 0, run.stderr
    assert "BetaWarning" not in run.stderr and "torchvision" not in run.stderr and "it/s" not in run.stderr, run.stderr


def test_a_reel_made_without_its_statistics_gets_them_in_the_daily_job():
    """As after the asset graph's Materialize on `reel` alone: the day's render_stats follows, in daily_reel_job."""
    definitions = build_definitions()
    sensor = definitions.resolve_sensor_def("day_stats_sensor")

    @dg.asset(name="reel", partitions_def=daily_partitions)
    def reel_alone():
        return 1

    @dg.asset(name="render_stats", partitions_def=daily_partitions)
    def stats_too():
        return 1

    day = "2026-11-01"
    with dg.instance_for_test() as instance:

        def evaluate(assets):
            result = dg.materialize(assets, partition_key=day, instance=instance)
            context = dg.build_run_status_sensor_context(
                sensor_name="day_stats_sensor", dagster_event=result.get_run_success_event(), dagster_instance=instance,
                dagster_run=result.dagster_run,
            )  # fmt: skip
            return sensor(context), result.run_id

        request, run_id = evaluate([reel_alone])
        assert request.partition_key == day and request.asset_selection == [dg.AssetKey("render_stats")]
        assert request.run_key == f"day_stats_sensor-{run_id}"
        assert sensor.job_name == "daily_reel_job"
        skipped, _ = evaluate([reel_alone, stats_too])  # a complete day needs nothing more
        assert isinstance(skipped, dg.SkipReason)

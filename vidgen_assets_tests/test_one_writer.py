"""One writer per day whoever launches: `vidgen run` beside runs the daemon launches, through `dagster dev`."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import one_writer_per_day, use_dagster_home
from vidgen_assets_tests.conftest import TEST_DAY, wait_for

pytestmark = pytest.mark.slow

DAY = str(TEST_DAY)
ROW = {"prompt_id": "solo", "scheduled_for": DAY, "prompt": "a kite", "seed": 3, "num_frames": 2}


@pytest.fixture
def local_instance(vidgen_home) -> str:
    """The instance `vidgen` sets up (run queue limit per day, gpu pool), made before `dagster dev` reads it."""
    import_rows(Warehouse(environment.warehouse_target()), [ROW], {"tiny"}, {"tiny"})
    return use_dagster_home()


def cli_run() -> tuple[subprocess.Popen, list[str]]:
    """`vidgen run` of the day in its own process, and the lines it prints so far (read as they come)."""
    command = [sys.executable, "-m", "vidgen_assets.cli", "run", "--date", DAY]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ))
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return process, lines


def records_by_launcher(instance: dg.DagsterInstance) -> dict[str, list[dg.RunRecord]]:
    found: dict[str, list] = {"cli": [], "daemon": []}
    for record in instance.get_run_records(dg.RunsFilter(tags={"dagster/partition": DAY})):
        found["cli" if record.dagster_run.tags.get("vidgen/launched_by") == "cli" else "daemon"].append(record)
    return found


def finished(client: DagsterGraphQLClient, run_id: str) -> str | None:
    status = client.get_run_status(run_id).value
    return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None


def test_cli_and_daemon_runs_of_one_day_take_turns(local_instance, dagster_dev):
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev)
    with dg.DagsterInstance.get() as instance:
        # The daemon's run first: the CLI sees it in the instance and waits for it to end. The test holds
        # the day's lock until then, so the daemon's run is still going whatever the machine's speed.
        with one_writer_per_day(TEST_DAY, {"launched_by": "the test"}, on_wait=lambda _: None):
            daemon_first = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": DAY})
            wait_for(lambda: instance.get_run_by_id(daemon_first).status == dg.DagsterRunStatus.STARTED, 120, "the daemon's run")
            cli, lines = cli_run()
            waiting = f"run {daemon_first} of {DAY} (launched by the daemon) is in progress; waiting"
            wait_for(lambda: any(waiting in line for line in lines), 120, "the CLI to wait for the daemon's run")
        assert wait_for(lambda: finished(client, daemon_first), 300, "the daemon's run to end") == "SUCCESS"
        assert cli.wait(timeout=300) == 0, "".join(lines)[-3000:]

        # Now the CLI's run first: the daemon's queue holds the day until the CLI's run ends.
        cli, lines = cli_run()
        wait_for(lambda: [r for r in records_by_launcher(instance)["cli"] if r.dagster_run.status == dg.DagsterRunStatus.STARTED],
                 120, "the CLI's second run to start")  # fmt: skip
        daemon_second = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": DAY})
        assert cli.wait(timeout=300) == 0, "".join(lines)[-3000:]
        assert wait_for(lambda: finished(client, daemon_second), 300, "the queued daemon run") == "SUCCESS"

        runs = sorted((r for records in records_by_launcher(instance).values() for r in records), key=lambda r: r.start_time)
    assert [r.dagster_run.run_id for r in runs][0] == daemon_first and len(runs) == 4
    for earlier, later in zip(runs, runs[1:]):
        assert earlier.end_time <= later.start_time  # never two writers of the day at once


def test_a_run_left_started_by_a_killed_cli_does_not_hold_the_day(local_instance):
    from vidgen_assets.runner import daily_reel_job

    gone = subprocess.Popen(["true"])
    gone.wait()
    with dg.DagsterInstance.get() as instance:
        orphan = instance.create_run_for_job(
            daily_reel_job(), run_config={}, status=dg.DagsterRunStatus.STARTED,
            tags={"dagster/partition": DAY, "vidgen/launched_by": "cli", "vidgen/host": socket.gethostname(),
                  "vidgen/pid": str(gone.pid)},
        )  # fmt: skip
        result = subprocess.run([sys.executable, "-m", "vidgen_assets.cli", "run", "--date", DAY],
                                capture_output=True, text=True, timeout=300, env=dict(os.environ))  # fmt: skip
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"marked run {orphan.run_id} of {DAY} failed and freed its pool slots: its CLI process (pid {gone.pid}) is gone" in result.stdout
        assert instance.get_run_by_id(orphan.run_id).status == dg.DagsterRunStatus.FAILURE

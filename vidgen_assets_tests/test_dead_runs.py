"""A `vidgen run` killed with SIGKILL leaves its run STARTED and its `gpu` pool slot claimed; the next `vidgen run`
of any day reaps it (failed, slot freed) instead of waiting for the slot forever."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from datetime import date

import dagster as dg
import pytest

from vidgen_assets.lib import environment
from vidgen_assets.lib.dead_runs import reap_dead_cli_runs
from vidgen_assets.lib.k8s import GPU_POOL
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import import_rows
from vidgen_assets.runner import daily_reel_job, use_dagster_home
from vidgen_assets_tests.conftest import wait_for

pytestmark = pytest.mark.slow

FIRST, SECOND = date(2026, 10, 21), date(2026, 10, 22)


@pytest.fixture
def local_instance(vidgen_home) -> str:
    """The instance `vidgen` sets up (gpu pool limit 1 without a GPU), with one row on each of two days."""
    rows = [{"prompt_id": f"heron-{day}", "scheduled_for": day.isoformat(), "prompt": "a heron", "seed": 1, "num_frames": 2}
            for day in (FIRST, SECOND)]  # fmt: skip
    import_rows(Warehouse(environment.warehouse_target()), rows, {"tiny"}, {"tiny"})
    return use_dagster_home()


def dead_pid() -> int:
    gone = subprocess.Popen(["true"])
    gone.wait()
    return gone.pid


def cli_run(day: date) -> tuple[subprocess.Popen, list[str]]:
    """`vidgen run` of the day in its own process group, and the lines it prints so far."""
    command = [sys.executable, "-m", "vidgen_assets.cli", "run", "--date", day.isoformat()]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env=dict(os.environ), start_new_session=True)  # fmt: skip
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return process, lines


def started_cli_run(instance: dg.DagsterInstance, day, pid: int) -> dg.DagsterRun:
    """A STARTED run as `vidgen run` records it: its day, host and process id."""
    return instance.create_run_for_job(
        daily_reel_job(), run_config={}, status=dg.DagsterRunStatus.STARTED,
        tags={"dagster/partition": day.isoformat(), "vidgen/launched_by": "cli",
              "vidgen/host": socket.gethostname(), "vidgen/pid": str(pid)},
    )  # fmt: skip


def test_a_dead_cli_run_holding_the_gpu_slot_is_failed_and_its_slot_freed(local_instance):
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        dead = started_cli_run(instance, FIRST, dead_pid())
        alive = started_cli_run(instance, SECOND, os.getpid())
        assert storage.claim_concurrency_slot(GPU_POOL, dead.run_id, "keyframes").is_claimed
        assert not storage.claim_concurrency_slot(GPU_POOL, alive.run_id, "keyframes").is_claimed  # limit 1

        said: list[str] = []
        assert reap_dead_cli_runs(instance, said.append) == [dead.run_id]
        pid = dead.tags["vidgen/pid"]
        assert said == [f"marked run {dead.run_id} of {FIRST} failed and freed its pool slots: its CLI process (pid {pid}) is gone"]
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.get_run_by_id(alive.run_id).status == dg.DagsterRunStatus.STARTED  # its process lives
        assert storage.claim_concurrency_slot(GPU_POOL, alive.run_id, "keyframes").is_claimed  # the slot went to it
        assert reap_dead_cli_runs(instance, said.append) == [] and len(said) == 1  # nothing twice


def test_slots_still_held_by_a_cli_run_already_marked_failed_are_freed(local_instance):
    """What an earlier `vidgen run` left: the dead run marked failed, its slot never freed."""
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        dead = started_cli_run(instance, FIRST, dead_pid())
        assert storage.claim_concurrency_slot(GPU_POOL, dead.run_id, "videos").is_claimed
        instance.report_run_failed(dead, message="marked failed by an older vidgen")
        said: list[str] = []
        assert reap_dead_cli_runs(instance, said.append) == []
        assert said == [f"freed the pool slots still held by run {dead.run_id}, which is failure"]
        assert not storage.get_concurrency_info(GPU_POOL).claimed_slots


def test_a_run_killed_with_sigkill_does_not_block_a_later_run_of_another_day(local_instance):
    killed, lines = cli_run(FIRST)
    with dg.DagsterInstance.get() as instance:

        def holding_the_slot() -> str | None:
            claimed = instance.event_log_storage.get_concurrency_info(GPU_POOL).claimed_slots
            return claimed[0].run_id if claimed else None

        try:
            run_id = wait_for(holding_the_slot, 240, "the first run's GPU step to claim the gpu slot")
        finally:
            os.killpg(killed.pid, signal.SIGKILL)  # inside its GPU step, holding the slot
            killed.wait(timeout=60)
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
        later, later_lines = cli_run(SECOND)
        assert later.wait(timeout=300) == 0, "".join(later_lines)[-3000:]
        output = "".join(later_lines)
        assert f"marked run {run_id} of {FIRST} failed and freed its pool slots: its CLI process (pid {killed.pid})" in output
        assert later_lines[-1].strip().endswith(".mp4"), output[-2000:]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert not instance.event_log_storage.get_concurrency_info(GPU_POOL).claimed_slots

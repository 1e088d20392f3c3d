"""Runs left behind by a `vidgen run` process that died (`kill -9`, a crash, a reboot) on this host.

Such a run executes in its CLI process, so no daemon monitors it: it stays STARTED forever, and the
`gpu` pool slot its step claimed stays claimed, which blocks every later GPU step of any day.
`reap_dead_cli_runs` ends them (failed, naming the pid) and frees their pool slots; `vidgen run`
and each change-sensor tick call it first.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping

import dagster as dg

ACTIVE = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]
FINISHED = [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]


def cli_process_gone(tags: Mapping[str, str], host: str | None = None) -> bool:
    """Whether the run was launched by a vidgen CLI process on this host that no longer exists."""
    if tags.get("vidgen/launched_by") != "cli" or tags.get("vidgen/host") != (host or socket.gethostname()):
        return False
    try:
        os.kill(int(tags["vidgen/pid"]), 0)
    except ProcessLookupError:
        return True
    except (KeyError, ValueError, PermissionError):  # no pid recorded, or a live process of another user
        return False
    return False


def _this_hosts_cli_runs(host: str, **filters) -> dg.RunsFilter:
    return dg.RunsFilter(tags={"vidgen/launched_by": "cli", "vidgen/host": host}, **filters)


def reap_dead_cli_runs(instance: dg.DagsterInstance, say: Callable[[str], None] = print) -> list[str]:
    """Mark failed every unfinished run of any day whose vidgen CLI process on this host is gone, and free
    the pool slots it holds; one line each through `say`. Returns the reaped run ids.

    Also frees the slots of this host's finished CLI runs still holding any (runs a CLI process marked
    failed before it freed slots): Dagster frees slots only from its daemon's run monitoring, which
    never sees in-process runs.
    """
    host = socket.gethostname()
    storage = instance.event_log_storage
    frees_slots = storage.supports_global_concurrency_limits
    reaped = []
    for record in instance.get_run_records(_this_hosts_cli_runs(host, statuses=ACTIVE)):
        run = record.dagster_run
        if not cli_process_gone(run.tags, host):
            continue
        pid, day = run.tags.get("vidgen/pid"), run.tags.get("dagster/partition", "no day")
        instance.report_run_failed(run, message=f"the vidgen CLI process that ran it (pid {pid}) is gone")
        if frees_slots:
            storage.free_concurrency_slots_for_run(run.run_id)
        say(f"marked run {run.run_id} of {day} failed and freed its pool slots: its CLI process (pid {pid}) is gone")
        reaped.append(run.run_id)
    holders = storage.get_concurrency_run_ids() - set(reaped) if frees_slots else set()
    if holders:  # usually empty: only runs with a step holding or waiting for a slot are listed
        for record in instance.get_run_records(_this_hosts_cli_runs(host, run_ids=sorted(holders), statuses=FINISHED)):
            storage.free_concurrency_slots_for_run(record.dagster_run.run_id)
            say(f"freed the pool slots still held by run {record.dagster_run.run_id}, which is {record.dagster_run.status.value.lower()}")
    return reaped

"""Run one day of `daily_reel_job` through Dagster, recorded in the Dagster instance."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
import warnings
from collections.abc import Callable
from contextlib import ExitStack
from datetime import date

from dagster import RunsFilter

from vidgen_assets.lib import environment
from vidgen_assets.lib.day_lock import hold_run_day
from vidgen_assets.lib.dead_runs import ACTIVE, reap_dead_cli_runs


class RunFailed(RuntimeError):
    """The run failed; the message holds each failed step's own error."""


class DayWithdrawn(RuntimeError):
    """The run succeeded and withdrew the day's reel: every row of the day was deleted. The message says so."""


# Defaults for a new local instance: `dagster dev` queues a second run of a day until the first ends.
LOCAL_INSTANCE_YAML = """\
concurrency:
  runs:
    tag_concurrency_limits:
      - key: dagster/partition
        value:
          applyLimitPerUniqueValue: true
        limit: 1
telemetry:
  enabled: false
"""


def use_dagster_home() -> str:
    """`DAGSTER_HOME`, defaulting to `$VIDGEN_HOME/dagster` so `dagster dev` can show CLI runs."""
    home = environment.dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(LOCAL_INSTANCE_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    limit_gpu_pool()
    return str(home)


def limit_gpu_pool() -> int:
    """The local instance's `gpu` pool limit: set to the CUDA devices here (1 without any) unless already set.

    Every GPU step joins the pool, so the multiprocess executor runs at most one step per GPU
    instead of loading a model copy per shard process onto one card. `dagster instance concurrency
    set gpu N` changes it; a limit already set is left alone.
    """
    import dagster as dg

    from vidgen_assets.lib.k8s import GPU_POOL

    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        current = {pool.name: pool.limit for pool in storage.get_pool_limits()}.get(GPU_POOL)
        if current is None:
            from vidgen_assets.lib.generation.loader import cuda_device_count

            current = max(1, cuda_device_count())
            storage.set_concurrency_slots(GPU_POOL, current)
        return current


def gpu_pool_check():
    """`vidgen doctor`'s line for the local `gpu` pool: its limit and the CUDA devices it was sized for."""
    from vidgen_assets.lib.doctor import Check
    from vidgen_assets.lib.generation.loader import cuda_device_count

    limit, devices = limit_gpu_pool(), cuda_device_count()
    return Check("gpu pool", True, f"at most {limit} GPU step(s) at once locally; {devices} CUDA device(s) here", required=False)


def levers_check():
    """`vidgen doctor`'s line for the generation resource's GPU levers: each variable read as a run reads it,
    and an attention backend's kernel imported here, where steps render."""
    from vidgen_assets.defs.resources import resources
    from vidgen_assets.lib.doctor import Check
    from vidgen_assets.lib.generation.levers import LeverUnavailableError, check_attention_backend

    try:
        settings = resources().resources["generation"].render_settings()
        if settings.attention_backend:
            check_attention_backend(settings.attention_backend)
    except (environment.SettingError, LeverUnavailableError) as error:
        return Check("GPU levers", False, str(error))
    levers = ("attention_backend", "compile_denoiser", "channels_last", "step_cache", "decode_chunk_size", "denoise_batch", "overlap_encode")
    default = type(settings)()
    on = [f"{name}={getattr(settings, name)}" for name in levers if getattr(settings, name) != getattr(default, name)]
    return Check("GPU levers", True, ", ".join(on) if on else "all off (the defaults)")


def one_writer_per_day(day: date, holder: dict | None = None, on_wait: Callable[[str], None] = print):
    """Hold the day's lock (in the PostgreSQL warehouse if it is one, else this instance's); a run of the same day,
    CLI or daemon, on this host or (with PostgreSQL) another, waits for it.

    In-process runs bypass Dagster's run queue, so the CLI takes the lock itself; runs launched by the
    daemon take the same lock in their executor (see `definitions.py`).
    """
    holder = holder or {"launched_by": "cli"}
    return hold_run_day(day.isoformat(), holder, on_wait)


def wait_for_other_runs(instance, day: date, on_wait: Callable[[str], None] = print, poll_s: float = 2.0) -> None:
    """Wait while the instance shows another run of the day in progress (e.g. one launched on another machine).

    Runs of any day left unfinished by a vidgen CLI process that died on this host are reaped first
    (marked failed, their pool slots freed): nothing else would ever end them, and they would hold
    their day in the run queue, and the `gpu` pool for every day, forever.
    """
    announced = set()
    while True:
        reap_dead_cli_runs(instance, on_wait)
        waiting = [
            record.dagster_run
            for record in instance.get_run_records(RunsFilter(tags={"dagster/partition": day.isoformat()}, statuses=ACTIVE))
        ]
        if not waiting:
            return
        for run in waiting:
            if run.run_id not in announced:
                launched_by = run.tags.get("vidgen/launched_by") or run.tags.get("dagster/sensor_name") or "the daemon"
                on_wait(f"run {run.run_id} of {day} (launched by {launched_by}) is in progress; waiting for it to finish")
                announced.add(run.run_id)
        time.sleep(poll_s)


def daily_reel_job():
    """The job, built from the code location; module-level so `dagster.reconstructable` can rebuild it in step processes."""
    from vidgen_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_reel_job")


def run_day(day: date, progress=None) -> str:
    """Materialize the day's assets in this process and return the reel's URI (`DayWithdrawn` when it has none).

    With a `terminal.StageProgress`, it follows the run instead of Dagster's console log, and library
    warnings are silenced; the instance still records every event for the UI.
    """
    import dagster as dg

    from vidgen_assets.definitions import build_definitions
    from vidgen_assets.terminal import QUIET_RUN_CONFIG

    use_dagster_home()
    definitions = build_definitions()
    job = definitions.resolve_job_def("daily_reel_job")
    run_id = str(uuid.uuid4())
    tags = {"vidgen/launched_by": "cli", "vidgen/host": socket.gethostname(), "vidgen/pid": str(os.getpid())}
    with dg.DagsterInstance.get() as instance:
        # The instance first, then the lock: a daemon run that started in between blocks on the lock we
        # hold and goes on after us; waiting for started runs while holding the lock could deadlock with it.
        wait_for_other_runs(instance, day)
        lock = one_writer_per_day(day, {"run_id": run_id, "launched_by": "cli"})
        log_path = environment.dagster_home() / "logs" / f"{run_id}.log"
        with lock, ExitStack() as quiet:
            if progress is not None:
                quiet.enter_context(progress.watching(run_id))
                quiet.enter_context(warnings.catch_warnings())
                warnings.simplefilter("ignore")
                # What still reaches stderr (input-loading debug lines, library chatter) goes to a file the
                # error message points at, instead of between the progress lines.
                log_path.parent.mkdir(parents=True, exist_ok=True)
                quiet.enter_context(contextlib.redirect_stderr(quiet.enter_context(log_path.open("w"))))
            result = job.execute_in_process(
                partition_key=day.isoformat(), instance=instance, raise_on_error=False, run_id=run_id, tags=tags,
                run_config=QUIET_RUN_CONFIG if progress is not None else None,
            )  # fmt: skip
    if not result.success:
        errors = [
            f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error
        ]
        where = f"\nfull log: {log_path}" if progress is not None else ""
        raise RunFailed(f"run {result.run_id} for {day} failed:\n" + "\n".join(errors or ["see the run's logs"]) + where)
    (materialization,) = result.asset_materializations_for_node("reel")
    if "withdrawn" in materialization.metadata:
        raise DayWithdrawn(f"no reel for {day}: {materialization.metadata['withdrawn'].value}")
    return materialization.metadata["dagster/uri"].value

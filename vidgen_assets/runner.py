"""Run one day of `daily_reel_job` through Dagster, recorded in the Dagster instance."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date

from vidgen_assets.lib import environment


class RunFailed(RuntimeError):
    """The run failed; the message holds each failed step's own error."""


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
    return str(home)


@contextmanager
def one_writer_per_day(day: date, on_wait: Callable[[str], None] = print) -> Iterator[None]:
    """Hold the day's lock in this instance; a second run of the same day waits, then proceeds.

    In-process runs bypass Dagster's run queue, so the CLI takes this lock itself.
    """
    locks = environment.dagster_home() / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{day.isoformat()}.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait(f"another run of {day} is in progress; waiting for it to finish")
            fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def daily_reel_job():
    """The job, built from the code location; module-level so `dagster.reconstructable` can rebuild it in step processes."""
    from vidgen_assets.definitions import build_definitions

    return build_definitions().resolve_job_def("daily_reel_job")


def run_day(day: date) -> str:
    """Materialize the day's four assets in this process and return the reel's URI."""
    import dagster as dg

    from vidgen_assets.definitions import build_definitions

    use_dagster_home()
    definitions = build_definitions()
    job = definitions.resolve_job_def("daily_reel_job")
    with one_writer_per_day(day), dg.DagsterInstance.get() as instance:
        result = job.execute_in_process(
            partition_key=day.isoformat(),
            instance=instance,
            raise_on_error=False,
            tags={"vidgen/launched_by": "cli"},
        )
    if not result.success:
        errors = [
            f"{event.step_key}: {event.step_failure_data.error.message.strip()}"
            for event in result.all_events
            if event.is_step_failure and event.step_failure_data.error
        ]
        raise RunFailed(f"run {result.run_id} for {day} failed:\n" + "\n".join(errors or ["see the run's logs"]))
    (materialization,) = result.asset_materializations_for_node("reel")
    return materialization.metadata["dagster/uri"].value

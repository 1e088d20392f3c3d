"""The `vidgen_assets` code location: everything under `defs/`, plus the executor for this environment."""

import os
from pathlib import Path

import dagster as dg

from vidgen_assets.lib.quiet import quiet_libraries

# Before any step imports torch or diffusers: no progress bars or library notes in the UI's compute logs.
quiet_libraries()

from vidgen_assets.lib import environment  # noqa: E402
from vidgen_assets.lib.day_lock import experiment_lock, hold_run_day  # noqa: E402
from vidgen_assets.lib.environment import Environment, get_environment, media_uri  # noqa: E402

EXECUTORS = ("in_process", "multiprocess", "k8s")


class OneWriterPerDayExecutor(dg.Executor):
    """Runs the wrapped executor while holding the run's day lock, the one `vidgen run` takes too.

    The run queue keeps two daemon runs of a day apart (a `dagster/partition` tag limit), but the
    CLI's in-process runs never pass through it: the shared lock makes both kinds take turns.
    """

    def __init__(self, inner: dg.Executor):
        self._inner = inner

    @property
    def retries(self):
        return self._inner.retries

    @property
    def step_dependency_config(self):
        return self._inner.step_dependency_config

    def execute(self, plan_context, execution_plan):
        run = plan_context.dagster_run
        day = run.tags.get("dagster/partition")
        if day is None:  # not a one-day run: nothing to guard
            yield from self._inner.execute(plan_context, execution_plan)
            return
        if dg.AssetKey("experiment") in (run.asset_selection or ()):  # its partition is an experiment's name
            day = experiment_lock(day)
        holder = {"run_id": run.run_id, "launched_by": run.tags.get("vidgen/launched_by") or "dagster"}
        with hold_run_day(day, holder, on_wait=plan_context.log.info):
            yield from self._inner.execute(plan_context, execution_plan)


def one_writer_per_day(executor: dg.ExecutorDefinition) -> dg.ExecutorDefinition:
    """The same executor, config and requirements, taking the day lock around the run."""
    return dg.ExecutorDefinition(
        name=executor.name,
        config_schema=executor.config_schema,
        requirements=executor.get_requirements,
        executor_creation_fn=lambda init_context: OneWriterPerDayExecutor(executor.executor_creation_fn(init_context)),
        description=executor.description,
    )


# The environment this process's fork server started with: its steps see that one, not the caller's later one.
_forkserver_environ: dict[str, str] | None = None


def local_multiprocess_executor() -> dg.ExecutorDefinition:
    """Dagster's multiprocess executor whose steps fork from a server that imported the code location,
    torch and diffusers once, instead of each spawning an interpreter to import them again (seconds a step).

    A run's own `start_method` wins. A process whose environment changed since its fork server started
    (a notebook or test calling `execute_job` again) spawns instead: forked steps would see the old one.
    """

    def create(init_context: dg.InitExecutorContext) -> dg.Executor:
        global _forkserver_environ
        config = dict(init_context.executor_config)
        if not config.get("start_method") and _forkserver_environ in (None, dict(os.environ)):
            _forkserver_environ = dict(os.environ)
            config["start_method"] = {"forkserver": {"preload_modules": ["vidgen_assets.preload"]}}
        return dg.multiprocess_executor.executor_creation_fn(init_context._replace(executor_config=config))

    return dg.ExecutorDefinition(
        name=dg.multiprocess_executor.name,
        config_schema=dg.multiprocess_executor.config_schema,
        requirements=dg.multiprocess_executor.get_requirements,
        executor_creation_fn=create,
        description=dg.multiprocess_executor.description,
    )


def executor_from_env() -> dg.ExecutorDefinition:
    """`VIDGEN_EXECUTOR`: in_process, multiprocess (default locally) or k8s (default on Dagster+: a pod per step)."""
    default = "multiprocess" if get_environment() == Environment.LOCAL else "k8s"
    name = os.getenv("VIDGEN_EXECUTOR", default)
    if name == "in_process":
        return one_writer_per_day(dg.in_process_executor)
    if name == "multiprocess":
        return one_writer_per_day(local_multiprocess_executor())
    if name == "k8s":
        from vidgen_assets.lib.k8s import k8s_executor_config_from_env
        from vidgen_assets.lib.k8s_steps import pod_aware_k8s_executor

        from vidgen_assets.lib.warehouse.connections import is_local_file

        if not media_uri().startswith("s3://"):
            # Step pods share nothing but the media store: a pod's local disk is gone when it ends.
            raise ValueError("VIDGEN_EXECUTOR=k8s needs VIDGEN_MEDIA_URI=s3://bucket/prefix so pods on different nodes share media")
        if is_local_file(environment.warehouse_target()):
            # Each pod would silently get its own empty DuckDB file: no prompts in, no lineage out.
            raise ValueError(
                "VIDGEN_EXECUTOR=k8s needs a warehouse every pod reaches: VIDGEN_WAREHOUSE=postgresql://user:pass@host:port/db "
                "(or md:name for MotherDuck), not a local DuckDB file"
            )
        # Namespace, image, secrets and max_concurrent come from the environment, not code edits; dagster-k8s's
        # executor whose health check also reads the step's pod (lib/k8s_steps.py). The run worker pod holds the
        # day's lock (in the Postgres warehouse) like any run, so a `vidgen run` of the day takes turns with it.
        return one_writer_per_day(pod_aware_k8s_executor()).configured(k8s_executor_config_from_env())
    raise ValueError(f"VIDGEN_EXECUTOR={name!r} is not one of {', '.join(EXECUTORS)}")


# The last environment's definitions: Dagster asks for them several times a command (loading the code
# location, then reconstructing the job, its repository and each step's plan), ~0.7 s each to build.
_built: tuple[frozenset[tuple[str, str]], dg.Definitions] | None = None


def build_definitions() -> dg.Definitions:
    """Everything under `defs/` and this environment's executor; built once per process and environment."""
    global _built
    environ = frozenset(os.environ.items())
    if _built is None or _built[0] != environ:
        definitions = dg.Definitions.merge(
            dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
            dg.Definitions(executor=executor_from_env()),
        )
        _built = (environ, definitions)
    return _built[1]


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()

"""A Dagster deployment on real parts, as the Helm chart runs it: a Postgres-backed instance, a gRPC code
server, `dagster-daemon run` and the webserver, each its own process (group), sharing only Postgres.

The instance is `deploy/dagster.yaml` with two changes only (see `instance_config`): the server's port,
and no `run_launcher`, so runs start as local processes (Dagster's default launcher) instead of
Kubernetes Jobs. Storage, run queue, tag limits, pools and run monitoring are the deployment's own.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import dagster as dg
import pytest
import yaml

from vidgen_assets_tests.conftest import REPO_ROOT, free_port, wait_for

BIN = Path(sys.executable).parent
INSTANCE_YAML = REPO_ROOT / "deploy" / "dagster.yaml"
GPU_STEP_MARK = "_shard["  # keyframes.render_keyframes_shard[shard_0], videos.render_clips_shard[...]


def instance_config(postgres_port: int) -> dict:
    """deploy/dagster.yaml as the tests run it: the test server's port, runs as local processes."""
    config = yaml.safe_load(INSTANCE_YAML.read_text())
    config["storage"]["postgres"]["postgres_db"]["port"] = postgres_port
    del config["run_launcher"]  # K8sRunLauncher needs a cluster; the default launcher runs a local process
    return config


def postgres_env(url: str) -> dict[str, str]:
    """The DAGSTER_PG_* variables deploy/dagster.yaml reads (the `dagster-postgres` secret on a cluster)."""
    parts = urlsplit(url)
    return {
        "DAGSTER_PG_HOST": parts.hostname, "DAGSTER_PG_USERNAME": parts.username,
        "DAGSTER_PG_PASSWORD": parts.password, "DAGSTER_PG_DB": parts.path.lstrip("/"),
    }  # fmt: skip


@dataclass
class Cluster:
    home: Path
    env: dict[str, str]
    webserver_port: int
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def workspace(self) -> Path:
        return self.home / "workspace.yaml"

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(self.env["DAGSTER_HOME"])

    def dagster(self, *args: str) -> str:
        """`dagster ARGS` against this deployment, as an operator runs it; its output."""
        done = subprocess.run([str(BIN / "dagster"), *args], env=self.env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, f"dagster {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start_instigator(self, kind: str, name: str) -> None:
        """`dagster sensor|schedule start NAME`, as an operator does; a second start leaves it running."""
        subprocess.run([str(BIN / "dagster"), kind, "start", name, "-w", str(self.workspace)], env=self.env, capture_output=True, timeout=120)
        assert name in self.dagster(kind, "list", "--running", "-w", str(self.workspace)), f"{kind} {name} is not running"

    def start(self, name: str, command: list[str]) -> None:
        log = (self.home / "logs" / f"{name}.log").open("ab")
        # Its own session, like a pod: SIGTERM to the group stops the process and its children.
        process = subprocess.Popen(command, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        self.processes.append(process)

    def stop(self) -> None:
        for process in reversed(self.processes):
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=30)
            except ProcessLookupError:
                pass
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def log(self, name: str) -> str:
        return (self.home / "logs" / f"{name}.log").read_text(errors="replace")[-4000:]


def deployment_env(home: Path, postgres_url: str, extra_env: Mapping[str, str]) -> dict[str, str]:
    """What every process of the deployment (and the test reading its instance) sees."""
    return {**postgres_env(postgres_url), "DAGSTER_HOME": str(home / "dagster"), "VIDGEN_HOME": str(home), **extra_env}


def start_cluster(home: Path, postgres_port: int, env: dict[str, str]) -> Cluster:
    """Instance file, schema and `gpu` pool first; then code server, daemon and webserver (`env` is theirs)."""
    dagster_home = Path(env["DAGSTER_HOME"])
    (home / "logs").mkdir(parents=True)
    dagster_home.mkdir()
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(postgres_port)))
    code_port = free_port()
    cluster = Cluster(home=home, env=env, webserver_port=free_port())
    grpc_server = {"host": "127.0.0.1", "port": code_port, "location_name": "vidgen_assets"}
    cluster.workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": grpc_server}]}))
    # One process creates the schema before the others race to; then the pool the README tells operators to set.
    cluster.dagster("instance", "migrate")
    cluster.dagster("instance", "concurrency", "set", "gpu", "1")
    try:
        # The Helm chart's user deployment runs `dagster api grpc`; runs are launched from it.
        cluster.start("code-server", [str(BIN / "dagster"), "api", "grpc", "-m", "vidgen_assets.definitions", "-h", "127.0.0.1", "-p", str(code_port)])
        wait_for(lambda: _grpc_answers(code_port, env), 120, f"the code server to answer\n{cluster.log('code-server')}")
        cluster.start("daemon", [str(BIN / "dagster-daemon"), "run", "-w", str(cluster.workspace)])
        cluster.start("webserver", [str(BIN / "dagster-webserver"), "-w", str(cluster.workspace), "-h", "127.0.0.1", "-p", str(cluster.webserver_port)])
        wait_for(lambda: _daemons_alive(cluster), 120, f"the daemons' heartbeats\n{cluster.log('daemon')}")
    except BaseException:
        cluster.stop()
        raise
    return cluster


def _grpc_answers(port: int, env: Mapping[str, str]) -> bool:
    try:  # a cheap look at the port first: each health check is a Python process importing Dagster
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    ping = subprocess.run(
        [str(BIN / "dagster"), "api", "grpc-health-check", "-p", str(port), "-h", "127.0.0.1"], env=env, capture_output=True
    )
    return ping.returncode == 0


def _daemons_alive(cluster: Cluster) -> bool:
    with cluster.instance() as instance:
        statuses = instance.get_daemon_statuses()
    return all(status.healthy for status in statuses.values()) and "SENSOR" in statuses and "SCHEDULER" in statuses


@pytest.fixture(scope="module")
def cluster(postgres_server, tmp_path_factory, models_dir) -> Iterator[Cluster]:
    """One deployment per test module (tiny models, one prompt row per shard step, the warehouse on Postgres)."""
    extra = {
        "VIDGEN_WAREHOUSE": postgres_server.new_database("warehouse"),
        "VIDGEN_MODELS_DIR": str(models_dir), "HF_HUB_OFFLINE": "1", "VIDGEN_EXECUTOR": "multiprocess",
        "VIDGEN_SHARD_SIZE": "1", "VIDGEN_SENSOR_INTERVAL_SECONDS": "5", "VIDGEN_SENSOR_MAX_RUNS": "1",
        # Every minute: a tick comes within a minute of starting the schedule; its run key keeps one run per day.
        "VIDGEN_SCHEDULE_CRON": "* * * * *",
    }  # fmt: skip
    home = tmp_path_factory.mktemp("cluster")
    with pytest.MonkeyPatch.context() as patch:
        for name in ("VIDGEN_MEDIA_URI", "VIDGEN_WAREHOUSE"):
            patch.delenv(name, raising=False)
        for name, value in deployment_env(home, postgres_server.new_database("dagster"), extra).items():
            patch.setenv(name, value)
        running = start_cluster(home, postgres_server.port, dict(os.environ))
        try:
            yield running
        finally:
            running.stop()


def run_records(instance: dg.DagsterInstance, **tags: str) -> list[dg.RunRecord]:
    return list(instance.get_run_records(dg.RunsFilter(tags=tags)))


def finished_runs(instance: dg.DagsterInstance, count: int, **tags: str) -> list[dg.DagsterRun] | None:
    """The runs with these tags once at least `count` exist and all have ended; None before."""
    runs = [record.dagster_run for record in run_records(instance, **tags)]
    return runs if len(runs) >= count and all(run.is_finished for run in runs) else None


def step_intervals(instance: dg.DagsterInstance, run_id: str, mark: str = GPU_STEP_MARK) -> dict[str, tuple[float, float]]:
    """(start, end) wall times of the run's steps whose key contains `mark`, from its event log."""
    times: dict[str, dict[str, float]] = {}
    wanted = (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE)
    for record in instance.get_records_for_run(run_id).records:
        event = record.event_log_entry
        if mark in (event.step_key or "") and event.dagster_event_type in wanted:
            times.setdefault(event.step_key, {})[event.dagster_event_type.value] = event.timestamp
    return {step: (t["STEP_START"], t.get("STEP_SUCCESS", t.get("STEP_FAILURE", time.time()))) for step, t in times.items()}


def overlapping(intervals: list[tuple[float, float]]) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    ordered = sorted(intervals)
    return [(a, b) for a, b in zip(ordered, ordered[1:]) if b[0] < a[1]]

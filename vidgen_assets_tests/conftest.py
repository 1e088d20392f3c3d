"""Shared fixtures: tiny models built once per session, a fresh data home per test."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from vidgen_assets_tests.pg import PostgresServer

# Test workers, and the runs and servers they start, share a few cores: one torch thread a process renders
# the tiny models almost as fast as two, without the second thread's spinning (a quarter of the CPU).
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tests use fixed past days (never today's date): pin the partitions' start instead of its moving default.
os.environ.setdefault("VIDGEN_FIRST_DAY", "2024-01-01")

# A fixed past day inside the partitions; tests never depend on today's date.
TEST_DAY = date(2026, 11, 1)
REPO_ROOT = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(items):
    """`cluster` modules first, then `slow` ones: spread over the workers file by file, the long ones
    start at once instead of running alone at the end."""
    items.sort(key=lambda item: (item.get_closest_marker("cluster") is None, item.get_closest_marker("slow") is None))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """One model cache for the whole session: the tiny models are built once, then loaded. The test
    workers share it (the parent of their temporary roots): whichever builds a model first, the others load it."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return tmp_path_factory.mktemp("models")
    path = tmp_path_factory.getbasetemp().parent / "models"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL 15 server for the session (started on first use, stopped at the end)."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh, empty database of the session's server: `postgresql://vidgen:<password>@127.0.0.1:<port>/<db>`."""
    return postgres_server.new_database()


# On a test that uses `store`: run it once on a DuckDB file and once on PostgreSQL.
BOTH_WAREHOUSES = pytest.mark.parametrize("store", ["duckdb", "postgres"], indirect=True)


@pytest.fixture
def store(request, vidgen_home, monkeypatch):
    """The test's warehouse: a DuckDB file in its VIDGEN_HOME, or (parametrized "postgres") a fresh
    PostgreSQL database, which then is `VIDGEN_WAREHOUSE` for everything the test runs."""
    from vidgen_assets.lib import environment
    from vidgen_assets.lib.warehouse import Warehouse

    if getattr(request, "param", "duckdb") == "postgres":
        monkeypatch.setenv("VIDGEN_WAREHOUSE", request.getfixturevalue("postgres_url"))
    return Warehouse(environment.warehouse_target())


def add(store, *rows: tuple[str, date], text: str = "a fox") -> None:
    """Upsert one prompt row per (prompt_id, day), its text from `text` and the id."""
    from vidgen_assets.lib.warehouse import PromptSpec

    store.upsert_prompts([PromptSpec(prompt_id, day, f"{text} {prompt_id}", seed=1) for prompt_id, day in rows])


def sql(store, statement: str, params=None) -> None:
    with store.connect() as connection:
        connection.execute(statement, params or [])


@pytest.fixture
def vidgen_home(tmp_path, monkeypatch, models_dir) -> Path:
    """An empty VIDGEN_HOME (warehouse, media, Dagster instance) for one test."""
    home = tmp_path / "home"
    (home / "dagster").mkdir(parents=True)
    monkeypatch.setenv("VIDGEN_HOME", str(home))
    monkeypatch.setenv("VIDGEN_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    monkeypatch.delenv("VIDGEN_MEDIA_URI", raising=False)
    monkeypatch.delenv("VIDGEN_WAREHOUSE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return home


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition, seconds: float, what: str):
    """Poll `condition` until it returns something truthy; fail naming `what` after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def _answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture
def dagster_dev(vidgen_home) -> Iterator[int]:
    """`dagster dev` run from the repository root, as a user would, on a free port; yields the port.
    Its console log goes to `$VIDGEN_HOME/dagster-dev.log`."""
    port = free_port()
    log = (vidgen_home / "dagster-dev.log").open("wb")
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO_ROOT, env=dict(os.environ), start_new_session=True, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()  # the server holds its own copy
    try:
        wait_for(lambda: _answers(port), 120, "dagster dev to answer")
        yield port
    finally:
        # Its own session: stop the webserver, the daemon and the code server together.
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

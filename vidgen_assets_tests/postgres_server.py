"""A real PostgreSQL 15 server for tests: started as the `postgres` user on a free loopback port, removed after.

PostgreSQL refuses to run as root, so as root the server runs through `runuser -u postgres` in a data
directory that user owns; as any other user it runs as that user.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from vidgen_assets_tests.conftest import free_port

PG_BIN = Path(os.getenv("VIDGEN_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "vidgen"


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    data_dir: Path

    def url(self, database: str = "postgres") -> str:
        # Trust authentication on loopback: the password is never checked, but clients may require one.
        return f"postgresql://{self.user}:unused@{self.host}:{self.port}/{database}"

    def create_database(self, prefix: str = "vidgen") -> str:
        """A new empty database; its `postgresql://` URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


def _start(data_dir: Path) -> int:
    subprocess.run(
        _as_server_user([str(PG_BIN / "initdb"), "-D", str(data_dir), "-A", "trust", "-U", SUPERUSER]),
        check=True, capture_output=True,
    )  # fmt: skip
    for _ in range(3):  # free_port() can race with another process taking the port
        port = free_port()
        options = f"-p {port} -k {data_dir} -h 127.0.0.1 -c max_connections=200 -c fsync=off"
        started = subprocess.run(
            _as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-o", options, "-l", str(data_dir / "server.log"), "-w", "start"]),
            capture_output=True, text=True,
        )  # fmt: skip
        if started.returncode == 0:
            return port
    raise RuntimeError(f"PostgreSQL did not start: {started.stderr}\n{(data_dir / 'server.log').read_text()[-2000:]}")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the test session; tests take their own database from it."""
    # Outside pytest's private temporary tree: the `postgres` user must be able to reach the directory.
    root = Path(tempfile.mkdtemp(prefix="vidgen-pg-"))
    root.chmod(0o755)
    data_dir = root / "data"
    data_dir.mkdir()
    if os.geteuid() == 0:
        shutil.chown(data_dir, "postgres", "postgres")
    port = _start(data_dir)
    try:
        yield PostgresServer("127.0.0.1", port, SUPERUSER, data_dir)
    finally:
        subprocess.run(_as_server_user([str(PG_BIN / "pg_ctl"), "-D", str(data_dir), "-m", "fast", "stop"]), capture_output=True)
        shutil.rmtree(root, ignore_errors=True)

"""A real PostgreSQL 15 server for tests: started once per session in a temporary directory, on a free port.

PostgreSQL refuses to run as root, so under root the server runs as the `postgres` user (`runuser`);
otherwise as the current user. Clients log in with a password over TCP (scram-sha-256), like a
cluster's database, so tests see a URL with a secret in it: `postgresql://vidgen:<secret>@127.0.0.1:<port>/<db>`.
Each test gets a database of its own from `new_database()`.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

BIN = Path(os.getenv("VIDGEN_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
USER = "vidgen"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """One throwaway cluster: `start()`, `new_database()` per test, `stop()` removes everything."""

    def __init__(self, max_connections: int = 200):
        self.password = "pw-" + secrets.token_hex(8)
        self.port = _free_port()
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="vidgen-pg-"))
        self.data = self.root / "data"

    def _run(self, *args: str) -> None:
        as_postgres = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*as_postgres, *args], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{Path(args[0]).name} failed: {result.stderr[-2000:]}")

    def start(self) -> PostgresServer:
        self.root.chmod(0o755)  # the server user must reach its data directory
        self.data.mkdir()
        pwfile = self.root / "pw"
        pwfile.write_text(self.password)
        if os.geteuid() == 0:
            shutil.chown(self.data, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run(
            str(BIN / "initdb"), "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256", "--auth-local=trust", "--encoding=UTF8", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        options = f"-p {self.port} -k {self.data} -h 127.0.0.1 -c fsync=off -c max_connections={self.max_connections}"
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.data / "log"), "-w", "start")
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{USER}:{self.password}@127.0.0.1:{self.port}/{database}"

    def new_database(self, prefix: str = "t") -> str:
        """A fresh empty database; returns its URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url(), autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

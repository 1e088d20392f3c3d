"""Dagster's documented Postgres instance config, exactly as its docs (and the Helm chart) write it, works with the
project's dependency set: `vidgen demo` records its run and events in that instance."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import psycopg
import pytest
import sqlalchemy

from vidgen_assets_tests.conftest import TEST_DAY

pytestmark = pytest.mark.slow

# https://docs.dagster.io/deployment/oss/dagster-yaml: `storage: postgres: postgres_db:` with no scheme.
DOCUMENTED = """\
storage:
  postgres:
    postgres_db:
      username: {username}
      password: {password}
      hostname: {hostname}
      db_name: {db_name}
      port: {port}
"""


def test_a_bare_postgresql_url_means_psycopg2():
    # dagster-postgres builds `postgresql://...` and sends `NOTIFY run_events, %(notify_id)s`: psycopg2 only.
    assert sqlalchemy.create_engine("postgresql://u:p@127.0.0.1/db").dialect.driver == "psycopg2"


def test_vidgen_demo_on_dagster_s_documented_postgres_config(vidgen_home, postgres_url):
    parts = urlsplit(postgres_url)
    config = DOCUMENTED.format(username=parts.username, password=parts.password, hostname=parts.hostname,
                               db_name=parts.path.lstrip("/"), port=parts.port)  # fmt: skip
    (vidgen_home / "dagster" / "dagster.yaml").write_text(config)
    demo = subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", "demo", "--date", str(TEST_DAY), "--count", "1"],
        capture_output=True, text=True, timeout=300, env=dict(os.environ),
    )  # fmt: skip
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    assert demo.stdout.strip().splitlines()[-1].endswith(".mp4")
    with psycopg.connect(postgres_url) as connection:
        (status,) = connection.execute("SELECT status FROM runs").fetchone()
        (reels,) = connection.execute("SELECT count(*) FROM event_logs WHERE asset_key LIKE '%reel%'").fetchone()
    assert status == "SUCCESS" and reels >= 1
    # The instance kept its config: the run is in Postgres, no SQLite run storage beside it.
    assert not list((vidgen_home / "dagster").glob("**/*.db"))

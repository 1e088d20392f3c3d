"""One writer per day across hosts: with a PostgreSQL warehouse the day's lock is an advisory lock there, so two
processes with separate `DAGSTER_HOME`s (two machines sharing the warehouse) take turns on a day."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from vidgen_assets_tests.conftest import TEST_DAY, wait_for

pytestmark = pytest.mark.slow

DAY = TEST_DAY.isoformat()
HOLD = """
import sys
from datetime import date
from vidgen_assets.runner import one_writer_per_day
with one_writer_per_day(date.fromisoformat(sys.argv[1]), {"run_id": "abcdef123456", "launched_by": "host-a"}):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes it
print("released", flush=True)
"""


def host(tmp_path, name: str, postgres_url: str) -> dict[str, str]:
    """The environment of one "machine": its own DAGSTER_HOME and VIDGEN_HOME, the shared warehouse."""
    dagster_home = tmp_path / name / "dagster"
    dagster_home.mkdir(parents=True)
    return {**os.environ, "DAGSTER_HOME": str(dagster_home), "VIDGEN_HOME": str(tmp_path / name),
            "VIDGEN_WAREHOUSE": postgres_url}  # fmt: skip


def follow(process: subprocess.Popen) -> list[str]:
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True).start()
    return lines


def test_a_run_on_another_host_waits_for_the_day_held_in_postgres(vidgen_home, postgres_url, tmp_path):
    env_a, env_b = host(tmp_path, "a", postgres_url), host(tmp_path, "b", postgres_url)
    added = subprocess.run(
        [sys.executable, "-m", "vidgen_assets.cli", "prompts", "add", "--date", DAY, "--prompt", "a kite",
         "--prompt-id", "kite", "--num-frames", "2"], env=env_b, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    holder = subprocess.Popen([sys.executable, "-c", HOLD, DAY], env=env_a, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    held = follow(holder)
    try:
        wait_for(lambda: "held\n" in held, 60, "host a to take the day's lock")
        runner = subprocess.Popen([sys.executable, "-m", "vidgen_assets.cli", "run", "--date", DAY], env=env_b,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        lines = follow(runner)
        said = wait_for(lambda: [line for line in lines if "is in progress" in line], 120, "host b to wait for the day")
        assert f"another run of {DAY} is in progress (host-a run abcdef12 pid {holder.pid}" in said[0], said
        time.sleep(3)
        assert runner.poll() is None  # still waiting while host a holds the day
        assert not list((tmp_path / "b" / "media").glob("reels/**/*.mp4"))
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)
    assert runner.wait(timeout=300) == 0, "".join(lines)[-3000:]
    assert lines[-1].strip().endswith(".mp4") and "released\n" in held


def test_a_killed_holder_frees_the_day(postgres_url, tmp_path):
    env = host(tmp_path, "a", postgres_url)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, DAY], env=env, stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    held = follow(holder)
    wait_for(lambda: "held\n" in held, 60, "the holder to take the day's lock")
    holder.kill()
    holder.wait(timeout=30)
    second = subprocess.Popen([sys.executable, "-c", HOLD, DAY], env=host(tmp_path, "b", postgres_url),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    again = follow(second)
    try:
        wait_for(lambda: "held\n" in again, 60, "the day to be free again after its holder died")
    finally:
        second.stdin.close()
        second.wait(timeout=60)


def test_a_database_statement_timeout_does_not_cancel_the_wait_for_the_day(postgres_url):
    """With `statement_timeout`/`idle_session_timeout` set on the database, a waiter still waits its turn
    (no QueryCanceled) and the holder, idle longer than both, keeps the day until it lets go."""
    import psycopg

    from vidgen_assets.lib.day_lock import hold_day_in_postgres

    database = postgres_url.rsplit("/", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as connection:
        connection.execute(f"ALTER DATABASE \"{database}\" SET statement_timeout = '1s'")
        connection.execute(f"ALTER DATABASE \"{database}\" SET idle_session_timeout = '1s'")
    order: list[str] = []
    errors: list[BaseException] = []
    waiting = threading.Event()

    def second() -> None:
        try:
            with hold_day_in_postgres(postgres_url, DAY, {"launched_by": "b"}, on_wait=lambda _: waiting.set()):
                order.append("b took it")
        except BaseException as error:  # surfaced by the assertions below
            errors.append(error)

    with hold_day_in_postgres(postgres_url, DAY, {"launched_by": "a"}, on_wait=lambda _: None):
        waiter = threading.Thread(target=second)
        waiter.start()
        assert waiting.wait(30), "the second holder never started waiting"
        time.sleep(3)  # well past both timeouts
        assert not errors and not order, (errors, order)
        order.append("a let go")
    waiter.join(timeout=30)
    assert not errors, errors
    assert order == ["a let go", "b took it"]

"""A terminated run ends within its bound: interrupts never leave a lock held that workers need, stops are
bounded, open provider tasks are cancelled (a cancelled run) or left to the retry (a preempted step).

The random-interrupt trials run in a subprocess (`interrupt_trials.py`), so a deadlock fails one test
with every thread's stack instead of hanging the suite; the local shard's are in `test_interrupts_local.py`."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from vidgen_assets.lib.day_lock import hold_day, lock_path
from vidgen_assets.lib.generation.profile import StepProfile
from vidgen_assets.lib.generation.providers.records import read_record
from vidgen_assets.lib.generation.providers.registry import client_for
from vidgen_assets.lib.generation.providers.runner import render_hosted_items
from vidgen_assets.lib.generation.providers.tasks import HostedSettings
from vidgen_assets.lib.interrupts import deferred_interrupts, interrupts_deferred
from vidgen_assets.lib.workers import Workers
from vidgen_assets_tests.conftest import REPO_ROOT
from vidgen_assets_tests.test_providers import day, fake, replicate_fake, store  # noqa: F401

pytestmark = pytest.mark.slow


def interrupt_in(seconds: float) -> None:
    """SIGINT to this process later, as Dagster's termination (`send_interrupt`) sends it."""
    threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT)).start()


def test_a_signal_inside_deferred_interrupts_raises_at_the_blocks_end():
    reached = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            assert interrupts_deferred()
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.05)  # the handler has run by now, and did not raise
            reached.append("end of block")
    assert reached == ["end of block"] and not interrupts_deferred()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # the handler is back


def test_sigterm_goes_to_its_own_handler_after_the_block_and_other_threads_are_left_alone():
    received = []
    previous = signal.signal(signal.SIGTERM, lambda signum, _frame: received.append(signum))
    try:
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)
            assert received == []
        assert received == [signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(_defer_in_thread()))
    thread.start()
    thread.join(5)
    assert seen == [False]  # only the main thread runs handlers: nothing to defer elsewhere


def _defer_in_thread() -> bool:
    with deferred_interrupts():
        return interrupts_deferred()


def test_workers_stop_within_their_grace_and_name_a_call_still_stuck():
    release = threading.Event()
    workers = Workers(lambda n: release.wait(30) if n == 0 else n, [0, 1, 2], concurrency=2, name="stuck-test")
    workers.start()
    started = time.monotonic()
    stuck = workers.stop(grace_s=0.5)
    assert stuck == ["stuck-test_0"] and time.monotonic() - started < 3
    release.set()
    assert workers.stop(grace_s=5) == []


def test_an_interrupt_waits_no_longer_than_the_grace_for_a_worker_stuck_in_a_provider_call(fake, store):  # noqa: F811
    fake.configure(processing_s=30.0, hang_s=4.0)  # every API request hangs 4 s: the create in flight when interrupted
    client = client_for("replicate", "r8_test_token", fake.base_url)
    items, lines = day(store, range(2)), []
    interrupt_in(0.5)
    started = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        render_hosted_items(items, store, client, StepProfile(total=2), report=lines.append,
                            settings=HostedSettings(concurrency=2, stop_grace_s=1.0))  # fmt: skip
    assert time.monotonic() - started < 0.5 + 1.0 + 1.5  # interrupt + grace + slack on a busy machine
    assert any("still in a provider call" in line for line in lines)
    # Left behind, each worker still cancels its task once its create answers: nothing paid stays open.
    deadline = time.monotonic() + 20
    while any(t.name.startswith("hosted-") for t in threading.enumerate()) and time.monotonic() < deadline:
        time.sleep(0.1)
    stats = fake.stats()
    assert stats["creates"] == 2 and stats["cancels"] == 2
    assert {read_record(store, i["key"]).state for i in items} == {"cancelled"}


def test_waiting_for_the_day_lock_ends_at_an_interrupt_without_taking_it(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, sys, time; handle = open(sys.argv[1], 'a+'); fcntl.flock(handle, fcntl.LOCK_EX);"
        "print('held', flush=True); time.sleep(60)"), str(lock_path(tmp_path, "2026-11-01"))],
        stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert holder.stdout.readline().strip() == "held"
        interrupt_in(0.3)
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            with hold_day(tmp_path, "2026-11-01", {"run_id": "r2"}, on_wait=lambda line: None):
                pytest.fail("took a day lock another process holds")
        assert time.monotonic() - started < 3
    finally:
        holder.kill()
        holder.wait()
    with open(lock_path(tmp_path, "2026-11-01"), "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free again: the interrupted waiter holds nothing


def run_trials(*args: str, env: dict | None = None, timeout: float = 240) -> dict:
    """The trials' summary; a failing trial (or a deadlocked one, with its stacks) fails the test."""
    result = subprocess.run([sys.executable, "-m", "vidgen_assets_tests.interrupt_trials", *args], cwd=REPO_ROOT,
                            env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    *failures, summary = result.stdout.strip().splitlines()
    assert failures == [], "\n".join(failures[:20])
    print(summary)  # trials, interrupted, max_stop_s: shown with `pytest -rP`
    return json.loads(summary)


def test_a_hosted_shard_interrupted_at_random_moments_always_stops_in_time_with_its_tasks_as_documented(
    replicate_fake, tmp_path  # noqa: F811
):
    summary = run_trials("hosted", "--base-url", replicate_fake.base_url, "--trials", "200", "--work", str(tmp_path))
    assert summary["failures"] == 0 and summary["interrupted"] == 200
    assert summary["max_stop_s"] < 3.0  # bound: the 2 s grace + 1 s

"""Local multiprocess runs: steps fork from a preloaded server, and always see their caller's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import psutil

from vidgen_assets.definitions import local_multiprocess_executor


@dg.op
def where_am_i() -> dict:
    """The step's view: the variable it was launched with, whether torch was already imported, its parent."""
    return {
        "marker": os.environ["VIDGEN_TEST_MARKER"],
        "torch_preloaded": "torch" in sys.modules,
        "forked_by_server": "forkserver" in " ".join(psutil.Process().parent().cmdline()),
    }


@dg.job(executor_def=local_multiprocess_executor())
def where_am_i_job():
    where_am_i()


# Three runs in one fresh process, as a notebook would: the environment changes before the third.
RUNS = """
import json, os
import dagster as dg
from vidgen_assets_tests.test_step_processes import where_am_i_job
seen = []
with dg.DagsterInstance.get() as instance:
    for marker, start_method in (("first", None), ("first", "spawn"), ("second", None)):
        os.environ["VIDGEN_TEST_MARKER"] = marker
        config = {"execution": {"config": {"start_method": {start_method: {}}}}} if start_method else {}
        with dg.execute_job(dg.reconstructable(where_am_i_job), instance=instance, run_config=config) as result:
            seen.append(result.output_for_node("where_am_i"))
print(json.dumps(seen))
"""


def test_steps_fork_preloaded_unless_told_otherwise_and_never_see_a_stale_environment(vidgen_home):
    done = subprocess.run([sys.executable, "-c", RUNS], env=dict(os.environ), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    first, spawned, after_change = json.loads(done.stdout.strip().splitlines()[-1])
    assert first == {"marker": "first", "torch_preloaded": True, "forked_by_server": True}
    assert spawned == {"marker": "first", "torch_preloaded": False, "forked_by_server": False}  # the run config wins
    # The fork server still holds the old environment: this run spawns its steps instead.
    assert after_change == {"marker": "second", "torch_preloaded": False, "forked_by_server": False}

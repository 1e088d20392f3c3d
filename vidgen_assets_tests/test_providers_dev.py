"""Replicate days launched through `dagster dev` (its daemon, the multiprocess executor) against the fake
Replicate: one renders; one is terminated from Dagster while its tasks run, which cancels them."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest
from dagster_graphql import DagsterGraphQLClient

from vidgen_assets.lib import environment
from vidgen_assets.runner import use_dagster_home
from vidgen_assets_tests.conftest import TEST_DAY, wait_for
from vidgen_assets_tests.fakes.harness import running_fake
from vidgen_assets_tests.test_one_writer import finished
from vidgen_assets_tests.test_providers_day import TOKEN, import_day, recorded_task_ids

pytestmark = pytest.mark.slow


@pytest.fixture
def fake(vidgen_home, monkeypatch):
    """The fake, its URL and a token in the environment `dagster dev` starts with, and the instance as
    `vidgen` sets it up."""
    with running_fake("vidgen_assets_tests.fakes.replicate_server") as replicate:
        monkeypatch.setenv("REPLICATE_BASE_URL", replicate.base_url)
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        use_dagster_home()
        yield replicate


def test_dagster_dev_renders_a_replicate_day_and_a_terminated_run_cancels_its_tasks(fake, dagster_dev):
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev)
    media = Path(environment.media_uri())
    import_day(seeds=(71, 72, 73))
    fake.configure(processing_s=2.0)
    rendered = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": str(TEST_DAY)})
    assert wait_for(lambda: finished(client, rendered), 400, "the Replicate day") == "SUCCESS"
    assert fake.stats()["creates"] == 3 and len(list((media / "clips").glob("clip-*.mp4"))) == 3

    next_day = TEST_DAY + timedelta(days=1)
    import_day(seeds=(74, 75, 76), day=next_day)
    fake.configure(processing_s=600.0)
    terminated = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": str(next_day)})
    wait_for(lambda: len(recorded_task_ids(media)) == 6, 400, "the second day's tasks at the provider")
    client.terminate_run(terminated)
    assert wait_for(lambda: finished(client, terminated), 120, "the terminated run") == "CANCELED"
    wait_for(lambda: fake.stats()["cancels"] == 3, 60, "its 3 tasks to be cancelled")
    assert fake.stats()["creates"] == 6
    states = [json.loads(p.read_text())["state"] for p in (media / "tasks").glob("*.json")]
    assert sorted(states) == ["cancelled"] * 3 + ["succeeded"] * 3
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(terminated).status == dg.DagsterRunStatus.CANCELED

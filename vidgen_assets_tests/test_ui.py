"""The UI, as a person sees it: launch a day from the GraphQL API, then look at the reel's asset page."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from dagster_graphql import DagsterGraphQLClient

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows
from vidgen_assets_tests.conftest import TEST_DAY, free_port

REPO_ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (make setup installs them)"
)


def wait_for(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        time.sleep(1)
    raise AssertionError(f"timed out after {seconds:.0f}s waiting for {what}")


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/server_info", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # No network here: keep Chromium from calling home, and give it an empty profile.
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1000"):
        options.add_argument(flag)  # fmt: skip
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def test_a_day_launched_through_graphql_shows_its_reel_preview(vidgen_home):
    import_rows(Warehouse(environment.warehouse_target()), demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    port = free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "dagster"), "dev", "--port", str(port), "--host", "127.0.0.1"],
        cwd=REPO_ROOT, env=dict(os.environ), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for(lambda: answers(port), 120, "dagster dev")
        client = DagsterGraphQLClient("127.0.0.1", port_number=port)
        run_id = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": str(TEST_DAY)})
        status = wait_for(
            lambda: (s := client.get_run_status(run_id).value) in ("SUCCESS", "FAILURE", "CANCELED") and s, 300, "the run"
        )
        assert status == "SUCCESS"

        from selenium.webdriver.common.by import By

        driver = browser()
        try:
            driver.get(f"http://127.0.0.1:{port}/assets/reel?view=events&partition={TEST_DAY}")
            show = wait_for(
                lambda: driver.find_elements(By.XPATH, "//td[normalize-space()='preview']/following-sibling::td//a"),
                60, "the preview entry",
            )  # fmt: skip
            # A first visit may open a "join the community" dialog over the page; a person would skip it.
            time.sleep(2)
            for skip in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
                skip.click()
            show[0].click()  # markdown metadata opens from its row
            previews = wait_for(
                lambda: driver.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png;base64,']"), 30, "the preview image"
            )
            ARTIFACTS.mkdir(exist_ok=True)
            driver.save_screenshot(str(ARTIFACTS / "reel_asset_page.png"))
            assert previews[0].size["width"] > 32 and previews[0].get_attribute("naturalWidth") not in (None, "0")
        finally:
            driver.quit()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

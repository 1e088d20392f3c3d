"""The UI, as a person sees it: launch a day from the GraphQL API, then look at the reel's asset page."""

from __future__ import annotations

import shutil
import time

import pytest
from dagster_graphql import DagsterGraphQLClient

from vidgen_assets.lib import environment
from vidgen_assets.lib.warehouse import Warehouse
from vidgen_assets.lib.warehouse.importer import demo_rows, import_rows
from vidgen_assets_tests.conftest import REPO_ROOT, TEST_DAY, wait_for

ARTIFACTS = REPO_ROOT / "artifacts"
CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="needs Debian's chromium and chromium-driver (make setup installs them)"),
]


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


def test_a_day_launched_through_graphql_shows_its_reel_preview(dagster_dev):
    from selenium.webdriver.common.by import By

    import_rows(Warehouse(environment.warehouse_target()), demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev)
    run_id = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": str(TEST_DAY)})
    status = wait_for(
        lambda: (s := client.get_run_status(run_id).value) in ("SUCCESS", "FAILURE", "CANCELED") and s, 300, "the run"
    )
    assert status == "SUCCESS"

    driver = browser()
    try:
        driver.get(f"http://127.0.0.1:{dagster_dev}/assets/reel?view=events&partition={TEST_DAY}")
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

"""The UI, as a person sees it: launch a day from the GraphQL API, then look at the reel's asset page."""

from __future__ import annotations

import base64
import io
import shutil
import time

import pytest
from dagster_graphql import DagsterGraphQLClient
from PIL import Image

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


def page_text(driver) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def skip_welcome(driver) -> None:
    """A first visit may open a "join the community" dialog over the page; a person would skip it."""
    from selenium.webdriver.common.by import By

    time.sleep(2)
    for skip in driver.find_elements(By.XPATH, "//button[normalize-space()='Skip']"):
        skip.click()


def open_markdown(driver, label: str, css: str):
    """Open the markdown metadata entry `label` of the latest event shown and wait for `css` inside it."""
    from selenium.webdriver.common.by import By

    show = wait_for(
        lambda: driver.find_elements(By.XPATH, f"//td[normalize-space()='{label}']/following-sibling::td//a"), 60, label
    )
    skip_welcome(driver)
    show[0].click()  # markdown metadata opens from its row
    return wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, css), 30, f"{label}'s content")


def test_a_rendered_day_reads_right_in_the_ui(dagster_dev):
    """Launched as *Jobs → daily_reel_job → Materialize* does; then what a user sees on each page."""
    from selenium.webdriver.common.by import By

    day = str(TEST_DAY)
    import_rows(Warehouse(environment.warehouse_target()), demo_rows(TEST_DAY, 2), {"tiny"}, {"tiny"})
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_dev)
    run_id = client.submit_job_execution("daily_reel_job", tags={"dagster/partition": day})
    status = wait_for(
        lambda: (s := client.get_run_status(run_id).value) in ("SUCCESS", "FAILURE", "CANCELED") and s, 300, "the run"
    )
    assert status == "SUCCESS"
    # No library noise in the `dagster dev` log or the steps' compute logs (stdout/stderr captured per step).
    logs = [environment.vidgen_home() / "dagster-dev.log", *environment.dagster_home().rglob("*.err"),
            *environment.dagster_home().rglob("*.out")]  # fmt: skip
    assert len(logs) > 2
    for log in logs:
        text = log.read_text(errors="replace")
        for noise in ("BetaWarning", "torchvision", "it/s]"):
            assert noise not in text, f"{noise} in {log}"

    base = f"http://127.0.0.1:{dagster_dev}"
    driver = browser()
    ARTIFACTS.mkdir(exist_ok=True)
    try:
        # The asset graph of the daily group: the whole day's chain, render_stats included (the global
        # graph folds each group, `vidgen` and `experiments`, into one box).
        driver.get(f"{base}/locations/vidgen_assets/asset-groups/vidgen")
        wait_for(lambda: all(a in page_text(driver) for a in ("theme_prompts", "prompts", "soundtrack", "reel", "render_stats")),
                 60, "the asset graph")  # fmt: skip
        driver.save_screenshot(str(ARTIFACTS / "ui_asset_graph.png"))

        # The reel's partition: made by the daily job, not a hidden asset job.
        driver.get(f"{base}/assets/reel?view=partitions&partition={day}")
        wait_for(lambda: "daily_reel_job" in page_text(driver), 60, "the job on the reel's partition page")
        driver.save_screenshot(str(ARTIFACTS / "ui_reel_partition.png"))

        # The reel's animated preview, sampled from the reel itself.
        driver.get(f"{base}/assets/reel?view=events&partition={day}")
        (preview,) = open_markdown(driver, "preview", "img[src^='data:image/webp;base64,']")[:1]
        driver.save_screenshot(str(ARTIFACTS / "ui_reel_preview.png"))
        webp = base64.b64decode(preview.get_attribute("src").split(",", 1)[1])
        assert Image.open(io.BytesIO(webp)).is_animated and preview.get_attribute("naturalWidth") not in (None, "0")

        # The checks tab: each check's latest execution belongs to the day it checked, and its result says so.
        driver.get(f"{base}/assets/reel?view=checks")
        for name in ("reel_plays_and_adds_up", "reel_due_by_deadline"):
            wait_for(lambda: driver.find_elements(By.XPATH, f"//*[normalize-space()='{name}']"), 60, name)[0].click()
            wait_for(lambda: f"{name}\nExecute\n" in (text := page_text(driver)) and f"Partition\n{day}" in text
                     and f"Latest execution\n{day}: " in text, 30, f"{name}'s day")  # fmt: skip
        driver.save_screenshot(str(ARTIFACTS / "ui_reel_checks.png"))

        # render_stats: its table shows the day as a date.
        driver.get(f"{base}/assets/render_stats?view=events&partition={day}")
        # A short table shows in place; a longer one behind "Show Markdown".
        inline = "//td[normalize-space()='stats']/following-sibling::td//table//td"
        found = wait_for(lambda: driver.find_elements(By.XPATH, inline) or driver.find_elements(
            By.XPATH, "//td[normalize-space()='stats']/following-sibling::td//a"), 60, "the stats entry")  # fmt: skip
        cells = found if found[0].tag_name == "td" else open_markdown(driver, "stats", "table td")
        driver.save_screenshot(str(ARTIFACTS / "ui_render_stats.png"))
        assert cells[0].text == day and "00:00:00" not in page_text(driver)
    except Exception:
        (ARTIFACTS / "ui_failure.txt").write_text(driver.current_url + "\n" + page_text(driver))
        driver.save_screenshot(str(ARTIFACTS / "ui_failure.png"))
        raise
    finally:
        driver.quit()

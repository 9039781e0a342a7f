"""The fleet view in a real headless browser: Debian's Chromium and chromedriver, driven by Selenium.

The server is the one ``fleetsync ui`` runs, over conftest.py's fleet (real hub, real agents).
The browser opens each page, follows the links a person follows (matrix → placement → cluster,
runs → placement), filters the matrix with the form (no JavaScript is involved: the form is a
GET) and keeps a screenshot of the fleet page, in $FLEETSYNC_TEST_ARTEFACTS when set (CI uploads
it) or the test's temporary directory. Without Chromium and its driver the tests skip and say
how to install them (``apt-get install chromium chromium-driver``); Selenium itself is a test
dependency in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fleetsync.ui.model import CommitLinks
from fleetsync.ui.serve import serving_ui
from reconciler.gitstore.repo import open_hub_repo
from tests.fleetsync.ui.conftest import BuiltFleet

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
)
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None or DRIVER is None,
        reason="no Chromium or chromedriver on PATH: apt-get install chromium chromium-driver",
    ),
]


@pytest.fixture(scope="module")
def base_url(built: BuiltFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mirror = tmp_path_factory.mktemp("browser") / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(built.remote), str(mirror)], check=True)
    with (
        open_hub_repo(str(mirror)) as repo,
        serving_ui(("127.0.0.1", 0), repo, str(mirror), CommitLinks(None), now=built.clock) as server,
    ):
        yield f"http://127.0.0.1:{server.port}"


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    options = webdriver.ChromeOptions()
    assert CHROMIUM is not None and DRIVER is not None
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=DRIVER))
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get("FLEETSYNC_TEST_ARTEFACTS") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def click(browser: WebDriver, by: str, what: str) -> None:
    """Click and wait for the next page to replace this one (a click returns before it loads)."""
    page = browser.find_element(By.TAG_NAME, "html")
    browser.find_element(by, what).click()
    WebDriverWait(browser, 10).until(expected_conditions.staleness_of(page))


def test_each_page_opens_with_its_heading(browser: WebDriver, base_url: str) -> None:
    for path, heading in (
        ("/", "Fleet"),
        ("/placements/ClusterResourcePlacement/web", "ClusterResourcePlacement web"),
        ("/clusters/prod-1", "Cluster prod-1"),
        ("/runs", "Staged update runs"),
    ):
        browser.get(base_url + path)
        assert browser.find_element(By.TAG_NAME, "h1").text == heading, path


def test_following_links_goes_from_the_matrix_to_a_placement_and_on_to_a_cluster(
    browser: WebDriver, base_url: str
) -> None:
    browser.get(base_url + "/")
    click(browser, By.LINK_TEXT, "web")
    assert browser.find_element(By.TAG_NAME, "h1").text == "ClusterResourcePlacement web"
    click(browser, By.LINK_TEXT, "prod-1")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Cluster prod-1"
    assert "/spec/replicas" in browser.find_element(By.TAG_NAME, "main").text
    click(browser, By.LINK_TEXT, "Staged runs")
    assert "fleetsync approve shop-v1 canary --after" in browser.find_element(By.TAG_NAME, "main").text


def test_the_filter_form_narrows_the_matrix(browser: WebDriver, base_url: str, tmp_path: Path) -> None:
    browser.get(base_url + "/")
    browser.save_screenshot(str(artefacts(tmp_path) / "fleet-view.png"))
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")
    assert {r.text for r in rows} == {"dev-1", "canary-1", "prod-1"}
    Select(browser.find_element(By.ID, "f-state")).select_by_value("drifted")
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert "state=drifted" in browser.current_url
    rows = browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")
    assert [r.text for r in rows] == ["prod-1"]
    browser.get(base_url + "/")
    browser.find_element(By.ID, "f-label").send_keys("ring=dev")
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")] == ["dev-1"]

"""The fleet view in a real headless browser: Debian's Chromium and chromedriver, driven by Selenium.

The server is the one ``fleetsync ui`` runs, over conftest.py's fleet (real hub, real agents).
The browser opens each page, follows the links a person follows (matrix → placement → cluster,
runs → placement), filters the matrix with the form (no JavaScript is involved: the form is a
GET; several label filters add up, each removable by a link) and keeps a screenshot of the fleet
page. tests/support/browser.py starts the browser (one for the module, off the network), skips
naming ``./dev setup-browser`` without it and fails instead under ``FLEETSYNC_REQUIRE_BROWSER=1``
(CI). The demo fleet's screenshot (docs/ui-fleet.png) is taken by tests/fleetsync/demo/test_demo.py,
on the demo that module runs anyway.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fleetsync.ui.model import CommitLinks
from fleetsync.ui.serve import serving_ui
from reconciler.gitstore.repo import open_hub_repo
from tests.fleetsync.ui.conftest import BuiltFleet
from tests.support.browser import artefacts, chromium, screenshot

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')")
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield driver


@pytest.fixture(scope="module")
def base_url(built: BuiltFleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    mirror = tmp_path_factory.mktemp("browser") / "mirror.git"
    subprocess.run(["git", "clone", "-q", "--mirror", str(built.remote), str(mirror)], check=True)
    with (
        open_hub_repo(str(mirror)) as repo,
        serving_ui(("127.0.0.1", 0), repo, str(mirror), CommitLinks(None), now=built.clock) as server,
    ):
        yield f"http://127.0.0.1:{server.port}"


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


def rows(browser: WebDriver) -> list[str]:
    return [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]


def test_the_filter_form_narrows_the_matrix(browser: WebDriver, base_url: str, tmp_path: Path) -> None:
    browser.get(base_url + "/")
    screenshot(browser, artefacts(tmp_path) / "fleet-view.png")
    assert set(rows(browser)) == {"dev-1", "canary-1", "prod-1"}
    browser.find_element(By.ID, "f-state-drifted").click()
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert "state=drifted" in browser.current_url
    assert rows(browser) == ["prod-1"]
    browser.get(base_url + "/")
    browser.find_element(By.ID, "f-label").send_keys("ring=dev")
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert rows(browser) == ["dev-1"]


def test_label_filters_add_up_in_the_form_and_each_can_be_removed(browser: WebDriver, base_url: str) -> None:
    browser.get(base_url + "/")
    browser.find_element(By.ID, "f-label").send_keys("environment=production")
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert sorted(rows(browser)) == ["canary-1", "prod-1"]
    assert browser.find_element(By.ID, "f-label-1").get_attribute("value") == "environment=production"
    browser.find_element(By.ID, "f-label").send_keys("ring=canary")  # the empty field for one more
    click(browser, By.CSS_SELECTOR, "form button[type=submit]")
    assert rows(browser) == ["canary-1"]
    assert [browser.find_element(By.ID, f"f-label-{i}").get_attribute("value") for i in (1, 2)] == [
        "environment=production",
        "ring=canary",
    ]
    click(browser, By.XPATH, '//li[code="ring=canary"]/a[starts-with(., "remove")]')
    assert sorted(rows(browser)) == ["canary-1", "prod-1"]

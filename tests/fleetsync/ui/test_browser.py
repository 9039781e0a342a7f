"""The fleet view in a real headless browser: Debian's Chromium and chromedriver, driven by Selenium.

The server is the one ``fleetsync ui`` runs, over conftest.py's fleet (real hub, real agents).
The browser opens each page, follows the links a person follows (matrix → placement → cluster,
runs → placement), filters the matrix with the form (no JavaScript is involved: the form is a
GET), and opens the view ``fleetsync demo --keep`` serves of the demo fleet, keeping a screenshot
of it (docs/ui-fleet.png is one) in $FLEETSYNC_TEST_ARTEFACTS when set (CI sets artefacts/) or
the test's temporary directory. One browser serves the whole module: starting Chromium costs
more than all the pages together. It runs with flags that keep it off the network (no sync,
component updates, QUIC or background requests: on a closed network those hang) and a fresh
profile. Without Chromium and its driver the tests skip naming ``./dev setup-browser`` (which
installs them with apt-get); with ``FLEETSYNC_REQUIRE_BROWSER=1`` (CI) they fail instead, so a
CI run can never pass without them. Selenium itself is a test dependency in pyproject.toml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from fleetsync.demo.story import TEMPLATE, DemoOptions, run_demo
from fleetsync.demo.view import PlainOutput
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
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MISSING = (
    "no Chromium or chromedriver on PATH: run ./dev setup-browser "
    "(as root or with sudo: apt-get install chromium chromium-driver)"
)
# Headless, and nothing that reaches for the network on its own: on a closed network Chromium
# otherwise waits on those connections. The profile directory is added per browser (a fresh one).
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1400,900",
)
pytestmark = pytest.mark.slow


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
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    if CHROMIUM is None or DRIVER is None:
        if os.environ.get("FLEETSYNC_REQUIRE_BROWSER") == "1":
            pytest.fail(f"FLEETSYNC_REQUIRE_BROWSER=1 but {MISSING}")
        pytest.skip(MISSING)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
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


def rows(browser: WebDriver) -> list[str]:
    return [r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]


def test_the_filter_form_narrows_the_matrix(browser: WebDriver, base_url: str) -> None:
    browser.get(base_url + "/")
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


def screenshot(browser: WebDriver, path: Path) -> None:
    """The whole page: the window grows to the document's height for the shot, then shrinks back."""
    height = int(browser.execute_script("return document.documentElement.scrollHeight"))
    browser.set_window_size(1400, min(max(height, 900), 4000))
    try:
        assert browser.save_screenshot(str(path)), path
    finally:
        browser.set_window_size(1400, 900)


def test_the_kept_demo_shows_its_fleet_in_the_browser_and_leaves_a_screenshot(
    browser: WebDriver, tmp_path: Path
) -> None:
    """What ``./dev demo --keep`` promises: its URL opens the fleet of the template's clusters."""
    shot = artefacts(tmp_path) / "demo-fleet.png"
    rows: list[str] = []

    def look(url: str) -> None:
        browser.get(url)
        rows.extend(r.text for r in browser.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]"))
        screenshot(browser, shot)

    lines: list[str] = []
    result = run_demo(
        DemoOptions(workdir=tmp_path / "demo", keep=True, view=look),
        PlainOutput(lines.append),
        clock=lambda: datetime.now(UTC),
        sleep=lambda _s: None,
    )
    assert result.ok, "\n".join(lines)
    assert sorted(rows) == sorted(p.stem for p in (TEMPLATE / "clusters").glob("*.yaml"))
    assert shot.stat().st_size > 10_000, "the screenshot is an empty page"

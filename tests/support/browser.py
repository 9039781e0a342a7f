"""Debian's Chromium under Selenium, for the tests that look at the fleet view in a real browser.

One browser per test module (starting Chromium costs more than every page it opens), with flags
that keep it off the network: no sync, component updates, QUIC or background requests, which on a
closed network leave it waiting on connections, and a fresh profile directory. Selenium is
imported when a browser starts, so a module that holds one browser test among others imports
cleanly without it. Without Chromium and chromedriver the browser skips naming
``./dev setup-browser`` (which installs them with apt-get); with ``FLEETSYNC_REQUIRE_BROWSER=1``
(CI, .ci/run) it fails instead, so a CI run can never pass without looking. Screenshots go to
``$FLEETSYNC_TEST_ARTEFACTS`` when set (CI: artefacts/, git-ignored) or the test's tmp_path.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from selenium.webdriver.chrome.webdriver import WebDriver

REQUIRED = "FLEETSYNC_REQUIRE_BROWSER"
ARTEFACTS = "FLEETSYNC_TEST_ARTEFACTS"
MISSING = (
    "no Chromium or chromedriver on PATH: run ./dev setup-browser "
    "(as root or with sudo: apt-get install chromium chromium-driver)"
)
WIDTH, HEIGHT, MAX_HEIGHT = 1400, 900, 4000
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
    f"--window-size={WIDTH},{HEIGHT}",
)


@contextmanager
def chromium(profile: Path) -> Iterator[WebDriver]:
    """A headless Chromium with a fresh profile in ``profile``; skips (or fails, see above) without one."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    if binary is None or driver_path is None:
        if os.environ.get(REQUIRED) == "1":
            pytest.fail(f"{REQUIRED}=1 but {MISSING}")
        pytest.skip(MISSING)
    webdriver = pytest.importorskip(
        "selenium.webdriver", reason="selenium is not installed (pip install -e '.[test]')"
    )
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver: WebDriver = webdriver.Chrome(
        options=options, service=webdriver.ChromeService(executable_path=driver_path)
    )
    driver.implicitly_wait(5)
    try:
        yield driver
    finally:
        driver.quit()


def artefacts(tmp_path: Path) -> Path:
    where = Path(os.environ.get(ARTEFACTS) or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


def screenshot(browser: WebDriver, path: Path) -> None:
    """The whole page: the window grows to the document's height for the shot, then shrinks back
    (the window is taller than the page's viewport by the browser's own frame)."""
    page, viewport = browser.execute_script(
        "return [document.documentElement.scrollHeight, window.innerHeight]"
    )
    frame = int(browser.get_window_size()["height"]) - int(viewport)
    browser.set_window_size(WIDTH, min(max(int(page) + frame, HEIGHT), MAX_HEIGHT))
    try:
        assert browser.save_screenshot(str(path)), path
    finally:
        browser.set_window_size(WIDTH, HEIGHT)

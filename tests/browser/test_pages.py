"""Steward's pages in a real headless Chromium, at desktop and phone widths: the setup
page, a refused setup callback, and the triage evaluation report.

Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them) driven by
Selenium. Screenshots go to ``$STEWARD_ARTIFACTS`` (default ``.steward/artifacts``) so a
person can look at them. Where no Chromium is installed the test says so and skips.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import load_settings
from core.store import open_store
from tests.browser.serving import web_app_in_thread

CHROMIUM = Path("/usr/bin/chromium")
DRIVER = Path("/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("STEWARD_ARTIFACTS") or ".steward/artifacts")

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def setup_server(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An unconfigured ``steward serve`` web app (the setup page), served from a thread."""
    folder = tmp_path_factory.mktemp("setup")
    settings = load_settings({}, env_file=folder / "none.env")
    store = open_store(f"sqlite:///{folder}/s.db")
    with web_app_in_thread(settings, store, redis_url) as url:
        yield url


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


@pytest.mark.parametrize(("name", "width", "height"), [("desktop", 1280, 900), ("phone", 375, 740)])
def test_the_setup_page_reads_well_at_desktop_and_phone_widths(
    browser: Any, setup_server: str, name: str, width: int, height: int
) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, height)
    browser.get(setup_server + "/")
    assert browser.title == "Set up Steward"
    hook = browser.find_element(By.ID, "hook").text
    assert hook.endswith("/api/github/webhooks")
    warning = browser.find_element(By.CLASS_NAME, "warn")
    assert "GitHub cannot reach" in warning.text and warning.is_displayed()
    # Nothing overflows the window or touches its edges.
    inner = browser.execute_script("return document.documentElement.clientWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, f"the page is {scroll}px wide in a {inner}px window"
    for element in browser.find_elements(By.CSS_SELECTOR, "h1, p, form, code, button"):
        box = element.rect
        assert box["x"] >= 8 and box["x"] + box["width"] <= inner - 8, element.text[:40]
    button = browser.find_element(By.TAG_NAME, "button")
    assert button.is_displayed() and button.text == "Register the GitHub App"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"setup-page-{name}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_stray_callback_is_a_readable_page(browser: Any, setup_server: str) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(375, 740)
    browser.get(setup_server + "/setup/callback?code=abc123")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Setup link not recognised"
    assert browser.find_element(By.LINK_TEXT, "Start the setup again").is_displayed()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "setup-callback-refused-phone.png"))


def test_chromium_is_the_one_debian_installs() -> None:
    assert shutil.which("chromium") == str(CHROMIUM)


@pytest.fixture(scope="module")
def report_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An evaluation report of a 200-issue repository (a model that is right 85 % of the time)."""
    import numpy as np

    from models.triage.evaluate import evaluate_repo, summarise, write_report

    rng = np.random.default_rng(0)
    labels = ["bug", "feature", "question"]
    truth = np.eye(3)[rng.integers(0, 3, 200)]
    logits = rng.normal(size=(200, 3)) + 2.5 * truth
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    thresholds = {"bug": 0.8, "feature": 0.85, "question": 1.01}
    scores = evaluate_repo(labels, truth, probs, thresholds, multi_label=False)
    summary = summarise({"facebook/react": scores})
    out = tmp_path_factory.mktemp("report")
    return write_report(out, summary, {"facebook/react": (labels, truth, probs)})


@pytest.mark.parametrize(
    ("name", "width", "height"), [("desktop", 1280, 1400), ("phone", 375, 800)]
)
def test_the_evaluation_report_reads_in_a_minute(
    browser: Any, report_page: Path, name: str, width: int, height: int
) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, height)
    browser.get(report_page.as_uri())
    tables = browser.find_elements(By.TAG_NAME, "table")
    first = tables[0].text
    assert (
        "facebook/react" in first and "facebook__react" not in first
    )  # names as people write them
    assert "applied precision" in first and len(tables) == 2  # summary, then per label
    headings = [h.text for h in browser.find_elements(By.TAG_NAME, "h2")]
    assert headings == ["facebook/react"]
    images = browser.find_elements(By.TAG_NAME, "img")
    assert len(images) == 3
    assert all(browser.execute_script("return arguments[0].naturalWidth", i) > 0 for i in images)
    assert "{" not in browser.find_element(By.TAG_NAME, "body").text  # no raw JSON dump
    inner = browser.execute_script("return document.documentElement.clientWidth")
    assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / f"evaluation-report-{name}.png"))

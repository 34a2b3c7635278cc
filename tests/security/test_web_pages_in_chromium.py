"""The pages under their Content-Security-Policy in a real headless Chromium: the
dashboard's inline stylesheet and SVG plots and the setup page's one script still work,
and the browser reports no violation. Screenshots go to ``$STEWARD_ARTIFACTS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.test_dashboard import REPO, dashboard, dashboard_store, github
from tests.browser.test_pages import ARTIFACTS, CHROMIUM, DRIVER, setup_server

__all__ = ["dashboard", "dashboard_store", "github", "setup_server"]

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Headless Chromium that keeps its console (where it reports CSP violations)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    yield driver
    driver.quit()


def violations(browser: Any) -> list[str]:
    """What the console said about the Content-Security-Policy since the last call."""
    return [
        entry["message"]
        for entry in browser.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def test_the_dashboard_renders_under_its_policy(chromium: Any, dashboard: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    chromium.set_window_size(1280, 900)
    chromium.get(f"{dashboard}/dashboard/signin")
    chromium.find_element(By.ID, "signin").click()  # through the fake's OAuth, back signed in
    WebDriverWait(chromium, 10).until(lambda b: b.current_url == f"{dashboard}/dashboard")
    chromium.get(f"{dashboard}/dashboard/{REPO}")
    header = chromium.find_element(By.TAG_NAME, "header")
    assert header.value_of_css_property("background-color") == "rgba(17, 24, 39, 1)"  # styled
    plots = chromium.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) >= 4 and all(p.size["width"] > 100 and p.size["height"] > 20 for p in plots)
    bars = chromium.find_elements(By.CSS_SELECTOR, "svg.plot rect")
    assert bars and bars[0].size["width"] > 0
    assert violations(chromium) == []
    height = chromium.execute_script("return document.documentElement.scrollHeight")
    chromium.set_window_size(1280, min(int(height) + 140, 4000))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    chromium.save_screenshot(str(ARTIFACTS / "dashboard-repo-under-csp.png"))
    chromium.find_element(By.CSS_SELECTOR, "header form.out button").click()  # a POST
    WebDriverWait(chromium, 10).until(lambda b: b.current_url.endswith("/dashboard/signin"))
    assert violations(chromium) == []


def test_the_setup_pages_script_runs_under_its_policy(chromium: Any, setup_server: str) -> None:
    from selenium.webdriver.common.by import By

    chromium.get(setup_server + "/")
    form = chromium.find_element(By.ID, "f")
    assert form.find_element(By.TAG_NAME, "button").value_of_css_property("font-size") == "16px"
    chromium.find_element(By.ID, "org").send_keys("my org")
    # The script's submit handler is what points the form at the organisation's page.
    chromium.execute_script(
        "arguments[0].dispatchEvent(new Event('submit', {cancelable: true}));", form
    )
    action = form.get_attribute("action")
    assert "/organizations/my%20org/settings/apps/new?state=" in action, action
    assert violations(chromium) == []
    chromium.save_screenshot(str(ARTIFACTS / "setup-page-under-csp.png"))

"""The maintainers' dashboard in a real headless Chromium: sign in with GitHub through
the fake's OAuth web flow, the index and a repository's page with seeded data, and a
404 for a repository the person cannot reach. Screenshots at desktop and phone widths
go to ``$STEWARD_ARTIFACTS`` (default ``.steward/artifacts``).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from core.settings import load_settings
from core.store import Store, open_store
from fakegithub.fake import FakeGitHub
from tests.browser.serving import web_app_in_thread
from tests.browser.test_pages import ARTIFACTS, CHROMIUM, DRIVER, browser
from tests.dashboard_seed import seed
from tests.support import APP_ID, SECRET, key_pair

__all__ = ["browser"]

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and DRIVER.exists()),
    reason="needs Debian's chromium and chromium-driver (apt-get install chromium chromium-driver)",
)

CLIENT_ID, CLIENT_SECRET = "Iv1.dashboardtest", "client-secret-for-tests"
REPO, HIDDEN = "acme/widgets", "acme/vault"


def dashboard_fake() -> FakeGitHub:
    """Alice maintains acme/widgets; acme/vault is installed too, but not hers."""
    fake = FakeGitHub()
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(31, "acme", app_id=APP_ID)
    fake.add_repo("acme", "widgets", collaborators={"alice": "maintain"})
    fake.add_repo("acme", "vault", collaborators={"bob": "admin"})
    fake.oauth.approve_as = "alice"
    fake.oauth.clients[CLIENT_ID] = CLIENT_SECRET
    return fake


@pytest.fixture(scope="module")
def github() -> Iterator[tuple[FakeGitHub, str]]:
    """The fake GitHub, served in a thread."""
    fake = dashboard_fake()
    with fake.serve_in_thread() as url:
        yield fake, url


@pytest.fixture(scope="module")
def dashboard_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The dashboard's store, seeded: acme/widgets (Alice's) and acme/vault."""
    folder = tmp_path_factory.mktemp("dashboard-store")
    store = open_store(f"sqlite:///{folder}/s.db")
    store.upsert_installation(31, "acme", "Organization")
    store.add_repositories(31, [(1, REPO), (2, HIDDEN)])
    seed(store, REPO, items=400, people=30)
    seed(store, HIDDEN, items=40, people=5)
    return store


@pytest.fixture(scope="module")
def dashboard(
    redis_url: str,
    github: tuple[FakeGitHub, str],
    dashboard_store: Store,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """A configured ``steward serve`` web app with a seeded store, served from a thread."""
    folder = tmp_path_factory.mktemp("dashboard")
    env = {
        "APP_ID": str(APP_ID),
        "PRIVATE_KEY": key_pair()[0],
        "WEBHOOK_SECRET": SECRET,
        "GITHUB_CLIENT_ID": CLIENT_ID,
        "GITHUB_CLIENT_SECRET": CLIENT_SECRET,
        "GITHUB_API_URL": github[1],
    }
    settings = load_settings(env, env_file=folder / "none.env")
    with web_app_in_thread(settings, dashboard_store, redis_url) as url:
        yield url


def _shot(browser: Any, name: str, width: int) -> None:
    """A screenshot of the whole page at ``width``."""
    browser.set_window_size(width, 740)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 140, 4000))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"{name}.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def _fits(browser: Any) -> None:
    inner = browser.execute_script("return document.documentElement.clientWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, f"the page is {scroll}px wide in a {inner}px window"


def test_not_signed_in_goes_to_the_sign_in_page(browser: Any, dashboard: str) -> None:
    browser.delete_all_cookies()
    browser.get(f"{dashboard}/dashboard/{REPO}")
    assert browser.current_url == f"{dashboard}/dashboard/signin"
    assert "Sign in with GitHub" in browser.page_source
    _fits(browser)
    _shot(browser, "dashboard-signin-phone", 375)


def test_sign_in_lists_the_repositories_the_person_reaches(
    browser: Any, dashboard: str, github: tuple[FakeGitHub, str]
) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(f"{dashboard}/dashboard/signin")
    browser.find_element(By.ID, "signin").click()
    assert browser.current_url == f"{dashboard}/dashboard"
    links = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "ul.repos a")]
    assert links == [REPO]  # acme/vault is installed, but not Alice's
    assert "alice" in browser.find_element(By.TAG_NAME, "header").text
    session = browser.get_cookie("steward_session")
    assert session["httpOnly"] and session["sameSite"] == "Lax"
    called = {r.operation_id for r in github[0].requests}
    assert {"users/get-authenticated", "apps/list-installations-for-authenticated-user"} <= called
    assert github[0].violations == [], github[0].violations
    _shot(browser, "dashboard-index-desktop", 1280)


@pytest.mark.parametrize(("name", "width"), [("desktop", 1280), ("phone", 375)])
def test_a_repository_page_shows_triage_response_and_people(
    browser: Any, dashboard: str, name: str, width: int
) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, 900)
    browser.get(f"{dashboard}/dashboard/{REPO}")
    assert browser.find_element(By.TAG_NAME, "h1").text == REPO
    triage = browser.find_element(By.ID, "triage").text
    assert "live precision" in triage and "bug" in triage and "fine-tuned model" in triage
    assert "− bug" in triage or "− docs" in triage  # recent corrections
    duplicates = browser.find_element(By.ID, "duplicates").text
    # The seeded gate: 140 of 141 right in the replay, 11 of 12 kept by people since.
    assert "live\ngate" in duplicates and "12\nsuggested live" in duplicates
    assert "9\nconfirmed" in duplicates and "1\nwrong" in duplicates
    assert "at least 95 %" in duplicates and "the bar is 95 %: it clears the bar" in duplicates
    assert "140 of 141 right" in duplicates and "11 of 12 kept by people" in duplicates
    response = browser.find_element(By.ID, "response").text
    assert "unanswered now" in response and "median" in response
    assert "Waiting for a first answer" in response and "person-001" in response
    assert "not routed yet" in response  # the ones less than a day old
    people = browser.find_element(By.ID, "people").text
    assert "newcomers welcomed" in people and "person-0" in people
    plots = browser.find_elements(By.CSS_SELECTOR, "svg.plot")
    assert len(plots) >= 5 and all(p.size["width"] > 100 for p in plots)
    _fits(browser)
    _shot(browser, f"dashboard-repo-{name}", width)
    section = browser.find_element(By.ID, "duplicates")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    assert section.screenshot(str(ARTIFACTS / f"dashboard-duplicates-{name}.png"))


def test_a_repository_the_person_cannot_reach_is_a_404(browser: Any, dashboard: str) -> None:
    import urllib.request

    browser.get(f"{dashboard}/dashboard/{HIDDEN}")
    assert browser.find_element("tag name", "h1").text == "Not found"
    cookie = browser.get_cookie("steward_session")["value"]
    for path in (HIDDEN, "acme/nothing-here", REPO):
        request = urllib.request.Request(
            f"{dashboard}/dashboard/{path}", headers={"Cookie": f"steward_session={cookie}"}
        )
        try:
            status = urllib.request.urlopen(request).status
        except urllib.error.HTTPError as exc:
            status = exc.code
        assert status == (200 if path == REPO else 404), path
    _shot(browser, "dashboard-404-phone", 375)


def test_a_forged_cookie_is_nobody(browser: Any, dashboard: str) -> None:
    browser.get(f"{dashboard}/dashboard/signin")
    browser.delete_all_cookies()
    browser.add_cookie({"name": "steward_session", "value": "e30.AAAA", "path": "/dashboard"})
    browser.get(f"{dashboard}/dashboard")
    assert browser.current_url.endswith("/dashboard/signin")


def test_a_callback_without_this_servers_state_signs_nobody_in(
    browser: Any, dashboard: str
) -> None:
    browser.delete_all_cookies()
    browser.get(f"{dashboard}/dashboard/callback?code=abc&state=forged")
    assert "was not started here" in browser.page_source
    browser.get(f"{dashboard}/dashboard")
    assert browser.current_url.endswith("/dashboard/signin")


def _status(url: str, cookie: str) -> tuple[int, str]:
    """The status of a GET with the session cookie (redirects not followed) and where to."""
    import urllib.error
    import urllib.request

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    request = urllib.request.Request(url, headers={"Cookie": f"steward_session={cookie}"})
    try:
        with opener.open(request) as answer:
            return answer.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", "")


def _signed_in_cookie(browser: Any, dashboard: str) -> str:
    """Sign in afresh in the browser; the new session cookie's value."""
    from selenium.webdriver.common.by import By

    browser.delete_all_cookies()
    browser.get(f"{dashboard}/dashboard/signin")
    browser.find_element(By.ID, "signin").click()
    assert browser.current_url == f"{dashboard}/dashboard"
    value: str = browser.get_cookie("steward_session")["value"]
    assert len(value) < 300  # an id, not the person's repositories
    return value


def test_signing_out_ends_the_session_everywhere(browser: Any, dashboard: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    cookie = _signed_in_cookie(browser, dashboard)
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 200
    browser.get(f"{dashboard}/dashboard/logout")  # a GET (a link anywhere) only shows a button
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 200
    browser.get(f"{dashboard}/dashboard/{REPO}")
    browser.find_element(By.CSS_SELECTOR, "header form.out button").click()  # a POST
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/dashboard/signin"))
    # A copy of the cookie kept elsewhere no longer signs anybody in.
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie) == (302, "/dashboard/signin")


def _row_checked_long_ago(store: Any, cookie: str) -> str:
    """Make the session of ``cookie`` due for a re-check; its row's key."""
    import dataclasses

    from app.dashboard.session import id_hash

    payload = json.loads(base64.urlsafe_b64decode(cookie.split(".")[0] + "=="))
    key = id_hash(payload["sid"])
    row = store.dashboard_session(key, now=datetime.now(UTC))
    store.save_dashboard_session(
        dataclasses.replace(row, checked_at=datetime.now(UTC) - timedelta(hours=1))
    )
    return key


def test_access_is_asked_again_and_a_revoked_token_signs_out(
    browser: Any,
    dashboard: str,
    dashboard_store: Any,
    github: tuple[FakeGitHub, str],
    monkeypatch: Any,
) -> None:
    import app.dashboard.session as session

    fake = github[0]
    cookie = _signed_in_cookie(browser, dashboard)
    widgets = fake.repo("acme", "widgets")
    monkeypatch.setattr(session, "ACCESS_SECONDS", 0)
    del widgets.collaborators["alice"]
    try:
        # GitHub now says Alice no longer reaches acme/widgets: a 404, though still signed in.
        assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 404
        assert _status(f"{dashboard}/dashboard", cookie)[0] == 200
    finally:
        widgets.collaborators["alice"] = "maintain"
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 200
    # GitHub down: the last answer stays, and the next pages do not ask again at once.
    monkeypatch.setattr(session, "ACCESS_SECONDS", 600)
    store_row = _row_checked_long_ago(dashboard_store, cookie)
    outage = fake.fail_next("GET", r"^/user$", status=502, times=5)
    asked = len(fake.calls("GET", r"^/user$"))
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 200
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[0] == 200
    assert len(fake.calls("GET", r"^/user$")) == asked + 1  # one try, then the cached answer
    assert dashboard_store.dashboard_session(store_row, now=datetime.now(UTC)) is not None
    fake.faults.remove(outage)
    monkeypatch.setattr(session, "ACCESS_SECONDS", 0)
    fake.oauth.tokens.clear()  # the person revoked the App's access on github.com
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie) == (302, "/dashboard/signin")
    assert _status(f"{dashboard}/dashboard/{REPO}", cookie)[1] == "/dashboard/signin"


def test_cancelling_on_github_says_so(dashboard: str) -> None:
    import http.client
    from urllib.parse import parse_qs, urlsplit

    host = urlsplit(dashboard).netloc
    conn = http.client.HTTPConnection(host, timeout=10)
    conn.request("GET", "/dashboard/login")
    answer = conn.getresponse()
    answer.read()
    state = parse_qs(urlsplit(answer.getheader("Location") or "").query)["state"][0]
    cookie = (answer.getheader("Set-Cookie") or "").split(";")[0]
    why = "The+user+has+denied+your+application+access."
    query = f"error=access_denied&error_description={why}&state={state}"
    conn.request("GET", f"/dashboard/callback?{query}", headers={"Cookie": cookie})
    denied = conn.getresponse()
    page = denied.read().decode()
    conn.close()
    assert denied.status == 403 and "The user has denied your application access." in page
    assert "Sign in with GitHub" in page and denied.getheader("Set-Cookie") is None

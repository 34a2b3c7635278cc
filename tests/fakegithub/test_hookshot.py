"""The fake's Hookshot sends webhooks and serves the App's delivery log like GitHub."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

from fakegithub import load_webhook_example
from fakegithub.deliveries import retarget, sign
from tests.fakegithub.helpers import INSTALLATION_ID, OWNER, REPO, Served, make_jwt
from tests.support import free_port, serving

SECRET = "hook-secret"
LOG = "/app/hook/deliveries"


@dataclass
class Receiver:
    """A webhook receiver whose answer a test sets; it records what it was sent."""

    url: str
    status: int = 202
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    port = free_port()
    made = Receiver(f"http://127.0.0.1:{port}/hook")

    async def handle(request: web.Request) -> web.Response:
        made.received.append((dict(request.headers), await request.read()))
        return web.json_response({"seen": True}, status=made.status)

    app = web.Application()
    app.router.add_post("/hook", handle)
    async with serving(app, port):
        yield made


def issue_opened(number: int) -> dict[str, Any]:
    payload = retarget(
        load_webhook_example("issues.opened"),
        owner=OWNER,
        repo=REPO,
        installation_id=INSTALLATION_ID,
    )
    payload["issue"]["number"] = number
    return payload


def app_jwt() -> dict[str, str]:
    return {"Authorization": f"Bearer {make_jwt()}"}


async def call(served: Served, method: str, path: str, **params: str) -> tuple[int, Any, Any]:
    status, body, response = await served.call(
        method, path, headers=app_jwt(), params=params or None
    )
    return status, body, response.headers


@pytest.mark.parametrize(
    ("answer", "status", "status_code"),
    [
        (202, "OK", 202),
        (200, "OK", 200),
        (503, "Invalid HTTP Response: 503", 503),
        (None, "failed to connect to host", 0),
    ],
)
async def test_each_attempt_is_logged_with_what_happened(
    served: Served, receiver: Receiver, answer: int | None, status: str, status_code: int
) -> None:
    url = receiver.url if answer else f"http://127.0.0.1:{free_port()}/hook"
    receiver.status = answer or 0
    served.fake.hooks.configure(url, SECRET)
    row = await served.fake.hooks.deliver("issues", issue_opened(1), guid="guid-1")

    assert (row.status, row.status_code, row.redelivery) == (status, status_code, False)
    assert (row.event, row.action, row.installation_id) == ("issues", "opened", INSTALLATION_ID)
    if answer:
        ((headers, body),) = receiver.received
        assert headers["X-GitHub-Delivery"] == "guid-1"
        assert headers["X-GitHub-Event"] == "issues"
        assert headers["X-Hub-Signature-256"] == sign(body, SECRET)
    got, detail, _ = await call(served, "GET", f"{LOG}/{row.id}")
    assert got == 200
    assert detail["guid"] == "guid-1" and detail["status_code"] == status_code
    assert detail["request"]["payload"]["issue"]["number"] == 1
    assert detail["request"]["headers"]["X-GitHub-Delivery"] == "guid-1"
    assert (detail["response"]["payload"] is None) == (answer is None)
    assert served.fake.violations == []


async def test_the_log_is_newest_first_and_cursor_paged(served: Served, receiver: Receiver) -> None:
    served.fake.hooks.configure(receiver.url, SECRET)
    for number in range(1, 6):
        receiver.status = 503 if number % 2 else 202
        await served.fake.hooks.deliver("issues", issue_opened(number), guid=f"g{number}")

    seen: list[str] = []
    path, params = LOG, {"per_page": "2"}
    while True:
        status, page, headers = await call(served, "GET", path, **params)
        assert status == 200 and len(page) <= 2
        seen += [row["guid"] for row in page]
        found = re.search(r'<([^>]+)>; rel="next"', headers.get("Link", ""))
        if not found:
            break
        path, params = found.group(1).removeprefix(served.base), {}
    assert seen == ["g5", "g4", "g3", "g2", "g1"]

    _, failed, _ = await call(served, "GET", LOG, status="failure")
    assert [row["guid"] for row in failed] == ["g5", "g3", "g1"]
    _, succeeded, _ = await call(served, "GET", LOG, status="success", per_page="500")
    assert [row["guid"] for row in succeeded] == ["g4", "g2"]
    status, body, _ = await call(served, "GET", LOG, cursor="not-a-cursor")
    assert status == 400 and "cursor" in body["message"]
    assert served.fake.violations == []


async def test_a_delivery_logged_while_paging_does_not_shift_the_pages(
    served: Served, receiver: Receiver
) -> None:
    served.fake.hooks.configure(receiver.url, SECRET)
    for number in range(1, 4):
        await served.fake.hooks.deliver("issues", issue_opened(number), guid=f"g{number}")
    _, first, headers = await call(served, "GET", LOG, per_page="2")
    await served.fake.hooks.deliver("issues", issue_opened(4), guid="g4")
    link = re.search(r"<([^>]+)>", headers["Link"])
    assert link is not None
    _, second, _ = await call(served, "GET", link.group(1).removeprefix(served.base))
    assert [r["guid"] for r in first + second] == ["g3", "g2", "g1"]


async def test_redelivery_sends_the_same_delivery_again_as_a_new_row(
    served: Served, receiver: Receiver
) -> None:
    served.fake.hooks.configure(f"http://127.0.0.1:{free_port()}/hook", SECRET)
    failed = await served.fake.hooks.deliver("issues", issue_opened(7), guid="lost")
    assert failed.status_code == 0

    served.fake.hooks.configure(receiver.url, "rotated-secret")
    status, body, _ = await call(served, "POST", f"{LOG}/{failed.id}/attempts")
    assert (status, body) == (202, {})
    while not served.fake.hooks.idle():
        await asyncio.sleep(0.01)

    original, again = served.fake.hooks.attempts("lost")
    assert original is failed
    assert (again.redelivery, again.status, again.payload) == (True, "OK", failed.payload)
    assert again.id > failed.id
    ((headers, sent),) = receiver.received
    assert headers["X-GitHub-Delivery"] == "lost"
    assert headers["X-Hub-Signature-256"] == sign(sent, "rotated-secret")
    _, log, _ = await call(served, "GET", LOG)
    assert [(r["guid"], r["redelivery"]) for r in log] == [("lost", True), ("lost", False)]
    assert served.fake.violations == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", f"{LOG}/999999"), ("POST", f"{LOG}/999999/attempts")],
)
async def test_an_unknown_delivery_is_not_found(served: Served, method: str, path: str) -> None:
    status, body, _ = await call(served, method, path)
    assert (status, body["message"]) == (404, "Not Found")
    assert served.fake.violations == []


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", LOG), ("GET", f"{LOG}/1"), ("POST", f"{LOG}/1/attempts")],
)
async def test_the_log_needs_the_app_jwt(served: Served, method: str, path: str) -> None:
    status, _, _ = await served.call(method, path)  # an installation token
    assert status == 401

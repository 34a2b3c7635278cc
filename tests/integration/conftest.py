"""Fixtures of the end-to-end tests: a running bot per test module, the checked fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fakegithub.fake import FakeGitHub
from tests.bot import Bot, bot_env, running_bot


@pytest.fixture(scope="module")
def bot(
    fake_github: tuple[FakeGitHub, str], redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Bot]:
    """`steward serve` plus one worker, on the test Redis, pointed at the fake GitHub."""
    _, api_url = fake_github
    data_dir = tmp_path_factory.mktemp("bot")
    env = bot_env(api_url=api_url, data_dir=data_dir, redis_url=redis_url)
    yield from running_bot(Bot(env=env, data_dir=data_dir))


@pytest.fixture
def fake(fake_github: tuple[FakeGitHub, str]) -> Iterator[FakeGitHub]:
    """The shared fake GitHub; after the test, no call may have broken GitHub's contract."""
    github, _ = fake_github
    yield github
    assert github.violations == [], "the bot made calls GitHub's OpenAPI description rejects"

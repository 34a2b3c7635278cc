"""Fixtures for the fake GitHub's own tests: a populated fake, served over HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest

from fakegithub import FakeGitHub
from tests.fakegithub.helpers import INSTALLATION_ID, Clock, Served, populate


@pytest.fixture
def clock() -> Clock:
    """The fake's clock."""
    return Clock()


@pytest.fixture
def fake(clock: Clock) -> FakeGitHub:
    """A populated fake with a 10-minute token lifetime."""
    made = FakeGitHub(clock=clock, token_lifetime=timedelta(minutes=10))
    populate(made)
    return made


@pytest.fixture
async def served(fake: FakeGitHub, clock: Clock) -> AsyncIterator[Served]:
    """The fake over real HTTP, with a session and a minted installation token."""
    async with fake.serve() as base, aiohttp.ClientSession() as session:
        yield Served(fake, base, session, fake.mint_token(INSTALLATION_ID), clock)

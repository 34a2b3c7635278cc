"""Logs carry delivery context and never secrets."""

from __future__ import annotations

import json
import logging

import pytest

from core.logs import configure_logging, log_context, redact, register_secret
from tests.support import key_pair


@pytest.mark.parametrize(
    "secret",
    [
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
        "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiIxMiJ9.c2lnbmF0dXJlc2lnbmF0dXJl",
        key_pair()[0],
        "sha256=" + "a" * 64,
        "Authorization: token abcdef123",
    ],
)
def test_redact(secret: str) -> None:
    assert "[redacted]" in redact(f"value {secret} end")
    assert secret not in redact(f"value {secret} end")


def test_json_log_has_context_and_no_registered_secret(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("info", "json")
    register_secret("hunter2-webhook-secret")
    with log_context(delivery="d-1", installation=5, repo="o/r", number=7):
        logging.getLogger("t").info("secret is hunter2-webhook-secret")
    line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
    assert line["delivery"] == "d-1" and line["repo"] == "o/r" and line["number"] == 7
    assert "hunter2" not in line["msg"]


@pytest.mark.parametrize(
    ("level", "alembic"), [("info", logging.WARNING), ("debug", logging.DEBUG)]
)
def test_alembic_speaks_only_when_debugging(level: str, alembic: int) -> None:
    configure_logging(level)
    assert logging.getLogger("alembic").level == alembic
    configure_logging("info")

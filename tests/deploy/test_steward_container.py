"""``steward-container``, the image's launcher and healthcheck (deploy/docker/), in this
process: a heartbeat only the consuming loop writes, beat's tick, the wait for the App,
the web check, the role a container recorded."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

from tests.support import free_port, key_pair

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "steward-container"


@pytest.fixture
def container(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script as a module, its state in ``tmp_path``."""
    monkeypatch.setenv("STEWARD_CONTAINER_STATE", str(tmp_path / "state"))
    loader = importlib.machinery.SourceFileLoader("steward_container", str(SCRIPT))
    spec = importlib.util.spec_from_loader("steward_container", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_a_container_without_a_role_is_the_web_one(container: ModuleType) -> None:
    assert container.current_role() == "web"
    container.set_role("worker")
    assert container.current_role() == "worker"
    assert container.main(["health", "nobody"]) == 2
    assert container.main(["health", "migrate"]) == 0


def test_the_heartbeat_is_throttled_and_judged_by_its_age(container: ModuleType) -> None:
    container.set_role("worker")
    ok, why = container.heartbeat_health("worker")
    assert not ok and "no heartbeat" in why
    beat = container.Heartbeat(every=60)
    beat()
    written = container.heartbeat_file().stat().st_mtime
    os.utime(container.heartbeat_file(), (written - 10, written - 10))
    beat()  # within a minute of the last: not written again
    assert container.age(container.heartbeat_file()) >= 10
    assert container.heartbeat_health("worker")[0]
    assert not container.heartbeat_health("worker", now=time.time() + 31)[0]
    assert container.heartbeat_health("scheduler", now=time.time() + 31)[0]
    assert container.main(["health"]) == 0  # the recorded role, worker


def test_only_the_consumer_loop_beats(container: ModuleType) -> None:
    """The bootstep wraps the connection the worker's loop drains: no drain, no beat."""
    container.set_role("worker")
    step = container.heartbeat_step()(SimpleNamespace())
    drained: list[Any] = []
    connection = SimpleNamespace(drain_events=lambda **kw: drained.append(kw))
    step.start(SimpleNamespace(connection=connection))
    first = container.heartbeat_file().stat().st_mtime
    os.utime(container.heartbeat_file(), (first - 100, first - 100))
    assert not container.heartbeat_health("worker")[0]  # the loop stopped draining
    step.beat.every = 0
    connection.drain_events(timeout=2.0)
    assert drained == [{"timeout": 2.0}]
    assert container.heartbeat_health("worker")[0]


def test_beats_tick_beats(container: ModuleType, tmp_path: Path) -> None:
    from celery import Celery

    container.set_role("scheduler")
    app = Celery("test", broker="memory://")
    scheduler_class = container.heartbeat_scheduler()
    scheduler_class.beat = container.Heartbeat(every=0)
    scheduler = scheduler_class(app=app, schedule_filename=str(tmp_path / "schedule"), lazy=True)
    scheduler.setup_schedule()
    assert not container.heartbeat_health("scheduler")[0]
    scheduler.tick()
    assert container.heartbeat_health("scheduler")[0]


def test_the_scheduler_is_unhealthy_without_redis(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    container.set_role("scheduler")
    container.Heartbeat(every=0)()
    monkeypatch.setenv("REDIS_URL", f"redis://127.0.0.1:{free_port()}/0")
    ok, why = container.check("scheduler")
    assert not ok and "Redis:" in why
    monkeypatch.delenv("REDIS_URL")
    ok, why = container.check("scheduler")
    assert not ok and why.endswith("REDIS_URL is not set")


class _Ready(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/readyz" else 404)
        self.end_headers()
        self.wfile.write(b'{"status": "..."}')

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def readyz() -> Iterator[tuple[int, type[_Ready]]]:
    handler = type("Ready", (_Ready,), {"status": 200})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()


def test_the_web_check_is_readyz(container: ModuleType, readyz: tuple[int, Any]) -> None:
    port, handler = readyz
    assert container.web_health({"PORT": str(port), "HOST": "0.0.0.0"})[0]
    handler.status = 503
    ok, why = container.web_health({"PORT": str(port)})
    assert not ok and "503" in why
    ok, why = container.web_health({"PORT": str(free_port())})
    assert not ok


def test_workers_wait_for_the_app(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Until the setup flow writes the App to the env file, a worker waits (and says so)."""
    env_file = tmp_path / ".env"
    for name in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("STEWARD_ENV_FILE", str(env_file))
    naps: list[float] = []

    def nap(seconds: float) -> None:  # the setup finishes during the second wait
        naps.append(seconds)
        if len(naps) == 2:
            pem = key_pair()[0].strip().replace("\n", "\\n")
            env_file.write_text(f'APP_ID=7\nPRIVATE_KEY="{pem}"\nWEBHOOK_SECRET=s\n')

    settings = container.wait_for_app("worker", sleep=nap)
    assert settings.is_configured and settings.app_id == "7" and len(naps) == 2


def test_half_an_app_stops_the_wait(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEWARD_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("APP_ID", "7")
    for name in ("PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as stopped:
        container.wait_for_app("worker", sleep=lambda _: None)
    assert stopped.value.code == 2


def test_migrate_retries_until_the_database_answers(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("STEWARD_ENV_FILE", str(tmp_path / ".env"))
    monkeypatch.setenv("DATABASE_URL", f"postgresql://u:p@127.0.0.1:{free_port()}/x")
    for name in ("APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH", "WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(container, "MIGRATE_FOR", 2.0)
    waits: list[float] = []

    def wait(seconds: float) -> None:
        waits.append(seconds)
        time.sleep(0.5)

    assert container.cmd_migrate([], sleep=wait) == 1
    assert waits and container.current_role() == "migrate"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'steward.db'}")
    assert container.cmd_migrate([], sleep=wait) == 0
    assert (tmp_path / "steward.db").exists()


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (None, True),
        ("", True),
        ("operator", True),
        ("operator:short", True),
        (":a-long-enough-password", True),
        ("operator:a-long-enough-password", False),
        ("ops:a-long-enough-password,ann:another-long-password", False),
    ],
)
def test_flower_never_starts_without_basic_auth(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch, value: str | None, refused: bool
) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(container.os, "execvp", lambda file, argv: started.append(argv))
    monkeypatch.setenv("REDIS_URL", "redis://:pw@redis:6379/0")
    if value is None:
        monkeypatch.delenv("FLOWER_BASIC_AUTH", raising=False)
    else:
        monkeypatch.setenv("FLOWER_BASIC_AUTH", value)
    assert (container.flower_auth_problem(value) is not None) is refused
    code = container.cmd_flower(["--url_prefix=flower"])
    if refused:
        assert code == 2 and started == []
    else:
        assert started == [
            [
                *("celery", "-A", "workers.celery_app", "flower", "--address=0.0.0.0"),
                *("--port=5555", "--url_prefix=flower"),
            ]
        ]
    assert container.current_role() == "flower"


def test_the_flower_check_is_its_health_page(
    container: ModuleType, monkeypatch: pytest.MonkeyPatch
) -> None:
    handler = type("Health", (_Ready,), {"status": 200})
    handler.do_GET = lambda self: (  # type: ignore[method-assign]
        self.send_response(200 if self.path == "/healthcheck" else 404),
        self.end_headers(),
        self.wfile.write(b"OK"),
    )
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setattr(container, "FLOWER_PORT", server.server_address[1])
        assert container.check("flower")[0]
        monkeypatch.setattr(container, "FLOWER_PORT", free_port())
        ok, why = container.check("flower")
        assert not ok and "healthcheck" in why
    finally:
        server.shutdown()

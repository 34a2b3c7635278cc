"""Process configuration, read once into one injectable :class:`Settings` object.

Variable names follow Probot where Probot has one (``APP_ID``, ``PRIVATE_KEY``,
``WEBHOOK_SECRET``, ``WEBHOOK_PATH``, ``PORT``, ``HOST``, ``LOG_LEVEL``,
``LOG_FORMAT``, ``GHE_HOST``, ``GHE_PROTOCOL``). Nothing here reads the
environment on import: callers pass a mapping (``os.environ`` in production, a
plain dict in tests) to :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TypedDict

from dotenv import dotenv_values

DEFAULT_WEBHOOK_PATH = "/api/github/webhooks"
DEFAULT_PORT = 3000
LOG_FORMATS = ("json", "pretty")
LOG_LEVELS = ("trace", "debug", "info", "warn", "warning", "error", "fatal", "critical")


class SettingsError(ValueError):
    """Configuration that cannot work; the message says what to fix."""


@dataclass(frozen=True)
class Settings:
    """Everything the web process and the workers read from their environment."""

    app_id: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_path: str = DEFAULT_WEBHOOK_PATH
    #: A webhook relay (smee.io) for development: registered as the webhook URL and
    #: subscribed to by ``steward serve``, which forwards its deliveries locally.
    webhook_proxy_url: str | None = None
    host: str = "0.0.0.0"
    port: int = DEFAULT_PORT
    log_level: str = "info"
    log_format: str = "pretty"
    github_api_url: str = "https://api.github.com"
    github_web_url: str = "https://github.com"
    redis_url: str | None = None
    database_url: str | None = None
    data_dir: Path = Path(".steward")
    base_model: str | None = None
    model_dir: Path | None = None
    app_slug: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    #: Signs the dashboard's session cookie; None: derived from the webhook and client secrets.
    session_secret: str | None = field(default=None, repr=False)
    #: Acknowledge deliveries whose sender is any ``[bot]`` account without acting.
    ignore_bots: bool = True
    #: Seconds before an un-acknowledged Celery task is handed to another worker.
    visibility_timeout: int = 30
    #: Seconds a delivery id is remembered for de-duplication.
    delivery_ttl: int = 7 * 24 * 3600
    #: Longest wait for a GitHub rate limit inside one task before re-queueing it.
    max_rate_limit_wait: float = 60.0
    #: Seconds an effect lock lives (must exceed max_rate_limit_wait).
    #: Seconds an effect lock lives unless its holder renews it (every third of this).
    lock_timeout: float = 30.0
    #: Extra HTTP attempts for 5xx answers and connection errors.
    http_retries: int = 4
    #: The `.env` file read at start-up and written by the setup flow.
    env_file: Path = Path(".env")
    #: Hours between scheduled retrains of every repository's triage model (0: never).
    retrain_hours: int = 24
    #: A repository gets a new version when at least this many labelled issues are new or
    #: relabelled since its newest one ...
    retrain_min_new: int = 20
    #: ... and they are at least this share of what that version was trained on.
    retrain_min_share: float = 0.05
    #: Share of the org encoder's training data new or relabelled before the encoder is
    #: fine-tuned again (below it, changed repositories get heads alone on it).
    retrain_encoder_share: float = 0.25
    #: Minutes between runs of the recovery of deliveries GitHub could not hand over (0: never).
    recover_minutes: int = 5
    #: Days a removed repository's data is kept (an uninstalled installation's, or one
    #: taken out of it) before it is deleted (0: deleted at the next daily run).
    retention_days: int = 30
    #: Autocast for model inference: ``auto`` (bf16 where the hardware has it), ``bf16``, ``fp32``.
    precision: str = "auto"
    #: Where every process writes its metrics (prometheus_client's multiprocess files);
    #: None: ``metrics`` inside the data directory.
    metrics_dir: Path | None = None
    #: When set, ``GET /metrics`` is served on the webhook port (and any metrics listener)
    #: to requests with ``Authorization: Bearer <token>``.
    metrics_token: str | None = field(default=None, repr=False)
    #: A listener of its own for ``GET /metrics`` (None: none), on ``metrics_host``.
    metrics_port: int | None = None
    #: Where the metrics listener binds (loopback by default: scraped from this machine).
    metrics_host: str = "127.0.0.1"
    #: Proxies (IP addresses or networks) whose forwarded scheme and host are believed.
    trusted_proxies: tuple[str, ...] = ()
    #: Pace GitHub requests through each installation's budget shared in Redis
    #: (``workers/budget.py``); off: only what GitHub refuses is waited out.
    github_pacing: bool = True
    #: Share of each hourly GitHub limit kept for interactive work (welcomes, labels,
    #: commands): background work (backfill, bootstrap, retraining) waits below it.
    github_reserve: float = 0.2
    #: GitHub requests in flight per installation, every process together (GitHub
    #: allows 100); background work may take half.
    github_concurrency: int = 20
    #: Seconds of GitHub's clock per second here: 1 for GitHub; benchmarks set the
    #: speed of a fake GitHub whose clock runs fast (its minutes and hours are shorter).
    github_clock_speed: float = 1.0

    @property
    def is_configured(self) -> bool:
        """True once the GitHub App's id, key and webhook secret are all known."""
        return bool(self.app_id and self.private_key and self.webhook_secret)

    @property
    def database_url_or_default(self) -> str:
        """``DATABASE_URL``, or SQLite inside the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'steward.db').resolve()}"

    @property
    def metrics_dir_or_default(self) -> Path:
        """``STEWARD_METRICS_DIR``, or ``metrics`` inside the data directory."""
        return self.metrics_dir or self.data_dir / "metrics"

    def with_overrides(self, **changes: object) -> Settings:
        """A copy with some fields replaced (tests, embedded mode)."""
        return replace(self, **changes)  # type: ignore[arg-type]


def _flag(value: str | None, default: bool) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(
            f"{name}={raw!r} is not a whole number; set it to e.g. {default}."
        ) from None


def _api_urls(env: Mapping[str, str]) -> tuple[str, str]:
    """The REST base URL and the web URL, from GITHUB_API_URL or GHE_HOST/GHE_PROTOCOL."""
    explicit = env.get("GITHUB_API_URL")
    ghe_host = env.get("GHE_HOST")
    protocol = env.get("GHE_PROTOCOL") or "https"
    if explicit:
        api = explicit.rstrip("/")
        web = f"{protocol}://{ghe_host}" if ghe_host else _web_url_for(api)
        return api, web
    if ghe_host:
        return f"{protocol}://{ghe_host}/api/v3", f"{protocol}://{ghe_host}"
    return "https://api.github.com", "https://github.com"


def _web_url_for(api: str) -> str:
    if api == "https://api.github.com":
        return "https://github.com"
    return api.removesuffix("/api/v3")


def normalise_private_key(raw: str) -> str:
    """Accept a PEM with real or escaped newlines (as `.env` files often hold it)."""
    key = raw.strip().strip('"').replace("\\n", "\n")
    if "-----BEGIN" not in key or "PRIVATE KEY-----" not in key:
        raise SettingsError(
            "PRIVATE_KEY does not look like a PEM private key. Download the key from your "
            "GitHub App's settings page and set PRIVATE_KEY to its contents or "
            "PRIVATE_KEY_PATH to the .pem file."
        )
    try:
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        load_pem_private_key(key.encode(), password=None)
    except Exception:
        raise SettingsError(
            "PRIVATE_KEY could not be parsed as an unencrypted RSA private key; "
            "re-download the .pem from the GitHub App's settings page."
        ) from None
    return key + ("\n" if not key.endswith("\n") else "")


def _private_key(env: Mapping[str, str]) -> str | None:
    raw = env.get("PRIVATE_KEY")
    path = env.get("PRIVATE_KEY_PATH")
    if not raw and path:
        try:
            raw = Path(path).expanduser().read_text()
        except OSError as exc:
            raise SettingsError(
                f"PRIVATE_KEY_PATH={path!r} cannot be read: {exc.strerror}."
            ) from None
    return normalise_private_key(raw) if raw else None


def _log_settings(env: Mapping[str, str]) -> tuple[str, str]:
    level = (env.get("LOG_LEVEL") or "info").lower()
    if level not in LOG_LEVELS:
        raise SettingsError(f"LOG_LEVEL={level!r} is not one of {', '.join(LOG_LEVELS)}.")
    fmt = (env.get("LOG_FORMAT") or "pretty").lower()
    if fmt not in LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT={fmt!r} must be 'json' or 'pretty'.")
    return level, fmt


#: Encoder autocast choices (the same as ``models.encoder.PRECISIONS``; a test pins it).
PRECISIONS = ("auto", "bf16", "fp32")


def _precision(env: Mapping[str, str]) -> str:
    value = (env.get("STEWARD_PRECISION") or "auto").strip().lower()
    if value not in PRECISIONS:
        raise SettingsError(f"STEWARD_PRECISION={value!r} must be one of {', '.join(PRECISIONS)}.")
    return value


def _path(env: Mapping[str, str], name: str) -> Path | None:
    raw = env.get(name)
    return Path(raw) if raw else None


def _metrics_dir(env: Mapping[str, str]) -> Path | None:
    """``STEWARD_METRICS_DIR``, else prometheus_client's own ``PROMETHEUS_MULTIPROC_DIR``."""
    return _path(env, "STEWARD_METRICS_DIR") or _path(env, "PROMETHEUS_MULTIPROC_DIR")


class _PacingSettings(TypedDict):
    github_pacing: bool
    github_reserve: float
    github_concurrency: int
    github_clock_speed: float


def _pacing_settings(env: Mapping[str, str]) -> _PacingSettings:
    """``STEWARD_GITHUB_PACING``, ``_RESERVE``, ``_CONCURRENCY`` and ``_CLOCK_SPEED``."""
    reserve = _float(env, "STEWARD_GITHUB_RESERVE", 0.2)
    concurrency = _int(env, "STEWARD_GITHUB_CONCURRENCY", 20)
    speed = _float(env, "STEWARD_GITHUB_CLOCK_SPEED", 1.0)
    if not 0 <= reserve < 1:
        raise SettingsError(
            f"STEWARD_GITHUB_RESERVE={reserve} must be a share from 0 to below 1 (e.g. 0.2)"
        )
    if concurrency < 2:
        raise SettingsError(f"STEWARD_GITHUB_CONCURRENCY={concurrency} must be 2 or more")
    if speed <= 0:
        raise SettingsError(f"STEWARD_GITHUB_CLOCK_SPEED={speed} must be above 0 (1 for GitHub)")
    return {
        "github_pacing": _flag(env.get("STEWARD_GITHUB_PACING"), True),
        "github_reserve": reserve,
        "github_concurrency": concurrency,
        "github_clock_speed": speed,
    }


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a number") from None


class _WebSettings(TypedDict):
    metrics_dir: Path | None
    metrics_token: str | None
    metrics_port: int | None
    metrics_host: str
    trusted_proxies: tuple[str, ...]


def _web_settings(env: Mapping[str, str]) -> _WebSettings:
    """The web process's exposure: ``STEWARD_METRICS_TOKEN``, ``STEWARD_METRICS_PORT``,
    ``STEWARD_METRICS_HOST`` and ``STEWARD_TRUSTED_PROXIES``."""
    port = _int(env, "PORT", DEFAULT_PORT)
    listener: int | None = None
    if env.get("STEWARD_METRICS_PORT"):
        listener = _int(env, "STEWARD_METRICS_PORT", 9464)
        if not 0 < listener < 65536 or listener == port:
            raise SettingsError(
                f"STEWARD_METRICS_PORT={listener} must be a TCP port (1-65535) other than "
                f"PORT={port}; e.g. 9464, or unset it to serve no metrics listener."
            )
    return {
        "metrics_dir": _metrics_dir(env),
        "metrics_token": env.get("STEWARD_METRICS_TOKEN") or None,
        "metrics_port": listener,
        "metrics_host": env.get("STEWARD_METRICS_HOST") or "127.0.0.1",
        "trusted_proxies": _trusted_proxies(env),
    }


def _trusted_proxies(env: Mapping[str, str]) -> tuple[str, ...]:
    """``STEWARD_TRUSTED_PROXIES``: IP addresses or networks, separated by commas or spaces."""
    found = []
    for item in (env.get("STEWARD_TRUSTED_PROXIES") or "").replace(",", " ").split():
        try:
            found.append(str(ipaddress.ip_network(item, strict=False)))
        except ValueError:
            raise SettingsError(
                f"STEWARD_TRUSTED_PROXIES: {item!r} is not an IP address or network. List "
                "the addresses of the proxies in front of Steward, e.g. "
                "'10.0.0.0/8, 127.0.0.1', or leave it unset to trust none."
            ) from None
    return tuple(found)


def _webhook_path(env: Mapping[str, str]) -> str:
    path = env.get("WEBHOOK_PATH") or DEFAULT_WEBHOOK_PATH
    if not path.startswith("/"):
        raise SettingsError(f"WEBHOOK_PATH={path!r} must start with '/'.")
    return path


def _check_credentials(
    app_id: str | None, key: str | None, secret: str | None, *, receiver: bool = True
) -> None:
    """Half a configuration is a mistake: say which part is missing.

    ``receiver=False`` is for commands that only call GitHub as the App (collecting,
    retraining, redelivering): they need ``APP_ID`` and the key, not the webhook secret.
    """
    given = {"APP_ID": app_id, "PRIVATE_KEY or PRIVATE_KEY_PATH": key}
    if receiver:
        given["WEBHOOK_SECRET"] = secret
    missing = [name for name, value in given.items() if not value]
    if missing and len(missing) < len(given):
        raise SettingsError(
            f"Missing {', '.join(missing)}. Set it in the environment or .env (copy the values "
            "from your GitHub App's settings page), or unset all of APP_ID, PRIVATE_KEY and "
            "WEBHOOK_SECRET to run the setup flow that creates the App for you."
        )
    if app_id and not app_id.isdigit():
        raise SettingsError(
            f"APP_ID={app_id!r} must be the numeric App ID from the App's settings."
        )


def merged_environment(env: Mapping[str, str], env_file: Path) -> dict[str, str]:
    """The process environment over the `.env` file's values (the environment wins)."""
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(env)
    return merged


class _ScheduleSettings(TypedDict):
    retrain_hours: int
    retrain_min_new: int
    retrain_min_share: float
    retrain_encoder_share: float
    recover_minutes: int
    retention_days: int


def _schedule_settings(env: Mapping[str, str]) -> _ScheduleSettings:
    """How often periodic work runs, when retraining trains what, and how long removed
    repositories' data is kept."""
    shares = {
        name: _float(env, name, default)
        for name, default in (
            ("STEWARD_RETRAIN_MIN_SHARE", 0.05),
            ("STEWARD_RETRAIN_ENCODER_SHARE", 0.25),
        )
    }
    for name, value in shares.items():
        if not 0 <= value <= 1:
            raise SettingsError(f"{name}={value} must be a share from 0 to 1 (e.g. 0.05)")
    return {
        "retrain_hours": _int(env, "STEWARD_RETRAIN_HOURS", 24),
        "retrain_min_new": max(0, _int(env, "STEWARD_RETRAIN_MIN_NEW", 20)),
        "retrain_min_share": shares["STEWARD_RETRAIN_MIN_SHARE"],
        "retrain_encoder_share": shares["STEWARD_RETRAIN_ENCODER_SHARE"],
        "recover_minutes": _int(env, "STEWARD_RECOVER_MINUTES", 5),
        "retention_days": _int(env, "STEWARD_RETENTION_DAYS", 30),
    }


def load_settings(
    env: Mapping[str, str] | None = None,
    *,
    env_file: Path | None = None,
    receiver: bool = True,
) -> Settings:
    """Read and validate configuration; raise :class:`SettingsError` with a fix on problems.
    ``receiver=False``: the caller receives no webhooks (no WEBHOOK_SECRET required)."""
    base = dict(os.environ) if env is None else dict(env)
    dotenv_path = Path(env_file or base.get("STEWARD_ENV_FILE") or ".env")
    values = merged_environment(base, dotenv_path)
    app_id = values.get("APP_ID") or None
    key = _private_key(values)
    secret = values.get("WEBHOOK_SECRET") or None
    _check_credentials(app_id, key, secret, receiver=receiver)
    level, fmt = _log_settings(values)
    api, web = _api_urls(values)
    return Settings(
        app_id=app_id,
        private_key=key,
        webhook_secret=secret,
        webhook_path=_webhook_path(values),
        webhook_proxy_url=values.get("WEBHOOK_PROXY_URL") or None,
        host=values.get("HOST") or "0.0.0.0",
        port=_int(values, "PORT", DEFAULT_PORT),
        log_level=level,
        log_format=fmt,
        github_api_url=api,
        github_web_url=web,
        redis_url=values.get("REDIS_URL") or None,
        database_url=values.get("DATABASE_URL") or None,
        data_dir=Path(values.get("STEWARD_DATA_DIR") or ".steward"),
        base_model=values.get("STEWARD_BASE_MODEL") or None,
        model_dir=_path(values, "STEWARD_MODEL_DIR"),
        app_slug=values.get("APP_SLUG") or None,
        client_id=values.get("GITHUB_CLIENT_ID") or None,
        client_secret=values.get("GITHUB_CLIENT_SECRET") or None,
        session_secret=values.get("STEWARD_SESSION_SECRET") or None,
        ignore_bots=_flag(values.get("STEWARD_IGNORE_BOTS"), True),
        visibility_timeout=_int(values, "STEWARD_VISIBILITY_TIMEOUT", 30),
        delivery_ttl=_int(values, "STEWARD_DELIVERY_TTL", 7 * 24 * 3600),
        http_retries=_int(values, "STEWARD_HTTP_RETRIES", 4),
        env_file=dotenv_path,
        precision=_precision(values),
        **_schedule_settings(values),
        **_web_settings(values),
        **_pacing_settings(values),
    )


def load_settings_or_exit(env: Mapping[str, str] | None = None) -> Settings:
    """:func:`load_settings` for a command: a problem is one line on stderr and exit 2."""
    try:
        return load_settings(env)
    except SettingsError as exc:
        print(f"steward: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None

"""Settings: production refuses a missing or weak secret; embedded mode generates one once."""

from __future__ import annotations

import os
import secrets
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from orchestrator.runtime.settings import Settings

STRONG = secrets.token_hex(32)
WEAK = [
    "changeme",
    "secret",
    "Password",
    "short-but-random-9f8e7d",  # under 32 characters
    "a" * 64,  # long, but one character
    "abcabcabcabcabcabcabcabcabcabcabcabc",  # long, but only three characters
    "changeme" * 4,  # 32 characters of a known weak word
    " " * 40,
]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No FIELDBRIDGE_ variable from the outside leaks in; the working directory is scratch."""
    for name in list(os.environ):
        if name.upper().startswith("FIELDBRIDGE_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


# --- production ----------------------------------------------------------------------------------


def test_production_without_a_secret_is_refused() -> None:
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SECRET_KEY is required"):
        Settings(env="production")
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SECRET_KEY is required"):
        Settings(env="production", secret_key="")


@pytest.mark.parametrize("key", WEAK)
def test_production_with_a_weak_secret_is_refused(key: str) -> None:
    with pytest.raises(ValidationError, match="too weak for production"):
        Settings(env="production", secret_key=key)


def test_production_with_a_strong_secret_is_accepted() -> None:
    settings = Settings(env="production", secret_key=STRONG)
    assert settings.env == "production"
    assert settings.resolved_secret_key() == STRONG


def test_production_from_the_environment_without_a_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDBRIDGE_ENV", "production")
    with pytest.raises(ValidationError, match="FIELDBRIDGE_SECRET_KEY is required"):
        Settings()


@pytest.mark.parametrize("key", ["changeme", "x" * 40, "0123456789abcdef"])
def test_production_from_the_environment_with_a_weak_secret_is_refused(
    monkeypatch: pytest.MonkeyPatch, key: str
) -> None:
    monkeypatch.setenv("FIELDBRIDGE_ENV", "production")
    monkeypatch.setenv("FIELDBRIDGE_SECRET_KEY", key)
    with pytest.raises(ValidationError, match="too weak for production"):
        Settings()


def test_production_from_the_environment_with_a_strong_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FIELDBRIDGE_ENV", "production")
    monkeypatch.setenv("FIELDBRIDGE_SECRET_KEY", STRONG)
    settings = Settings()
    assert (settings.env, settings.resolved_secret_key()) == ("production", STRONG)


def test_variables_without_the_prefix_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "changeme")
    monkeypatch.setenv("DATABASE_URL", "postgresql://elsewhere/db")
    settings = Settings()
    assert settings.env == "embedded"
    assert settings.secret_key is None
    assert settings.database_url == "sqlite:///./fieldbridge.db"


def test_the_secret_is_not_shown_in_repr() -> None:
    assert STRONG not in repr(Settings(env="production", secret_key=STRONG))


# --- embedded ------------------------------------------------------------------------------------


def test_embedded_generates_a_secret_once_and_reuses_it(tmp_path: Path) -> None:
    key_file = tmp_path / "state" / "secret_key"
    settings = Settings(secret_key_file=key_file)
    assert not key_file.exists()
    first = settings.resolved_secret_key()
    assert key_file.read_text().strip() == first
    assert len(first) >= 32 and len(set(first)) >= 10
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings.resolved_secret_key() == first
    # Another process (another Settings) reading the same file agrees.
    assert Settings(secret_key_file=key_file).resolved_secret_key() == first


def test_embedded_secrets_differ_between_installations(tmp_path: Path) -> None:
    one = Settings(secret_key_file=tmp_path / "a").resolved_secret_key()
    other = Settings(secret_key_file=tmp_path / "b").resolved_secret_key()
    assert one != other


def test_embedded_reads_an_existing_key_file(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    key_file.write_text("k" * 10 + STRONG + "\n")
    assert Settings(secret_key_file=key_file).resolved_secret_key() == "k" * 10 + STRONG


def test_an_explicit_secret_wins_and_no_file_is_written(tmp_path: Path) -> None:
    key_file = tmp_path / "secret_key"
    assert Settings(secret_key=STRONG, secret_key_file=key_file).resolved_secret_key() == STRONG
    assert not key_file.exists()


def test_embedded_allows_no_secret_and_a_weak_one() -> None:
    assert Settings().secret_key is None
    assert Settings(secret_key="dev").secret_key == "dev"


# --- defaults ------------------------------------------------------------------------------------


def test_defaults() -> None:
    settings = Settings()
    assert settings.env == "embedded"
    assert settings.database_url == "sqlite:///./fieldbridge.db"
    assert settings.max_upload_mb == 20
    assert settings.max_upload_bytes == 20 * 1024 * 1024
    assert settings.status_rate_per_min == 60
    assert settings.secret_key_file == Path(".fieldbridge/secret_key")


def test_environment_overrides_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDBRIDGE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("FIELDBRIDGE_MAX_UPLOAD_MB", "5")
    monkeypatch.setenv("FIELDBRIDGE_STATUS_RATE_PER_MIN", "10")
    settings = Settings()
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert (settings.max_upload_mb, settings.max_upload_bytes, settings.status_rate_per_min) == (
        5,
        5 * 1024 * 1024,
        10,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [("max_upload_mb", 0), ("status_rate_per_min", -1), ("env", "staging")],
)
def test_nonsense_settings_are_refused(name: str, value: object) -> None:
    with pytest.raises(ValidationError):
        Settings(**{name: value})


def test_server_workers_default_to_what_the_database_can_use() -> None:
    assert Settings().server_workers() == 1  # SQLite: one writer is the ceiling
    on_postgres = Settings(database_url="postgresql+psycopg://u@h/db")
    assert on_postgres.server_workers() == (os.cpu_count() or 1)
    assert Settings(database_url="postgresql+psycopg://u@h/db", workers=3).server_workers() == 3


@pytest.mark.parametrize(
    ("given", "broker", "workers", "chosen"),
    [
        (None, None, 1, "memory://"),
        (None, None, 4, "store"),  # the embedded mode shares counts in the database
        (None, "redis://127.0.0.1:6379/0", 4, "redis://127.0.0.1:6379/0"),
        ("store", None, 1, "store"),
        ("redis://10.0.0.5:6379/2", None, 4, "redis://10.0.0.5:6379/2"),
        ("memory://", None, 1, "memory://"),
    ],
)
def test_rate_limits_live_where_every_worker_sees_them(
    given: str | None, broker: str | None, workers: int, chosen: str
) -> None:
    settings = Settings(rate_limit_storage=given, broker_url=broker)
    assert settings.rate_limits_for(workers) == chosen


def test_several_workers_may_not_count_in_each_process() -> None:
    with pytest.raises(ValueError, match="FIELDBRIDGE_RATE_LIMIT_STORAGE=memory:// counts"):
        Settings(rate_limit_storage="memory://").rate_limits_for(2)

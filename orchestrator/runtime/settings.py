"""Settings: one pydantic-settings class, every variable prefixed ``FIELDBRIDGE_``.

Embedded defaults (SQLite file, generated secret in a local file) need no
configuration. ``FIELDBRIDGE_ENV=production`` refuses to start without a strong,
explicitly set secret key.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.settings import one_line
from mappings.sap.billing import DEFAULT_LABOUR_PRODUCT

MIN_SECRET_LENGTH = 32
_WEAK_SECRETS = {"changeme", "secret", "password", "fieldbridge", "dev", "test"}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FIELDBRIDGE_", extra="ignore")

    env: Literal["embedded", "production"] = "embedded"
    database_url: str = "sqlite:///./fieldbridge.db"
    secret_key: str | None = Field(default=None, repr=False)
    secret_key_file: Path = Path(".fieldbridge/secret_key")
    attachments_dir: Path = Path("./attachments")
    max_upload_mb: int = Field(default=20, gt=0)
    max_image_megapixels: float = Field(
        default=64,
        gt=0,
        le=178,  # past about 179 million pixels Pillow refuses an image whatever it is told
        description="the largest picture an upload may hold: each is decoded before it is "
        "kept, and a small file can declare a huge picture",
    )
    max_json_bytes: int = Field(
        default=1024 * 1024, gt=0, description="the largest JSON body a request may carry"
    )
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = Field(
        default=(),
        description="comma-separated addresses or CIDR ranges of the proxies whose "
        "X-Forwarded-For names the client (rate limits, logs); none by default",
    )
    status_rate_per_min: int = Field(default=60, gt=0)
    service_request_rate_per_min: int = Field(default=20, gt=0)
    rate_limit_storage: str | None = Field(
        default=None,
        description="where rate-limit counts live: `memory://` (this process), `store` (the "
        "database, shared by every process on it) or a `limits` URI such as redis://...; by "
        "default memory with one server process, else the broker's Redis in the production "
        "mode and the store in the embedded one",
    )
    workers: int | None = Field(
        default=None,
        ge=1,
        le=64,
        description="server processes (`fieldbridge serve --workers`); by default 1 on SQLite "
        "and the CPU count on PostgreSQL",
    )
    broker_url: str | None = Field(
        default=None, description="redis://...: the production mode, tasks on Celery"
    )
    sync_schedule: dict[str, float] = Field(
        default={"salesforce": 300, "sap": 900, "hr": 900},
        description="production mode: seconds between syncs of each system's streams (JSON)",
    )
    reconcile_every_s: float = Field(
        default=86_400, gt=0, description="production mode: seconds between reconciliations"
    )
    worker_metrics_port: int | None = Field(
        default=None, ge=1, le=65535, description="a worker's own /metrics on 127.0.0.1:PORT"
    )
    plan_parts_at_once: int = Field(
        default=4, ge=1, le=256, description="production mode: a day's parts racing at once"
    )
    plan_lease_s: float = Field(
        default=60,
        ge=1,
        le=3600,
        description="a schedule run's lease: renewed while it runs; a run whose process died is "
        "taken over once it has run out (production mode)",
    )
    task_visibility_timeout_s: float = Field(
        default=900, ge=60, description="Redis redelivers a task not acknowledged by then"
    )
    token_default_ttl_hours: float = Field(default=12, gt=0)
    idempotency_ttl_hours: float = Field(default=48, ge=24)
    idempotency_lease_s: float = Field(default=60, gt=0)
    change_feed_days: float = Field(
        default=7,
        gt=0,
        le=366,
        description="how long the change feed behind /me/changes keeps its rows: a sync token "
        "older than that answers 410, and the device fetches its day again",
    )
    salesforce_mapping_file: Path | None = Field(
        default=None,
        description="a TOML or JSON Salesforce mapping (the standard org's when unset)",
    )
    sync_lookback_s: float = Field(
        default=300.0, ge=0, le=86_400, description="seconds a sync re-reads before its cursor"
    )
    appointment_window_min: int = Field(
        default=120, ge=30, le=720, description="the arrival window a schedule run promises"
    )

    log_format: Literal["text", "json"] = Field(
        default="text", description="json: one object a line, with request_id and task_id"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    outbox_routes: dict[str, str] = Field(
        default={
            "crm.work_order_completed": "salesforce",
            "erp.billing_request": "sap",
            "finance.billing_trigger": "webhooks",
            "crm.certification_updated": "salesforce",
        },
        description="which destination each outbox event goes to (JSON); an event left out "
        "stays pending",
    )
    outbox_max_attempts: int = Field(default=12, ge=1, le=100)
    outbox_max_age_s: float = Field(default=3 * 86_400, gt=0)
    outbox_lease_s: float = Field(default=120, gt=0)
    outbox_backoff_base_s: float = Field(
        default=2.0, gt=0, description="a stored retry waits up to base * 2^attempt (jittered)"
    )
    outbox_backoff_max_s: float = Field(default=900.0, gt=0)
    outbox_alert_age_s: float = Field(
        default=900, gt=0, description="a pending row older than this makes /health degraded"
    )
    outbox_workers: int = Field(
        default=4, ge=1, le=64, description="deliveries to SAP and webhooks at a time"
    )
    outbox_relay: bool = Field(
        default=True, description="run the relay inside `fieldbridge serve` (embedded mode)"
    )
    outbox_relay_every_s: float = Field(
        default=2.0, gt=0, description="how often the embedded relay looks for due rows"
    )
    billing_labour_product: str = Field(
        default=DEFAULT_LABOUR_PRODUCT,
        min_length=1,
        max_length=40,
        description="SAP's service product",
    )
    billing_currency: str | None = Field(default=None, min_length=3, max_length=3)

    @model_validator(mode="after")
    def _secret_is_safe_in_production(self) -> Settings:
        if self.env == "production":
            key = self.secret_key
            if not key:
                raise ValueError(
                    "FIELDBRIDGE_SECRET_KEY is required when FIELDBRIDGE_ENV=production"
                )
            if len(key) < MIN_SECRET_LENGTH or key.lower() in _WEAK_SECRETS or len(set(key)) < 10:
                raise ValueError(
                    "FIELDBRIDGE_SECRET_KEY is too weak for production: use at least "
                    f"{MIN_SECRET_LENGTH} random characters (e.g. `openssl rand -hex 32`)"
                )
        return self

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _proxies(cls, value: object) -> object:
        """``10.0.0.1, 10.1.0.0/16``: each an address or a network, checked now."""
        if isinstance(value, str):
            value = tuple(part.strip() for part in value.split(",") if part.strip())
        if isinstance(value, list | tuple):
            for entry in value:
                try:
                    ipaddress.ip_network(str(entry), strict=False)
                except ValueError:
                    raise ValueError(f"{entry!r} is not an address or a CIDR range") from None
        return value

    def server_workers(self) -> int:
        """How many processes ``fieldbridge serve`` runs: the setting, else 1 on SQLite (its
        one writer is the ceiling) and the CPU count on a networked database."""
        if self.workers is not None:
            return self.workers
        return 1 if self.database_url.startswith("sqlite") else max(1, os.cpu_count() or 1)

    def rate_limits_for(self, workers: int) -> str:
        """Where ``workers`` server processes keep their rate-limit counts: a ``limits``
        storage URI, or ``store``. ``ValueError`` saying why when the setting keeps them in
        each process while there are several (a client would get each process's limit)."""
        chosen = self.rate_limit_storage
        if chosen is None:
            if workers == 1:
                return "memory://"
            return self.broker_url if self.broker_url else "store"
        if workers > 1 and chosen.startswith("memory"):
            raise ValueError(
                f"FIELDBRIDGE_RATE_LIMIT_STORAGE={chosen} counts in each process, so {workers} "
                "workers would give every client its limit once per worker: set it to `store` "
                "(the database) or redis://..., or leave it unset, or run one worker"
            )
        return chosen

    @property
    def max_upload_bytes(self) -> int:
        return self.max_upload_mb * 1024 * 1024

    @property
    def max_image_pixels(self) -> int:
        return int(self.max_image_megapixels * 1_000_000)

    def resolved_secret_key(self) -> str:
        """The signing key: the setting, else (embedded only) a key generated once into a file."""
        if self.secret_key:
            return self.secret_key
        path = self.secret_key_file
        if path.exists():
            return path.read_text().strip()
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        # Create exclusively so two processes starting together agree on one key.
        try:
            with path.open("x") as fh:
                fh.write(key)
            path.chmod(0o600)
        except FileExistsError:
            return path.read_text().strip()
        return key


class ConfigurationError(Exception):
    """Settings that cannot run; the message names each variable and never repeats its value."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigurationError(one_line(exc, "FIELDBRIDGE_")) from None

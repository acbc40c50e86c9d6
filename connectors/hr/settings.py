"""HR connector settings: environment variables prefixed ``FIELDBRIDGE_HR_``.

``URL`` (the HR system's https origin) and ``TOKEN`` (a static bearer token the HR
administrator issues; it cannot be renewed by us) are required.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ENV_PREFIX", "HRSettings"]

ENV_PREFIX = "FIELDBRIDGE_HR_"


class HRSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    url: str | None = Field(default=None, description="the HR system's https:// origin")
    token: SecretStr | None = Field(default=None, description="the static bearer token")
    timeout_s: float = Field(default=30.0, gt=0, le=600)
    ca_bundle: Path | None = Field(
        default=None, description="a CA bundle file or directory; wins over REQUESTS_CA_BUNDLE"
    )
    max_attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("url")
    @classmethod
    def _https_origin(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip().rstrip("/")
        if not re.fullmatch(r"https://[^/\s?#]+(/[^\s?#]*)?", value):
            raise ValueError(f"{ENV_PREFIX}URL must be an https:// URL, got {value!r}")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"no CA bundle at {value} ({ENV_PREFIX}CA_BUNDLE)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> HRSettings:
        missing = []
        if self.url is None:
            missing.append(ENV_PREFIX + "URL")
        if self.token is None or not self.token.get_secret_value().strip():
            missing.append(ENV_PREFIX + "TOKEN")
        if missing:
            raise ValueError(f"the HR connector needs {' and '.join(missing)}")
        return self

    @property
    def base_url(self) -> str:
        assert self.url is not None  # checked by the validator
        return self.url

    def bearer(self) -> str:
        assert self.token is not None  # checked by the validator
        return self.token.get_secret_value().strip()

"""HR connector settings: environment variables prefixed ``FIELDBRIDGE_HR_``.

``URL`` (the HR system's https origin) and ``TOKEN`` (a static bearer token the HR
administrator issues; it cannot be renewed by us) are required.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.settings import ConnectorSettings, https_url

__all__ = ["ENV_PREFIX", "HRSettings"]

ENV_PREFIX = "FIELDBRIDGE_HR_"


class HRSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    url: str | None = Field(default=None, description="the HR system's https:// origin")
    token: SecretStr | None = Field(default=None, description="the static bearer token")

    @field_validator("url")
    @classmethod
    def _https_origin(cls, value: str | None) -> str | None:
        return https_url(value, ENV_PREFIX + "URL") if value and value.strip() else None

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
        assert self.url is not None  # nosec B101  # checked by the validator
        return self.url

    def bearer(self) -> str:
        assert self.token is not None  # nosec B101  # checked by the validator
        return self.token.get_secret_value().strip()

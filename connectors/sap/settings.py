"""SAP connector settings: environment variables prefixed ``FIELDBRIDGE_SAP_``.

``URL`` is the tenant's https origin (``https://my123456.sapbydesign.com``): it always replaces
the host a WSDL names; each service's path comes from its WSDL. ``WSDL_DIR`` holds one
``<Service>.wsdl`` per service (default: the project's ``wsdl/sap-bydesign``; SAP's own
downloaded WSDLs work too). The communication user signs in with ``USERNAME`` and
``PASSWORD`` (HTTP Basic) or with ``CLIENT_CERT`` (a PEM file holding certificate and key).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.settings import ConnectorSettings, https_url

__all__ = ["DEFAULT_WSDL_DIR", "ENV_PREFIX", "SAPSettings"]

ENV_PREFIX = "FIELDBRIDGE_SAP_"
DEFAULT_WSDL_DIR = Path(__file__).resolve().parents[2] / "wsdl" / "sap-bydesign"


class SAPSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    wsdl_dir: Path = Field(default=DEFAULT_WSDL_DIR, description="a folder of <Service>.wsdl files")
    url: str | None = Field(default=None, description="the tenant's https:// origin")
    username: str | None = Field(default=None, description="the communication user")
    password: SecretStr | None = Field(default=None)
    client_cert: Path | None = Field(
        default=None, description="a PEM file with the client certificate and its key"
    )

    @field_validator("url")
    @classmethod
    def _https_origin(cls, value: str | None) -> str | None:
        return https_url(value, ENV_PREFIX + "URL") if value and value.strip() else None

    @field_validator("wsdl_dir")
    @classmethod
    def _folder_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(f"no WSDL folder at {value} ({ENV_PREFIX}WSDL_DIR)")
        return value

    @field_validator("client_cert")
    @classmethod
    def _file_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            raise ValueError(f"no such file: {value}")
        return value

    @model_validator(mode="after")
    def _complete(self) -> SAPSettings:
        missing = []
        if self.url is None:
            missing.append(ENV_PREFIX + "URL")
        has_password = self.password is not None and bool(self.password.get_secret_value())
        if self.client_cert is None and not (self.username and has_password):
            missing.append(
                f"{ENV_PREFIX}USERNAME and {ENV_PREFIX}PASSWORD (or {ENV_PREFIX}CLIENT_CERT)"
            )
        if missing:
            raise ValueError(f"the SAP connector needs {' and '.join(missing)}")
        return self

    @property
    def base_url(self) -> str:
        assert self.url is not None  # nosec B101  # checked by the validator
        return self.url

    def basic_auth(self) -> tuple[str, str] | None:
        """(user, password) for HTTP Basic, or None when the client certificate signs in."""
        if self.username and self.password is not None and self.password.get_secret_value():
            return self.username, self.password.get_secret_value()
        return None

    def credentials_hint(self) -> str:
        """The settings that hold the credentials in use."""
        if self.basic_auth() is not None:
            return f"{ENV_PREFIX}USERNAME and {ENV_PREFIX}PASSWORD"
        return f"{ENV_PREFIX}CLIENT_CERT"

"""Workday connector settings: environment variables prefixed ``FIELDBRIDGE_WORKDAY_``.

``URL`` is the tenant's service base, ``https://<host>/ccx/service/<tenant>``: it always
replaces the address the WSDL names (a bare name), and the service's endpoint is
``URL/Human_Resources/VERSION``. ``VERSION`` (default ``v26.1``, the version of the WSDL the
project's compact one is cut from) also goes in each request's ``version`` attribute.
``USERNAME`` (``user@tenant``) and ``PASSWORD`` sign each request with a WS-Security
UsernameToken. ``WSDL_DIR`` holds ``Human_Resources.wsdl`` (default: the project's
``wsdl/workday``; Workday's own works too). ``TECHNICIAN_FILTER`` (JSON, which workers are
technicians) is kept as given, for the mapping (``mappings.workday.TechnicianFilter``).
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.settings import ConnectorSettings, https_url

__all__ = ["DEFAULT_VERSION", "DEFAULT_WSDL_DIR", "ENV_PREFIX", "SERVICE", "WorkdaySettings"]

ENV_PREFIX = "FIELDBRIDGE_WORKDAY_"
DEFAULT_WSDL_DIR = Path(__file__).resolve().parents[2] / "wsdl" / "workday"
DEFAULT_VERSION = "v26.1"
SERVICE = "Human_Resources"
_VERSION = re.compile(r"v\d{1,3}(\.\d{1,3})?")


class WorkdaySettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    url: str | None = Field(
        default=None, description="the tenant's service base: https://<host>/ccx/service/<tenant>"
    )
    username: str | None = Field(default=None, description="the integration user, user@tenant")
    password: SecretStr | None = Field(default=None)
    version: str = Field(default=DEFAULT_VERSION, description="the API version, e.g. v26.1")
    wsdl_dir: Path = Field(default=DEFAULT_WSDL_DIR, description="holds Human_Resources.wsdl")
    technician_filter: str | None = Field(
        default=None, description="JSON: organizations, job_profiles, or field and value"
    )

    @field_validator("url")
    @classmethod
    def _https_base(cls, value: str | None) -> str | None:
        return https_url(value, ENV_PREFIX + "URL") if value and value.strip() else None

    @field_validator("version")
    @classmethod
    def _version(cls, value: str) -> str:
        value = value.strip()
        if not _VERSION.fullmatch(value):
            raise ValueError(f"{ENV_PREFIX}VERSION must look like v26.1, got {value!r}")
        return value

    @field_validator("wsdl_dir")
    @classmethod
    def _wsdl_there(cls, value: Path) -> Path:
        if not (value / f"{SERVICE}.wsdl").is_file():
            raise ValueError(f"no {SERVICE}.wsdl in {value} ({ENV_PREFIX}WSDL_DIR)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> WorkdaySettings:
        missing = [
            ENV_PREFIX + name
            for name, given in (
                ("URL", self.url is not None),
                ("USERNAME", bool(self.username and self.username.strip())),
                ("PASSWORD", self.password is not None and bool(self.password.get_secret_value())),
            )
            if not given
        ]
        if missing:
            raise ValueError(f"the Workday connector needs {' and '.join(missing)}")
        return self

    @property
    def endpoint(self) -> str:
        """The service's address: ``URL/Human_Resources/VERSION``."""
        assert self.url is not None  # nosec B101  # checked by the validator
        return f"{self.url}/{SERVICE}/{self.version}"

    @property
    def wsdl(self) -> Path:
        return self.wsdl_dir / f"{SERVICE}.wsdl"

    def credentials(self) -> tuple[str, str]:
        """(user@tenant, password) for the UsernameToken."""
        assert self.username is not None and self.password is not None  # nosec B101  # checked by the validator
        return self.username.strip(), self.password.get_secret_value()

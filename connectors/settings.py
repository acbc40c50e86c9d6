"""What every connector's settings share: the transport knobs (``TIMEOUT_S``, ``CA_BUNDLE``,
``MAX_ATTEMPTS``, read with each connector's own ``ENV_PREFIX``), the check of an https
URL (``HttpsUrl`` as a field's type, ``https_url`` in a validator of its own), settings read
from a mapping of variables instead of the process's environment (``from_variables``), and
a settings error said in one line that names each variable (``one_line``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

__all__ = ["ConnectorSettings", "HttpsUrl", "https_url", "one_line"]

_HTTPS_URL = re.compile(r"https://[^/\s?#]+(/[^\s?#]*)?")


def https_url(value: str, setting: str | None = None) -> str:
    """``value`` without surrounding white space and trailing slashes; a ``ValueError``
    (naming ``setting`` when given) unless it is an ``https://`` URL."""
    value = value.strip().rstrip("/")
    if not _HTTPS_URL.fullmatch(value):
        named = f"{setting} " if setting else ""
        raise ValueError(f"{named}must be an https:// URL, got {value!r}")
    return value


_GIVEN_ONLY: ContextVar[bool] = ContextVar("fieldbridge_settings_given_only", default=False)
"""True while ``from_variables`` builds settings: then only the values given are read."""

HttpsUrl = Annotated[str, AfterValidator(https_url)]
"""A ``str`` setting that must be an https:// URL (kept without trailing slashes)."""


class ConnectorSettings(BaseSettings):
    """The settings every connector reads: a subclass sets ``model_config`` with its
    ``env_prefix``."""

    model_config = SettingsConfigDict(extra="ignore")

    timeout_s: float = Field(default=30.0, gt=0, le=600)
    ca_bundle: Path | None = Field(
        default=None, description="a CA bundle file or directory; wins over REQUESTS_CA_BUNDLE"
    )
    max_attempts: int = Field(default=5, ge=1, le=20)

    @field_validator("ca_bundle")
    @classmethod
    def _bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.exists():
            prefix = cls.model_config.get("env_prefix", "")
            raise ValueError(f"no CA bundle at {value} ({prefix}CA_BUNDLE)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        if _GIVEN_ONLY.get():
            return (init_settings,)
        return (init_settings, env_settings, dotenv_settings, file_secret_settings)

    @classmethod
    def from_variables(cls, variables: Mapping[str, str], **overrides: Any) -> Self:
        """The settings that ``variables`` (``FIELDBRIDGE_...`` names, as a simulator's
        ``env()`` gives them) hold for this connector, with ``overrides`` on top; the
        process's own environment is not read."""
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        given = {  # names in any case, as pydantic-settings reads the environment
            name[len(prefix) :].lower(): value
            for name, value in variables.items()
            if name.upper().startswith(prefix)
        }
        token = _GIVEN_ONLY.set(True)
        try:
            return cls(**(given | overrides))
        finally:
            _GIVEN_ONLY.reset(token)


def one_line(exc: ValidationError, prefix: str) -> str:
    """A settings error in one line: each problem after the variable it is about (the name
    built from ``prefix``), never the value given."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = "_".join(str(part) for part in error["loc"]).upper()
        lines.append(
            (f"{prefix}{name}: " if name else "") + error["msg"].removeprefix("Value error, ")
        )
    return "; ".join(lines)

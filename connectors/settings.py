"""What every connector's settings share: the transport knobs (``TIMEOUT_S``, ``CA_BUNDLE``,
``MAX_ATTEMPTS``, read with each connector's own ``ENV_PREFIX``) and the check of an https
URL (``HttpsUrl`` as a field's type, ``https_url`` in a validator of its own).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ConnectorSettings", "HttpsUrl", "https_url"]

_HTTPS_URL = re.compile(r"https://[^/\s?#]+(/[^\s?#]*)?")


def https_url(value: str, setting: str | None = None) -> str:
    """``value`` without surrounding white space and trailing slashes; a ``ValueError``
    (naming ``setting`` when given) unless it is an ``https://`` URL."""
    value = value.strip().rstrip("/")
    if not _HTTPS_URL.fullmatch(value):
        named = f"{setting} " if setting else ""
        raise ValueError(f"{named}must be an https:// URL, got {value!r}")
    return value


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

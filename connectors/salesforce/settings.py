"""Salesforce connector settings: environment variables prefixed ``FIELDBRIDGE_SALESFORCE_``.

Exactly one way to a session:

- JWT bearer: ``CLIENT_ID``, ``USERNAME``, ``PRIVATE_KEY_FILE`` (and ``LOGIN_URL``);
- username-password: ``CLIENT_ID``, ``CLIENT_SECRET``, ``USERNAME``, ``PASSWORD`` (with the
  user's security token appended where the org asks for one) and ``LOGIN_URL``;
- a session given as it is: ``INSTANCE_URL`` and ``SESSION_ID`` (no renewal when it expires).

``INSTANCE_URL`` is only read in the third mode: a login answers with the instance to use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from pydantic import Field, FilePath, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from connectors.settings import ConnectorSettings, HttpsUrl

__all__ = ["AuthMode", "SalesforceSettings"]

ENV_PREFIX = "FIELDBRIDGE_SALESFORCE_"
AuthMode = Literal["jwt", "password", "session"]
_MODES = (
    "CLIENT_ID, USERNAME and PRIVATE_KEY_FILE (JWT bearer), "
    "or CLIENT_ID, CLIENT_SECRET, USERNAME and PASSWORD (username-password), "
    "or INSTANCE_URL and SESSION_ID (a session given as it is)"
)


class SalesforceSettings(ConnectorSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    login_url: HttpsUrl = "https://login.salesforce.com"
    client_id: str | None = None
    client_secret: SecretStr | None = None
    username: str | None = None
    private_key_file: FilePath | None = None
    password: SecretStr | None = None
    instance_url: HttpsUrl | None = None
    session_id: SecretStr | None = None
    api_version: str = Field(default="61.0", pattern=r"^\d{2,3}\.0$")
    quota_share: float = Field(
        default=0.5, gt=0, le=1, description="share of the org's daily API allocation to use"
    )
    bulk_threshold: int = Field(
        default=2000,
        ge=0,
        description="a sync reading more changed records than this reads them through Bulk "
        "API 2.0 (a first load of any larger object, say); 0: always",
    )

    @model_validator(mode="after")
    def _one_complete_mode(self) -> SalesforceSettings:
        mode = self.auth_mode
        missing = [name.upper() for name in _REQUIRED[mode] if _blank(getattr(self, name))]
        if missing:
            raise ValueError(
                f"Salesforce {_MODE_NAMES[mode]} needs {', '.join(ENV_PREFIX + m for m in missing)}"
                f" (set one complete combination: {_MODES})"
            )
        if mode == "jwt":
            assert self.private_key_file is not None  # nosec B101  # jwt mode is chosen only when PRIVATE_KEY_FILE is set (checked just above)
            _load_rsa_key(self.private_key_file)
        return self

    @property
    def auth_mode(self) -> AuthMode:
        """Which way to a session these settings name; raises ValueError when none or two."""
        if self.private_key_file is not None and self.password is not None:
            raise ValueError(
                f"set either {ENV_PREFIX}PRIVATE_KEY_FILE (JWT bearer) or "
                f"{ENV_PREFIX}PASSWORD (username-password), not both"
            )
        if self.private_key_file is not None:
            return "jwt"
        if self.password is not None:
            return "password"
        if self.session_id is not None or self.instance_url is not None:
            return "session"
        raise ValueError(f"no Salesforce credentials: set {_MODES}, prefixed {ENV_PREFIX}")

    def private_key_pem(self) -> bytes:
        """The JWT signing key, read afresh (so a rotated key file is picked up)."""
        if self.private_key_file is None:
            raise ValueError(f"{ENV_PREFIX}PRIVATE_KEY_FILE is not set")
        return self.private_key_file.read_bytes()


_REQUIRED: dict[AuthMode, tuple[str, ...]] = {
    "jwt": ("login_url", "client_id", "username", "private_key_file"),
    "password": ("login_url", "client_id", "client_secret", "username", "password"),
    "session": ("instance_url", "session_id"),
}
_MODE_NAMES: dict[AuthMode, str] = {
    "jwt": "JWT bearer login (PRIVATE_KEY_FILE is set)",
    "password": "username-password login (PASSWORD is set)",  # nosec B105  # a login mode's description, not a password
    "session": "a given session (INSTANCE_URL or SESSION_ID is set)",
}


def _blank(value: object) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


def _load_rsa_key(path: Path) -> None:
    try:
        key = load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(
            f"{ENV_PREFIX}PRIVATE_KEY_FILE {path} is not an unencrypted PEM private key"
        ) from exc
    if not isinstance(key, RSAPrivateKey):
        raise ValueError(f"{ENV_PREFIX}PRIVATE_KEY_FILE {path} must hold an RSA key (RS256)")

"""A Salesforce session: from our own OAuth login, or as given in the settings.

simple-salesforce logs in only against ``*.salesforce.com`` hosts, so the connector asks
``LOGIN_URL + /services/oauth2/token`` itself, with the connector's session (its timeout and
CA bundle):

- JWT bearer: an RS256 assertion signed with ``PRIVATE_KEY_FILE`` (``iss`` the client id,
  ``sub`` the username, ``aud`` the login URL, ``exp`` three minutes on);
- username-password: ``grant_type=password`` with client id and secret.

A refused login raises ``AuthExpired`` (credentials refused: invalid_grant, invalid_client,
...) or ``Permanent`` (a malformed request) with the remote's ``error_description``; a
timeout, connection error or 5xx raises ``Retryable``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import jwt
import requests

from connectors.errors import Permanent
from connectors.salesforce.errors import SYSTEM, from_requests, from_token_answer
from connectors.salesforce.settings import SalesforceSettings

__all__ = [
    "ASSERTION_LIFETIME_S",
    "JWT_BEARER_GRANT",
    "TOKEN_PATH",
    "Token",
    "TokenSource",
    "jwt_assertion",
]

log = logging.getLogger("connectors.salesforce.auth")

TOKEN_PATH = "/services/oauth2/token"  # nosec B105  # the OAuth token endpoint's path, not a password
JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 180


@dataclass(frozen=True)
class Token:
    access_token: str = field(repr=False)
    instance_url: str


def jwt_assertion(settings: SalesforceSettings, *, now: float) -> str:
    """The signed JWT bearer assertion for these settings at time ``now`` (epoch seconds)."""
    claims = {
        "iss": settings.client_id,
        "sub": settings.username,
        "aud": settings.login_url,
        "exp": int(now) + ASSERTION_LIFETIME_S,
    }
    return jwt.encode(claims, settings.private_key_pem(), algorithm="RS256")


class TokenSource:
    """Hands out a token: logs in when the settings say how, else the given session."""

    def __init__(
        self,
        settings: SalesforceSettings,
        session: requests.Session,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._session = session
        self._clock = clock

    @property
    def can_renew(self) -> bool:
        """Whether ``fetch`` can get a new token (not with a session given as it is)."""
        return self._settings.auth_mode != "session"

    def fetch(self) -> Token:
        settings = self._settings
        if settings.auth_mode == "session":
            assert settings.instance_url is not None and settings.session_id is not None  # nosec B101  # the settings' validator allows session mode only with both; this narrows the type
            return Token(settings.session_id.get_secret_value(), settings.instance_url)
        form: dict[str, str]
        if settings.auth_mode == "jwt":
            form = {
                "grant_type": JWT_BEARER_GRANT,
                "assertion": jwt_assertion(settings, now=self._clock()),
            }
        else:
            assert (  # nosec B101  # the settings' validator allows password mode only with all four; this narrows the type
                settings.client_id
                and settings.client_secret
                and settings.username
                and settings.password
            )
            form = {
                "grant_type": "password",
                "client_id": settings.client_id,
                "client_secret": settings.client_secret.get_secret_value(),
                "username": settings.username,
                "password": settings.password.get_secret_value(),
            }
        url = settings.login_url + TOKEN_PATH
        try:
            response = self._session.post(url, data=form, headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise from_requests(exc) from exc
        if response.status_code != 200:
            raise from_token_answer(response)
        try:
            body = response.json()
            token = Token(str(body["access_token"]), str(body["instance_url"]).rstrip("/"))
        except (ValueError, KeyError, TypeError) as exc:
            raise Permanent(
                SYSTEM, "the token endpoint answered without access_token and instance_url", 200
            ) from exc
        log.info(
            "salesforce: logged in (%s) as %s at %s",
            settings.auth_mode,
            settings.username,
            token.instance_url,
        )
        return token

"""Bearer tokens: HS256 JWTs signed with the secret key, recorded so they can be revoked.

A token carries its id (``jti``), subject, role and, for a technician, the technician's id.
It is valid while its signature checks, it has not expired, and its row is not revoked.
The API checks the row inside each unit of work it opens for the holder (``ensure_active``),
so a revocation takes effect on the holder's next request at no extra transaction.
"""

from __future__ import annotations

import functools
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import bindparam, select

from orchestrator.domain.errors import InvalidInput, NotFound, Unauthorized, invalid
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork

ALGORITHM = "HS256"
ISSUER = "fieldbridge"


@dataclass(frozen=True)
class IssuedToken:
    id: str
    token: str
    expires_at: datetime


def issue(
    uow: UnitOfWork,
    secret: str,
    *,
    role: str,
    subject: str,
    technician_id: int | None = None,
    ttl_hours: float = 12,
) -> IssuedToken:
    try:
        parsed_role = Role(role)
    except ValueError:
        raise invalid("role", f"one of {', '.join(r.value for r in Role)}") from None
    if not subject.strip():
        raise invalid("subject", "must not be empty")
    if ttl_hours <= 0:
        raise invalid("ttl", "must be positive")
    if parsed_role is Role.TECHNICIAN:
        if technician_id is None:
            raise invalid("technician", "a technician token names the technician's id")
        if uow.session.get(models.Technician, technician_id) is None:
            raise invalid("technician", f"no technician with id {technician_id}")
    elif technician_id is not None:
        raise InvalidInput(
            "only technician tokens name a technician",
            [{"field": "technician", "reason": "only for --role technician"}],
        )
    now = utcnow()
    expires = now + timedelta(hours=ttl_hours)
    token_id = "tok_" + secrets.token_hex(12)
    uow.session.add(
        models.ApiToken(
            id=token_id,
            subject=subject,
            role=parsed_role.value,
            technician_id=technician_id,
            issued_at=now,
            expires_at=expires,
        )
    )
    uow.commit()
    claims: dict[str, Any] = {
        "iss": ISSUER,
        "jti": token_id,
        "sub": subject,
        "role": parsed_role.value,
        "iat": int(now.timestamp()),
        "exp": int(expires.timestamp()),
    }
    if technician_id is not None:
        claims["tid"] = technician_id
    return IssuedToken(token_id, jwt.encode(claims, secret, algorithm=ALGORITHM), expires)


def revoke(uow: UnitOfWork, token_id: str) -> datetime:
    row = uow.session.get(models.ApiToken, token_id)
    if row is None:
        raise NotFound("token", token_id)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        uow.commit()
    return row.revoked_at


def decode(token: str, secret: str) -> dict[str, Any]:
    """Check signature, issuer and expiry; the claims (shared: do not mutate), or ``Unauthorized``.

    A token's signature is verified once per process (clients send the same token on every
    request); its expiry is checked on every call.
    """
    claims = _verified(token, secret)
    if claims["exp"] <= time.time():
        raise Unauthorized("the token has expired")
    return claims


@functools.lru_cache(maxsize=4096)
def _verified(token: str, secret: str) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            issuer=ISSUER,
            options={"require": ["exp", "jti", "sub", "role"]},
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("the token has expired") from None
    except jwt.InvalidTokenError:
        raise Unauthorized("the token is not valid") from None
    return claims


_REVOKED_AT = select(models.ApiToken.revoked_at).where(models.ApiToken.id == bindparam("jti"))


def identify(token: str, secret: str) -> Actor:
    """The token's holder, from its verified claims; whether it is revoked is not known yet."""
    claims = decode(token, secret)
    return Actor(
        subject=claims["sub"],
        role=Role(claims["role"]),
        technician_id=claims.get("tid"),
        token_id=claims["jti"],
    )


def ensure_active(uow: UnitOfWork, actor: Actor) -> None:
    """``Unauthorized`` unless the actor's token is known here and not revoked."""
    revoked = uow.connection().execute(_REVOKED_AT, {"jti": actor.token_id}).first()
    if revoked is None:
        raise Unauthorized("the token is not known here")
    if revoked[0] is not None:
        raise Unauthorized("the token has been revoked")

"""Finance webhook subscriptions: registered by an admin with a URL (http or https; loopback
and private addresses refused unless ``FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE``) and a ``whsec_``
secret (made here when none is given, and shown once); listed without their secrets;
deactivated, after which no new delivery is owed to them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update

from connectors.webhooks import check_url, new_secret
from connectors.webhooks.receiver import signer
from orchestrator.domain.errors import NotFound, invalid
from orchestrator.domain.lifecycle import Actor
from orchestrator.store import models
from orchestrator.store.db import utcnow
from orchestrator.store.uow import UnitOfWork

SUBSCRIPTIONS = models.table_of(models.WebhookSubscription)
_SHOWN = ("id", "url", "description", "active", "created_by", "created_at")


def create(
    uow: UnitOfWork,
    actor: Actor,
    *,
    url: str,
    secret: str | None,
    description: str | None,
    allow_private: bool = False,
) -> dict[str, Any]:
    """Register a subscriber; the answer holds its secret, the only time it is shown.
    ``allow_private``: a loopback or private address may be the subscriber's
    (``FIELDBRIDGE_WEBHOOK_ALLOW_PRIVATE``, as the composition root read it)."""
    try:
        url = check_url(url, allow_private=allow_private)
    except ValueError as exc:
        raise invalid("url", str(exc)) from None
    if secret is None:
        secret = new_secret()
    else:
        try:
            signer(secret)
        except ValueError as exc:
            raise invalid("secret", f"{exc} (a whsec_ secret: base64 after the prefix)") from None
    now = utcnow()
    values = {"url": url, "secret": secret, "description": description, "active": True,
              "created_by": actor.subject, "created_at": now}  # fmt: skip
    ident = (
        uow.connection()
        .execute(insert(SUBSCRIPTIONS).values(values).returning(SUBSCRIPTIONS.c.id))
        .scalar_one()
    )
    out = {"id": ident, **{k: values[k] for k in _SHOWN if k != "id"}, "secret": secret}
    uow.commit()
    return out


def listing(uow: UnitOfWork) -> list[dict[str, Any]]:
    columns = SUBSCRIPTIONS.c
    rows = uow.connection().execute(
        select(*(getattr(columns, n) for n in _SHOWN)).order_by(columns.id)
    )
    return [dict(r._mapping) for r in rows]


def deactivate(uow: UnitOfWork, ident: int) -> None:
    done = uow.connection().execute(
        update(SUBSCRIPTIONS).where(SUBSCRIPTIONS.c.id == ident).values(active=False)
    )
    if done.rowcount != 1:
        raise NotFound("webhook subscription", ident)
    uow.commit()

"""The write-back's outbox (counts, dead letters, a retry) and the finance webhook
subscriptions the billing triggers go to."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Response, status

from api.deps import AppContainer, PathId, Uow, allow
from api.schemas import (
    OutboxRow,
    OutboxStatus,
    WebhookSubscriptionCreated,
    WebhookSubscriptionIn,
    WebhookSubscriptionPublic,
)
from orchestrator.domain.lifecycle import Actor, Role
from orchestrator.outbox import admin, subscriptions

router = APIRouter(prefix="/outbox", tags=["outbox"])
hooks = APIRouter(prefix="/webhook-subscriptions", tags=["outbox"])
routers = [router, hooks]

Reader = Annotated[Actor, allow((Role.ADMIN, Role.SUPERVISOR, Role.INTEGRATION), "read the outbox")]
Admin = Annotated[Actor, allow((Role.ADMIN,), "change the outbox or its subscriptions")]


@router.get("", response_model=OutboxStatus)
async def status_(uow: Uow, _: Reader) -> Any:
    """Rows by state and by destination, the age of the oldest pending row, and the newest
    dead letters with the remote's last answer."""
    return await uow.run(admin.status)


@router.post("/{ident}/retry", response_model=OutboxRow)
async def retry(ident: PathId, uow: Uow, _: Admin) -> Any:
    """Make a dead (or waiting) row due now, its attempts counted afresh; the relay sends it
    on its next round. A delivered row is left as it is."""
    return await uow.run(admin.retry, ident)


@hooks.post("", response_model=WebhookSubscriptionCreated, status_code=status.HTTP_201_CREATED)
async def subscribe(
    body: WebhookSubscriptionIn, uow: Uow, actor: Admin, container: AppContainer
) -> Any:
    """Register a finance subscriber. Each order closed from now on owes it one signed
    ``finance.billing_trigger`` delivery (Standard Webhooks). The secret is shown once."""
    return await uow.run(
        subscriptions.create,
        actor,
        url=body.url,
        secret=body.secret,
        description=body.description,
        allow_private=container.webhooks_allow_private,
    )


@hooks.get("", response_model=list[WebhookSubscriptionPublic])
async def subscribers(uow: Uow, _: Admin) -> Any:
    """Every subscription, without its secret."""
    return await uow.run(subscriptions.listing)


@hooks.delete("/{ident}", status_code=status.HTTP_204_NO_CONTENT)
async def unsubscribe(ident: PathId, uow: Uow, _: Admin) -> Response:
    """Deactivate a subscription: no new delivery is owed to it (ones owed already that have
    not gone out become dead letters saying so)."""
    await uow.run(subscriptions.deactivate, ident)
    return Response(status_code=status.HTTP_204_NO_CONTENT)

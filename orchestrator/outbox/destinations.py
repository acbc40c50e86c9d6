"""The remotes the relay delivers to, each formatting the outbox's facts for its remote and
batching as the remote allows; every refusal is an ``Outcome`` in the connectors' vocabulary
(``Permanent`` for a dead letter), never an exception for one row.

- ``SalesforceJobs``: ``crm.work_order_completed`` as WorkOrder upserts by external id (an
  order raised in Salesforce: an update by its record id), in sObject Collections of 200,
  then its parts as ProductConsumed upserts.
- ``SAPBilling``: ``erp.billing_request`` as one ManageCustomerInvoiceRequestIn message per
  trigger, its ``BusinessDocumentBasicMessageHeader/UUID`` the row's derived UUID, the work
  order's tracking code its own reference (so a lost answer can be looked up).
- ``FinanceWebhooks``: ``finance.billing_trigger`` as a Standard Webhooks delivery to its
  subscription (the URL and secret it has now), the row's key as the ``webhook-id``.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Generic, TypeVar

from pydantic import ValidationError
from sqlalchemy import select

from connectors.base import Connector
from connectors.errors import Permanent
from connectors.salesforce import SalesforceConnector
from connectors.sap import BillingItem, BillingRequest, SAPConnector
from connectors.webhooks import WebhookConnector
from mappings.canonical import CompletedJob
from mappings.errors import MappingError
from mappings.salesforce import SalesforceMapping
from mappings.salesforce.outbound import (
    Upsert,
    products_consumed_to_salesforce,
    work_order_to_salesforce,
)
from orchestrator import models
from orchestrator.outbox.relay import Message, Outcome
from orchestrator.uow import UnitOfWork

_SUBSCRIPTIONS = models.table_of(models.WebhookSubscription)

__all__ = ["FinanceWebhooks", "SAPBilling", "SalesforceJobs"]


C = TypeVar("C", bound=Connector[Any])


class _Each(Generic[C]):
    """One call per message, ``workers`` at a time (different orders in parallel: a batch
    holds at most one row per order and destination), each worker thread with a connector
    of its own (connectors are not thread-safe): ``connect`` makes them, or the one
    connector given serves one worker."""

    def __init__(self, connect: C | Callable[[], C], workers: int) -> None:
        if isinstance(connect, Connector):
            one = connect
            self.connect: Callable[[], C] = lambda: one
            workers = 1
        else:
            self.connect = connect
        self.workers = max(1, workers)
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None

    def connector(self) -> C:
        found: C | None = getattr(self._local, "connector", None)
        if found is None:
            found = self._local.connector = self.connect()
        return found

    def map(
        self, send: Callable[[C, Message], Outcome], messages: Sequence[Message]
    ) -> list[Outcome]:
        if self.workers == 1 or len(messages) < 2:
            return [send(self.connector(), m) for m in messages]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="outbox")
        return list(self._pool.map(lambda m: send(self.connector(), m), messages))


def _failed(exc: Exception, system: str) -> Outcome:
    """A refusal of ours (a request that cannot be made) is permanent; the connectors'
    vocabulary says for itself whether to try again."""
    if isinstance(exc, ValueError | KeyError):
        return Outcome(error=Permanent(system, str(exc)))
    return Outcome(error=exc)


class SAPBilling:
    """Billing requests into SAP, one message per trigger: the labour as hours of
    ``labour_product`` (SAP's service product), the buyer the order's SAP customer.
    ``sap`` is a connector, or a factory of them for ``workers`` threads."""

    def __init__(
        self,
        sap: SAPConnector | Callable[[], SAPConnector],
        *,
        workers: int = 1,
        labour_product: str = "S-FIELD-LABOUR",
        currency: str | None = None,
    ) -> None:
        self.each = _Each(sap, workers)
        self.labour_product, self.currency = labour_product, currency

    def request(self, message: Message) -> BillingRequest:
        p = message.payload
        customer = p.get("customer") or {}
        if customer.get("source_system") != "sap" or not customer.get("external_id"):
            where = f"{customer.get('source_system')}:{customer.get('external_id')}"
            raise Permanent(
                "sap",
                f"work order {p.get('tracking_code')}: its customer ({where}) is not an SAP "
                "customer, so SAP has no buyer to bill",
            )
        hours = (Decimal(max(int(p.get("labour_minutes") or 0), 1)) / 60).quantize(
            Decimal("0.01"), ROUND_HALF_UP
        )
        return BillingRequest(
            message_uuid=str(p["message_uuid"]),
            document_id=str(p["tracking_code"]),
            buyer_id=str(customer["external_id"]),
            name=str(p.get("summary") or p["tracking_code"])[:255],
            items=(BillingItem(self.labour_product, "Field service labour", hours, "HUR"),),
            currency=self.currency,
        )

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        return self.each.map(self._send, messages)

    def _send(self, sap: SAPConnector, message: Message) -> Outcome:
        try:
            result = sap.request_billing(self.request(message))
        except Exception as exc:  # the connectors' vocabulary: retried or dead by kind
            return _failed(exc, "sap")
        return Outcome(remote_id=result.uuid)


class SalesforceJobs:
    """Completed jobs into Salesforce: the WorkOrders in sObject Collections (200 a call),
    by external id or, for an order raised in Salesforce, by record id; then the parts of the
    jobs whose WorkOrder landed. ``workorder_calls`` and ``part_calls`` count the calls."""

    def __init__(self, sf: SalesforceConnector, mapping: SalesforceMapping) -> None:
        self.sf, self.mapping = sf, mapping
        self.workorder_calls = 0
        self.part_calls = 0

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(messages)
        jobs: dict[int, tuple[CompletedJob, Upsert]] = {}
        for n, message in enumerate(messages):
            try:
                job = CompletedJob.model_validate(message.payload)
                jobs[n] = (job, work_order_to_salesforce(self.mapping, job))
            except (ValidationError, MappingError) as exc:
                outcomes[n] = Outcome(error=Permanent("salesforce", f"{message.key}: {exc}"))
        by_key: dict[str, list[int]] = {}
        for n, (_, upsert) in jobs.items():
            by_key.setdefault(upsert.key_field, []).append(n)
        for key_field, indexes in by_key.items():
            self._write(messages, outcomes, indexes, key_field, jobs)
        parts = [
            (n, upsert)
            for n, (job, _) in jobs.items()
            if (done := outcomes[n]) is not None and done.delivered
            for upsert in products_consumed_to_salesforce(self.mapping, job)
        ]
        if parts:
            self._parts(outcomes, parts)
        return [o if o is not None else Outcome(error=RuntimeError("not sent")) for o in outcomes]

    def _write(
        self,
        messages: Sequence[Message],
        outcomes: list[Outcome | None],
        indexes: list[int],
        key_field: str,
        jobs: dict[int, tuple[CompletedJob, Upsert]],
    ) -> None:
        sobject = self.mapping.work_order.sobject
        records = [dict(jobs[n][1].record) for n in indexes]
        before = self.sf.api_calls
        try:
            if key_field == "Id":
                results = self.sf.update_many(sobject, records)
            else:
                results = self.sf.upsert_many(sobject, key_field, records)
        except Exception as exc:  # the whole call failed after its retries
            for n in indexes:
                outcomes[n] = Outcome(error=exc)
            return
        finally:
            self.workorder_calls += self.sf.api_calls - before
        for n, result in zip(indexes, results, strict=True):
            if result.success:
                outcomes[n] = Outcome(remote_id=result.id)
            else:
                error = result.error or Permanent("salesforce", f"{messages[n].key} refused")
                outcomes[n] = Outcome(error=error)

    def _parts(self, outcomes: list[Outcome | None], parts: list[tuple[int, Upsert]]) -> None:
        p = self.mapping.product_consumed
        before = self.sf.api_calls
        try:
            results = self.sf.upsert_many(
                p.sobject, p.external_id_field, [dict(u.record) for _, u in parts]
            )
        except Exception as exc:
            results = None
            failure: Any = exc
        finally:
            self.part_calls += self.sf.api_calls - before
        for i, (n, _) in enumerate(parts):
            if results is None:
                outcomes[n] = Outcome(error=failure)
            elif not results[i].success:
                outcomes[n] = Outcome(
                    error=results[i].error or Permanent("salesforce", "part refused")
                )


class FinanceWebhooks:
    """Billing triggers to finance subscribers, each signed with its subscription's secret;
    a subscription removed since the order closed makes a dead letter that says so."""

    def __init__(
        self,
        webhooks: WebhookConnector | Callable[[], WebhookConnector],
        uow: Callable[[], UnitOfWork],
        *,
        workers: int = 1,
    ) -> None:
        self.each, self.uow = _Each(webhooks, workers), uow

    def deliver(self, messages: Sequence[Message]) -> list[Outcome]:
        wanted = {m.payload.get("subscription_id") for m in messages}
        with self.uow() as uow:
            found = uow.connection().execute(
                select(_SUBSCRIPTIONS.c.id, _SUBSCRIPTIONS.c.url, _SUBSCRIPTIONS.c.secret).where(
                    _SUBSCRIPTIONS.c.id.in_([w for w in wanted if isinstance(w, int)])
                    & _SUBSCRIPTIONS.c.active
                )
            )
            subscriptions = {row.id: row for row in found}

        def send(webhooks: WebhookConnector, message: Message) -> Outcome:
            subscription = subscriptions.get(message.payload.get("subscription_id"))
            if subscription is None:
                why = f"subscription {message.payload.get('subscription_id')} is no longer active"
                return Outcome(error=Permanent("webhooks", why))
            try:
                result = webhooks.deliver(
                    subscription.url, subscription.secret, message.key, message.payload
                )
            except Exception as exc:  # the connectors' vocabulary: retried or dead by kind
                return _failed(exc, "webhooks")
            return Outcome(remote_id=str(result.status))

        return self.each.map(send, messages)
